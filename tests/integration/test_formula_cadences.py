"""
The jobs that pillar puts on a cadence of their own, through a real master
and minion, by both methods (a root cron job, Salt's scheduler): the sweep
(verify:sweep_hours, once a day by default), which alone hears a second
machine claiming an address behind a working entry, and the repeated
announcement (announce:every_minutes, off by default). Each is installed as
test mode said, runs, and goes with arp_hygiene.clean.
"""

import json
import re
import time

import pytest

from tests.support.lab import NEW_MAC, OLD_MAC, WORKER_IP
from tests.support.master import DB, by_id, cron_hour, cron_minute, highstate, job_lines, run_as_cron, scheduled

SWEEP_JOB, ANNOUNCE_EVERY_JOB = "arp_hygiene-sweep", "arp_hygiene-announce-every"
CLAIMED = "192.0.2.40"
FIRST, SECOND = "02:00:00:00:40:01", "02:00:00:00:40:02"


def wait_for(condition, seconds=30, step=0.2):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(step)
    return condition()


def conflicts(metrics_file):
    """The conflict count per interface in a sweep's metrics file, or None before it is written."""
    try:
        with open(metrics_file, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return None
    found = re.findall(r'arp_hygiene_last_run_entries\{[^}]*outcome="conflict"[^}]*\} (\d+)', text)
    return sum(int(count) for count in found)


@pytest.mark.parametrize("method", ["cron", "salt"])
def test_the_sweep_job_reports_a_second_owner_behind_a_working_entry(
    salt_cli, pillar, clean, segment, tmp_path, method
):
    segment, db, _ = segment
    # CLAIMED is cached on FIRST, which answers; SECOND claims it too.
    for number, (mac, delay) in enumerate(((FIRST, 0), (SECOND, 0.3)), start=1):
        host = segment.host(f"claim{number}", f"192.0.2.{40 + number}", mac)
        segment.responder(host, CLAIMED, mac, delay)
    db.ip("neigh", "replace", CLAIMED, "dev", "eth0", "lladdr", FIRST, "nud", "stale")
    metrics = tmp_path / "metrics"
    sweep_report = tmp_path / "sweep.json"
    pillar.set(
        {
            "method": method,
            "flush": {"netns": db.name, "network": f"{CLAIMED}/32"},
            "verify": {
                "sweep_hours": 6,
                "report_file": str(tmp_path / "verify.json"),
                "sweep_report_file": str(sweep_report),
            },
            "report_file": str(tmp_path / "flush.json"),
            "metrics": {"textfile_dir": str(metrics)},
        }
    )
    metrics.mkdir()

    ret = highstate(salt_cli, DB)

    # At the highstate verify asks the cached MAC alone: it answers, nothing else is asked.
    verified = by_id(ret)["arp_hygiene-enforce-arp-verified"]
    assert verified["result"] is True and verified["changes"] == {}, verified
    if method == "cron":
        comment, line = job_lines(SWEEP_JOB)
        assert comment.endswith(
            f"sweeps neighbour entries (asks the segment about each) SALT_CRON_IDENTIFIER:{SWEEP_JOB}"
        )
        minute, hour = cron_hour(DB, 6)
        assert line.startswith(f"{minute} {hour} * * * ") and " arp.verify " in line and "sweep=true" in line, line
        result = run_as_cron(line)
        assert result.returncode == 0 and result.stderr == "", result
        swept = json.loads(sweep_report.read_text())["local"]
    else:
        assert job_lines(SWEEP_JOB) == []
        job = scheduled(salt_cli, DB)[SWEEP_JOB]
        assert job["function"] == "arp.verify" and job["hours"] == 6 and job["splay"] == 6 * 1800, job
        assert job["kwargs"]["sweep"] is True and job["kwargs"]["fix"] is True, job
        ran = salt_cli.run("schedule.run_job", SWEEP_JOB, minion_tgt=DB)
        assert ran.returncode == 0, ran
        swept = None
    assert wait_for(lambda: conflicts(metrics / "arp_hygiene_sweep.prom") == 1), metrics / "arp_hygiene_sweep.prom"
    if swept is not None:
        conflict = swept["conflict"]["eth0"][CLAIMED]
        assert conflict["cached"] == FIRST and sorted(conflict["answered"]) == [FIRST, SECOND], swept
    assert segment.neighbour(db, CLAIMED)["lladdr"] == FIRST, "a conflict is reported, never repaired"
    # The plain verify's metrics are its own: a sweep does not overwrite them.
    assert conflicts(metrics / "arp_hygiene_verify.prom") == 0

    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret
    assert job_lines(SWEEP_JOB) == [] and SWEEP_JOB not in scheduled(salt_cli, DB)
    assert not (metrics / "arp_hygiene_sweep.prom").exists() and not sweep_report.exists()


# By cron, the default method (the scheduler's job is the sweep's macro, tested above by both methods).
@pytest.mark.parametrize("method", ["cron"])
def test_the_repeated_announcement_tells_the_segment_on_its_cadence(salt_cli, pillar, clean, segment, method):
    segment, db, worker = segment
    pillar.set({"method": method, "announce": {"netns": worker.name, "every_minutes": 7, "at_boot": False}})

    highstate(salt_cli, DB, sls="arp_hygiene.announce")

    # The database learned NEW_MAC from the highstate's announcement; it is wrong again, and the job mends it.
    db.ip("neigh", "replace", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "reachable")
    if method == "cron":
        comment, line = job_lines(ANNOUNCE_EVERY_JOB)
        assert comment.endswith(f"announces this host's MACs every 7 minutes SALT_CRON_IDENTIFIER:{ANNOUNCE_EVERY_JOB}")
        assert line.startswith(f"{cron_minute(DB, 7)} * * * * ") and " arp.announce " in line, line
        result = run_as_cron(line)
        assert result.returncode == 0 and result.stderr == "", result
    else:
        assert job_lines(ANNOUNCE_EVERY_JOB) == []
        job = scheduled(salt_cli, DB)[ANNOUNCE_EVERY_JOB]
        assert job["function"] == "arp.announce" and job["minutes"] == 7 and job["splay"] == 7 * 30, job
        ran = salt_cli.run("schedule.run_job", ANNOUNCE_EVERY_JOB, minion_tgt=DB)
        assert ran.returncode == 0, ran
    assert wait_for(lambda: segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC), segment.neighbour(db, WORKER_IP)

    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret
    assert job_lines(ANNOUNCE_EVERY_JOB) == [] and ANNOUNCE_EVERY_JOB not in scheduled(salt_cli, DB)
