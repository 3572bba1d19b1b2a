"""
Restarts the salt-minion daemon from outside it, once the job that asked
has returned: the daemon ends its job processes and their children when it
stops, so a job cannot restart it and still return (Salt's minion.restart
ends its own job that way). The state ``arp.watching`` runs this file as a
program (``start PLAN``), which starts it again detached from the daemon's
process tree (``restart PLAN``) and returns; that one waits for the job's
process to end, then restarts the daemon as the plan's ``how`` says:

- ``systemd``: ``systemctl --no-block restart salt-minion`` (systemd stops
  and starts it, as minion.restart has it do);
- ``command``: SIGTERM to the daemon, and once it has ended, ``command``
  (the minion's ``minion_restart_command``, or its own command line in
  daemon mode, as minion.restart runs them).

What it did, or why it could not, goes to the system log (tag arp-hygiene),
where the cron jobs' failures go too.

Synced with the ``arp`` execution module (in its directory), and run as a
program: no Salt, and nothing else of arp-hygiene.
"""

import json
import os
import signal
import subprocess
import sys
import syslog
import time

# Seconds to wait for the job to return, and for the daemon to end; when
# the job is a thread of the daemon (multiprocessing: false), seconds to
# give it to return instead.
JOB_WAIT, DAEMON_WAIT, THREAD_WAIT = 120, 60, 5


def start(plan, python=sys.executable):
    """
    The restarter for ``plan`` (``{"job", "daemon", "how", "command"}``),
    detached: a session of its own, and its parent (this program, run as
    ``start``) gone, so that it is no child of the job or the daemon, whose
    ends would end it. The pids are the same when the job is a thread of the
    daemon.
    """
    subprocess.Popen(  # pylint: disable=consider-using-with
        [python, os.path.abspath(__file__), "restart", json.dumps(plan)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def alive(pid):
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_end(pid, seconds, clock=time.monotonic, sleep=time.sleep):
    """True once ``pid`` has ended, False if it still runs after ``seconds``."""
    deadline = clock() + seconds
    while alive(pid):
        if clock() >= deadline:
            return False
        sleep(0.1)
    return True


def restart(plan, run=subprocess.run, log=syslog.syslog, sleep=time.sleep):
    """The restart that ``plan`` (start's) describes; returns what the system log was told."""
    if plan["job"] == plan["daemon"]:
        sleep(THREAD_WAIT)
    elif not wait_end(plan["job"], JOB_WAIT):
        said = f"the job (pid {plan['job']}) still runs after {JOB_WAIT} s: the salt-minion daemon is not restarted"
        log(syslog.LOG_ERR, said)
        return said
    if plan["how"] == "systemd":
        command = ["systemctl", "--no-block", "restart", "salt-minion"]
    else:
        command = plan["command"]
        try:
            os.kill(plan["daemon"], signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_end(plan["daemon"], DAEMON_WAIT):
            said = f"the salt-minion daemon (pid {plan['daemon']}) did not end within {DAEMON_WAIT} s of SIGTERM"
            log(syslog.LOG_ERR, said)
            return said
    done = run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode:
        said = f"restarting the salt-minion daemon failed: {command} exited {done.returncode}: {done.stderr.strip()}"
        log(syslog.LOG_ERR, said)
        return said
    said = f"restarted the salt-minion daemon: {command}"
    log(syslog.LOG_NOTICE, said)
    return said


def main(argv):
    """``start PLAN``: the restarter, detached (and return at once); ``restart PLAN``: the restart itself."""
    if len(argv) != 2 or argv[0] not in ("start", "restart"):
        print("usage: _arp_hygiene_restart.py start|restart PLAN (JSON)", file=sys.stderr)
        return 2
    plan = json.loads(argv[1])
    if argv[0] == "start":
        start(plan)
    else:
        syslog.openlog("arp-hygiene")
        restart(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
