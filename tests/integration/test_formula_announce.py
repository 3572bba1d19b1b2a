"""arp_hygiene.announce through a real master and minion, on a lab segment."""

import time

from tests.support import master
from tests.support.lab import NEW_MAC, OLD_MAC, WORKER_IP, WORKER_IP6
from tests.support.master import DB, changed, job_lines

ANNOUNCE_JOB = "arp_hygiene-announce"


def run_as_cron(line):
    result = master.run_as_cron(line)
    assert result.returncode == 0 and result.stderr == "", result
    return result


def test_announce_tells_the_segment_and_installs_a_boot_job(salt_cli, pillar, clean, segment):
    segment, db, worker = segment
    db.ip("neigh", "replace", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "reachable")
    db.ip("neigh", "replace", WORKER_IP6, "dev", "eth0", "lladdr", OLD_MAC, "nud", "stale")
    pillar.set({"announce": {"netns": worker.name}})

    ret = salt_cli.run("state.apply", "arp_hygiene.announce", minion_tgt=DB)

    assert ret.returncode == 0, ret
    # Frames change nothing on the minion: what was sent is in the comment, no change is reported.
    (announce,) = [state for key, state in ret.data.items() if "_|-arp_hygiene-announce-arp-announced_|-" in key]
    assert announce["result"] is True and announce["changes"] == {}, announce
    assert announce["comment"].startswith("Announced ") and " on eth0" in announce["comment"], announce
    assert WORKER_IP in announce["comment"] and WORKER_IP6 in announce["comment"], announce
    assert "arp_hygiene-announce-arp-announced" not in changed(ret)
    wait_for(
        lambda: segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC == segment.neighbour(db, WORKER_IP6)["lladdr"]
    )
    comment, job = job_lines(ANNOUNCE_JOB)
    assert comment.endswith(f"announces this host's MACs at boot SALT_CRON_IDENTIFIER:{ANNOUNCE_JOB}")
    assert job.startswith("@reboot ") and " arp.announce " in job

    # The boot job's command, in cron's bare environment.
    db.ip("neigh", "replace", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "stale")
    run_as_cron(job)
    wait_for(lambda: segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC)

    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret
    assert job_lines(ANNOUNCE_JOB) == []


def wait_for(condition, seconds=5):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()
