"""
Green means working: what the formula installs runs. A minion that has never
seen the modules gets them synced by `state.apply arp_hygiene`; test mode
says what the live run then does; a job that would fail on every run fails
the highstate instead, naming the cause; a failing run is seen (a report
that says so, one line of error, the system log, the exit status); the cron
daemon runs; clean removes what the formula wrote and nothing else.
"""

import ast
import json
import os
import re
import socket
import threading
import time

import pytest
import salt.utils.event

from tests.support import REPO, lab, unavailable
from tests.support.master import (
    DB,
    FRESH,
    JOB,
    NO_VERIFY,
    STALE_FLUSH_ONLY,
    by_id,
    changed,
    failed,
    job_lines,
    run_as_cron,
    scheduled,
)
from tests.support.tables import every_state, keys, matches, snapshot, without_collected

ENFORCE = "arp_hygiene-enforce-arp-no_stale"
CHECK = "arp_hygiene-cron-cmd-run-check-"


def apply(salt_cli, minion, sls="arp_hygiene", *args):
    return salt_cli.run("state.apply", sls, *args, minion_tgt=minion)


def stale(before):
    return {key for key, value in before.items() if matches(key, value, family="all")}


def test_a_fresh_minion_gets_the_modules_synced_and_test_mode_says_what_the_live_run_does(
    salt_cli, pillar, clean, fresh_minion, table, tmp_path
):
    ns, before = table
    report = tmp_path / "report.json"
    pillar.set(
        {
            "report_file": str(report),
            "flush": STALE_FLUSH_ONLY | {"family": "all", "netns": ns.name},
            "verify": NO_VERIFY,
        },
        minion=FRESH,
    )

    # A dry run on a minion that has never had the modules: no failure, and
    # the states that need them say that the live run syncs them first.
    dry = apply(salt_cli, FRESH, "arp_hygiene", "test=True")
    assert dry.returncode == 0 and not failed(dry), failed(dry)
    assert by_id(dry)[ENFORCE]["result"] is None
    assert "once the arp module is synced" in by_id(dry)[ENFORCE]["comment"]
    assert salt_cli.run("sys.list_functions", "arp.*", minion_tgt=FRESH).data == []
    assert (after := snapshot(ns)) == without_collected(before, after) and job_lines() == []

    # The live run (state.apply, not a highstate): synced, then flushed.
    live = apply(salt_cli, FRESH)
    assert live.returncode == 0 and not failed(live), failed(live)
    assert (
        changed(live)["arp_hygiene-sync-saltutil-sync_modules"]
        and changed(live)["arp_hygiene-sync-saltutil-sync_states"]
        and changed(live)["arp_hygiene-sync-saltutil-sync_grains"]
    )
    assert keys(changed(live)[ENFORCE]["deleted"]) == stale(before)
    assert by_id(live)[CHECK + JOB]["comment"] == f"{JOB}: its command runs (tried in test mode)"

    # Now test mode predicts the flush exactly, and the live run does it.
    lab.add_entries(ns, every_state())
    again = snapshot(ns)
    dry = apply(salt_cli, FRESH, "arp_hygiene", "test=True")
    assert not failed(dry), failed(dry)
    live = apply(salt_cli, FRESH)
    assert not failed(live), failed(live)
    for state_id, ret in by_id(live).items():
        assert (by_id(dry)[state_id]["result"] is None) == bool(ret["changes"]), (state_id, by_id(dry)[state_id], ret)
    assert keys(by_id(dry)[ENFORCE]["changes"]["deleted"]) == keys(changed(live)[ENFORCE]["deleted"]) == stale(again)

    # The cron job of a minion whose Python lacks the package runs, with the synced modules.
    lab.add_entries(ns, every_state())
    again = snapshot(ns)
    (python,) = [word for word in job_lines()[1].split() if word.endswith("/bin/python")][:1]
    assert "/fresh" in python, job_lines()[1]
    result = run_as_cron(job_lines()[1])
    assert result.returncode == 0 and result.stderr == "", result
    assert keys(json.loads(report.read_text())["local"]["deleted"]) == stale(again)


@pytest.mark.parametrize(
    "problem",
    ["missing namespace", "missing interface", "wrong salt_call", "scheduler"],
)
def test_a_job_that_would_fail_on_every_run_fails_the_highstate_naming_the_cause(
    salt_cli, pillar, clean, table, tmp_path, problem
):
    ns, before = table
    settings = {
        "enforce": False,
        "report_file": str(tmp_path / "r.json"),
        "flush": STALE_FLUSH_ONLY | {"family": "all", "netns": ns.name},
        "verify": NO_VERIFY,
    }
    check, cause = CHECK + JOB, None
    if problem == "missing namespace":
        settings["flush"]["netns"] = missing = f"{lab.PREFIX}missing-{os.getpid()}"
        cause = f"network namespace '{missing}' does not exist"
    elif problem == "missing interface":
        settings["flush"]["interfaces"] = ["a0", "eth7"]
        cause = "no interface named 'eth7'"
    elif problem == "wrong salt_call":
        settings["salt_call"] = "/usr/local/bin/no-salt-call-here"
        cause = "cannot run /usr/local/bin/no-salt-call-here"
    else:
        settings["method"] = "salt"
        settings["flush"]["netns"] = missing = f"{lab.PREFIX}missing-{os.getpid()}"
        check, cause = f"arp_hygiene-schedule-arp-job_works-{JOB}", f"network namespace '{missing}' does not exist"
    pillar.set(settings)

    ret = apply(salt_cli, DB)

    assert ret.returncode != 0
    comment = failed(ret)[check]
    assert "would fail on every run: " in comment and cause in comment, comment
    assert "\n" not in comment.strip(), "one line, not a docstring"
    assert job_lines() == []
    assert (after := snapshot(ns)) == without_collected(before, after)


@pytest.fixture
def syslog():
    """
    Lines sent to the system log (/dev/log) while the test runs: a listener
    that the test puts there, on a host where no syslog daemon has it.
    """
    path = "/dev/log"
    if os.path.exists(path):
        unavailable(f"{path} exists (a syslog daemon): the test needs to listen there itself")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    lines = []

    def receive():
        while True:
            data = listener.recv(65536)
            if not data:
                return
            lines.append(data.decode(errors="replace"))

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        listener.close()
        os.unlink(path)


def test_the_formula_needs_a_running_cron_and_a_failing_run_is_seen(
    salt_cli, pillar, clean, netlab, tmp_path, syslog, cron_daemon
):
    # A namespace that goes away after the highstate: every run then fails.
    ns = lab.table(netlab)
    report = tmp_path / "report.json"
    textfile = tmp_path / "textfile"  # node_exporter's textfile collector directory
    textfile.mkdir()
    metrics = textfile / "arp_hygiene_flush.prom"
    pillar.set(
        {
            "cron_service": True,
            "interval_minutes": 1,
            "report_file": str(report),
            "flush": STALE_FLUSH_ONLY | {"netns": ns.name},
            "verify": NO_VERIFY,
            "metrics": {"textfile_dir": str(textfile)},
        }
    )

    # No cron daemon runs (Salt's service state cannot start one here: systemd
    # is installed but not running): the highstate says so instead of passing.
    ret = apply(salt_cli, DB)
    assert ret.returncode != 0
    assert failed(ret)["arp_hygiene-crond-test-daemon-running"].startswith("No cron process runs on this minion")

    cron_daemon()
    ret = apply(salt_cli, DB)
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    # The job's line in cron's bare environment writes its metrics: a success.
    metrics.unlink()  # the highstate's own flush (enforce) wrote them too
    assert run_as_cron(job_lines()[1]).returncode == 0
    assert 'arp_hygiene_last_run_success{task="flush"} 1\n' in metrics.read_text()
    report.write_text('{"local": {"deleted": {}, "vanished": {}}}\n')  # a last good report
    ns.delete()

    # Its next run, as cron runs it (test_formula_cron.py waits for the real
    # daemon to fire a job): one line on stderr for cron's mail, exit status 1.
    result = run_as_cron(job_lines()[1])

    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"arp-hygiene: {JOB} failed"), result.stderr
    # The runner's line in the system log (tag arp-hygiene[pid]).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("arp-hygiene[" in line for line in syslog):
        time.sleep(0.1)
    logged = next(line for line in syslog if "arp-hygiene[" in line)
    assert f"{JOB} failed (exit status 1): " in logged and f"network namespace '{ns.name}' does not exist" in logged
    written = json.loads(report.read_text())
    assert written["result"] is False and written["job"] == JOB and ns.name in written["error"]
    assert 'arp_hygiene_last_run_success{task="flush"} 0\n' in metrics.read_text()


def test_clean_removes_what_the_formula_wrote_and_nothing_else(salt_cli, pillar, clean, table, tmp_path):
    ns, _ = table
    kept = tmp_path / "kept"  # a directory the formula did not make
    kept.mkdir()
    first, second = kept / "first.json", kept / "made" / "deeper" / "second.json"
    unrelated = [kept / "unrelated", "/usr/local/sbin/arp-hygiene-unrelated", "/var/lib/arp-hygiene-unrelated"]
    for path in unrelated:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("not the formula's\n")
    try:
        for report in (first, second):  # pillar changes the report path: both are the formula's
            settings = {"report_file": str(report), "flush": STALE_FLUSH_ONLY | {"netns": ns.name}, "verify": NO_VERIFY}
            pillar.set(settings)
            ret = apply(salt_cli, DB)
            assert ret.returncode == 0 and not failed(ret), failed(ret)
            assert run_as_cron(job_lines()[1]).returncode == 0
        assert first.exists() and second.exists() and os.path.exists("/usr/local/sbin/arp-hygiene-job")
        # Someone else's file in a directory the formula made: that directory stays.
        (kept / "made" / "someone-else").write_text("kept\n")

        ret = apply(salt_cli, DB, "arp_hygiene.clean")

        assert ret.returncode == 0 and not failed(ret), failed(ret)
        assert not first.exists() and not second.exists() and not (kept / "made" / "deeper").exists()
        assert (kept / "made" / "someone-else").exists()
        assert not os.path.exists("/usr/local/sbin/arp-hygiene-job") and not os.path.exists("/var/lib/arp-hygiene")
        assert all(os.path.exists(path) for path in unrelated), "clean removed a file it did not write"
        assert job_lines() == []
    finally:
        for path in unrelated[1:]:
            os.unlink(path)


def test_the_boot_job_waits_for_the_network_then_fails_visibly(salt_cli, pillar, clean, netlab):
    # A worker whose only interface is down, as at boot before the network is configured.
    worker = netlab.namespace("boot")
    worker.batch(["link add eth0 type veth peer name eth1", "addr add 192.0.2.9/24 dev eth0"])
    worker.batch(["link set eth1 up", "link set eth0 up"])
    # IPv4 only: eth1, up, has an IPv6 link-local address to announce.
    pillar.set(
        {"method": "none", "enforce": False, "announce": {"netns": worker.name, "family": "inet", "boot_wait": 3}}
    )
    ret = apply(salt_cli, DB, "arp_hygiene.announce")
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    (job,) = job_lines("arp_hygiene-announce")[1:]
    worker.ip("link", "set", "eth0", "down")

    started = time.monotonic()
    result = run_as_cron(job)
    waited = time.monotonic() - started

    assert result.returncode == 1 and waited >= 3, (result, waited)
    assert result.stderr.count("\n") == 1 and "nothing to announce after 3 s" in result.stderr, result.stderr

    # Once the interface is up with its address, the same job announces at once.
    worker.ip("link", "set", "eth0", "up")
    result = run_as_cron(job)
    assert result.returncode == 0 and result.stderr == "", result


def test_a_failing_scheduler_run_is_a_failed_job_on_the_master_and_success_0(
    salt_cli, pillar, clean, netlab, tmp_path, master, db_minion
):
    # A namespace that goes away after the highstate: every run then fails.
    ns = lab.table(netlab)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    pillar.set(
        {
            "method": "salt",
            "enforce": False,
            "flush": STALE_FLUSH_ONLY | {"netns": ns.name},
            "verify": NO_VERIFY,
            "metrics": {"textfile_dir": str(textfile)},
        }
    )
    ret = apply(salt_cli, DB)
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    ns.delete()

    with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=True) as bus:
        assert salt_cli.run("schedule.run_job", JOB, minion_tgt=DB).returncode == 0
        deadline, returned = time.monotonic() + 60, None
        while returned is None and time.monotonic() < deadline:
            event = bus.get_event(wait=1, tag="salt/job/", full=True)
            if event and event["data"].get("schedule") == JOB and event["data"].get("id") == DB:
                returned = event["data"]

    # The master's record of the job: a failure (Salt's return of a
    # scheduled function that raised), the cause in the minion's log.
    assert returned is not None, "no return of the scheduled job reached the master"
    assert returned["fun"] == "arp.flush_stale" and returned["success"] is False and returned["retcode"] != 0, returned
    assert returned["return"] == "Unhandled exception running arp.flush_stale", returned
    with open(db_minion.config["log_file"], encoding="utf-8") as log:
        logged = log.read()
    assert f"SaltInvocationError: network namespace '{ns.name}' does not exist" in logged
    assert 'arp_hygiene_last_run_success{task="flush"} 0\n' in (textfile / "arp_hygiene_flush.prom").read_text()
    # The metrics page shows this run: the event's data, abridged, and the log's lines.
    event, lines = metrics_page_failed_job()
    assert {key: returned[key] for key in event} == event, returned
    for line in lines:
        wanted = re.escape(line.replace("arph-table-482-2", ns.name)).replace(r"\(2678\)", r"\(\d+\)")
        assert re.search(wanted, logged), line

    # Clean removes the scheduler job, from the daemon and from the file that
    # keeps it over a restart; test mode says so first (Salt's own
    # schedule.absent says nothing would change).
    dry = apply(salt_cli, DB, "arp_hygiene.clean", "test=True")
    said = by_id(dry)[f"arp_hygiene-clean-schedule-absent-{JOB}"]
    assert said["result"] is None and said["comment"] == f"The scheduler job {JOB} would be removed.", said
    assert JOB in scheduled(salt_cli, DB)
    ret = apply(salt_cli, DB, "arp_hygiene.clean")
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    assert JOB not in scheduled(salt_cli, DB)
    persisted = os.path.join(os.path.dirname(db_minion.config["conf_file"]), "minion.d", "_schedule.conf")
    assert not os.path.exists(persisted) or JOB not in open(persisted, encoding="utf-8").read()


def metrics_page_failed_job():
    """The metrics page's failed scheduler job: (the event's data it shows, jid aside; the log's lines it shows)."""
    with open(os.path.join(REPO, "docs", "guide", "metrics.md"), encoding="utf-8") as stream:
        block = stream.read().split("event's data, abridged):\n\n```\n", 1)[1].split("```", 1)[0]
    data, log = block.split("# the minion's log:\n", 1)
    event = dict(re.findall(r"'(\w+)': ('[^']*'|\w+)", data))
    event = {key: ast.literal_eval(value) for key, value in event.items() if key != "jid"}
    return event, [line for line in log.splitlines() if line and line != "..."]
