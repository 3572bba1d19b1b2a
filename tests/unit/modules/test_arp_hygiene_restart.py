"""
The restarter of the minion daemon (salt/_modules/_arp_hygiene_restart.py)
with real processes standing for the job and the daemon: it waits for the
job to end, ends the daemon, then runs the restart command; started
detached, it outlives the process that started it; it says in the log what
went wrong, and restarts nothing then.
"""

import json
import subprocess
import sys
import time

import pytest

from tests.support import module_from_checkout

restarter = module_from_checkout("_arp_hygiene_restart")
TOUCH = "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"


def sleeper(seconds):
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


@pytest.fixture
def processes():
    started = []
    yield lambda seconds: started.append(sleeper(seconds)) or started[-1]
    for process in started:
        process.kill()
        process.wait()


def test_alive_says_a_zombie_has_ended(processes):
    process = processes(30)
    assert restarter.alive(process.pid)
    process.kill()
    time.sleep(0.2)  # a zombie until reaped
    assert not restarter.alive(process.pid)
    process.wait()
    assert not restarter.alive(process.pid)


def test_the_daemon_ends_after_the_job_and_then_the_command_runs(processes, tmp_path):
    job, daemon = processes(0.5), processes(60)
    marker = tmp_path / "started"
    logged = []
    plan = {"job": job.pid, "daemon": daemon.pid, "how": "command", "command": [sys.executable, "-c", TOUCH, marker]}

    said = restarter.restart(plan, log=lambda priority, text: logged.append((priority, text)))

    assert job.poll() == 0, "the daemon was ended before the job had returned"
    assert daemon.wait(5) != 0 and marker.exists()
    assert said.startswith("restarted the salt-minion daemon: ") and logged == [(restarter.syslog.LOG_NOTICE, said)]


def test_a_failing_command_is_logged_as_an_error(processes):
    job, daemon = processes(0), processes(60)
    logged = []
    plan = {"job": job.pid, "daemon": daemon.pid, "how": "command", "command": [sys.executable, "-c", "exit(3)"]}
    said = restarter.restart(plan, log=lambda priority, text: logged.append((priority, text)))
    assert "exited 3" in said and logged == [(restarter.syslog.LOG_ERR, said)]


def test_a_job_that_does_not_end_restarts_nothing(processes, monkeypatch):
    job, daemon = processes(60), processes(60)
    monkeypatch.setattr(restarter, "JOB_WAIT", 0.3)
    ran = []
    plan = {"job": job.pid, "daemon": daemon.pid, "how": "command", "command": ["true"]}
    said = restarter.restart(plan, run=lambda *args, **kwargs: ran.append(args), log=lambda *args: None)
    assert "still runs" in said and not ran and daemon.poll() is None


def test_systemd_restarts_the_unit_without_a_signal(processes):
    job, daemon = processes(0), processes(60)
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    restarter.restart({"job": job.pid, "daemon": daemon.pid, "how": "systemd", "command": None}, run=run, log=print)
    assert ran == [["systemctl", "--no-block", "restart", "salt-minion"]] and daemon.poll() is None


def test_started_detached_it_outlives_its_starter(processes, tmp_path):
    """Run as ``start``, it returns at once and the restart happens after its starter is gone."""
    job, daemon = processes(1), processes(60)
    marker = tmp_path / "started"
    plan = {
        "job": job.pid,
        "daemon": daemon.pid,
        "how": "command",
        "command": [sys.executable, "-c", TOUCH, str(marker)],
    }
    began = time.monotonic()
    started = subprocess.run([sys.executable, restarter.__file__, "start", json.dumps(plan)], check=False)
    assert started.returncode == 0 and time.monotonic() - began < 1 and daemon.poll() is None
    assert daemon.wait(10) != 0
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()


def test_a_bad_command_line_is_refused():
    done = subprocess.run([sys.executable, restarter.__file__, "go"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "usage:" in done.stderr
