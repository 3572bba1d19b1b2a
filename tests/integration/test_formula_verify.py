"""The formula's verification job and arp_hygiene.announce, through a real master and minion, on a lab segment."""

import json
import time

from tests.support import master
from tests.support.lab import NEW_MAC, OLD_MAC, WORKER_IP, WORKER_IP6
from tests.support.master import DB, changed, cron_minute, highstate, job_lines

VERIFY_JOB, ANNOUNCE_JOB = "arp_hygiene-verify", "arp_hygiene-announce"


def run_as_cron(line):
    result = master.run_as_cron(line)
    assert result.returncode == 0 and result.stderr == "", result
    return result


def test_verify_enabled_repairs_at_highstate_and_from_its_cron_job(salt_cli, pillar, clean, segment, tmp_path):
    segment, db, _ = segment
    db.ip("neigh", "replace", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "reachable")
    verified = tmp_path / "verify.json"
    settings = {
        "method": "cron",
        "report_file": str(tmp_path / "flush.json"),
        "flush": {"netns": db.name},
        "verify": {"enabled": True, "report_file": str(verified)},
    }
    pillar.set(settings)

    ret = highstate(salt_cli, DB)

    # enforce: the highstate's arp.verified replaced the wrong MAC.
    assert changed(ret)["arp_hygiene-enforce-arp-verified"]["replaced"] == {
        "eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}
    }
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    comment, job = job_lines(VERIFY_JOB)
    assert (
        comment
        == f"# arp-hygiene (Salt formula arp_hygiene) verifies neighbour entries SALT_CRON_IDENTIFIER:{VERIFY_JOB}"
    )
    assert job.startswith(f"{cron_minute(DB, 5)} * * * * ") and " arp.verify " in job and "fix=true" in job
    assert job_lines(), "the flush job stays"

    # The cron line, in cron's bare environment, on a fresh black hole.
    db.ip("neigh", "replace", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "reachable")
    assert not segment.reach(db, WORKER_IP)
    run_as_cron(job)
    assert json.loads(verified.read_text())["local"]["replaced"] == {
        "eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}
    }
    assert segment.reach(db, WORKER_IP)

    # Disabled again: the job goes, the flush job stays.
    pillar.set(settings | {"verify": {"enabled": False}})
    highstate(salt_cli, DB)
    assert job_lines(VERIFY_JOB) == [] and job_lines()


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


def test_arp_notify_is_planned_with_test_true(salt_cli, pillar, clean):
    # Only test=True: the tests never change the host's own sysctls.
    pillar.set({"announce": {"arp_notify": True, "at_boot": False, "interfaces": ["arph-none0"]}})

    ret = salt_cli.run("state.show_sls", "arp_hygiene.announce", minion_tgt=DB)
    assert ret.returncode == 0, ret
    planned = {key: state["sysctl"] for key, state in ret.data.items() if key.startswith("arp_hygiene-announce-sysctl")}
    names = sorted(
        next(arg["name"] for arg in args if isinstance(arg, dict) and "name" in arg) for args in planned.values()
    )
    assert names == ["net.ipv4.conf.all.arp_notify", "net.ipv4.conf.default.arp_notify"]


def wait_for(condition, seconds=5):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()
