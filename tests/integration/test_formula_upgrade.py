"""
An onedir upgrade to Salt 3006.27 or later replaces the directory where
salt-pip installed pyroute2 (extras-3.10 becomes extras-3.11): the minion's
Python can no longer import it, the arp module does not load, and every run
of the formula's jobs fails. Here a masterless minion in a virtualenv of its
own (whose scripts run its own Python) loses pyroute2 the way an upgrade
does, its cron job then fails and says what to run, and the next highstate
installs pyroute2 again for the minion's own Python: the job works.
"""

import json
import subprocess
import sys

import salt.version

from tests.support import REPO, lab
from tests.support.master import JOB, job_lines, run_as_cron
from tests.support.tables import snapshot

FAILED = {"dst": "192.0.2.78", "ifname": "a0", "state": "failed"}


def run(*command, **kwargs):
    done = subprocess.run([str(word) for word in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def test_the_next_highstate_brings_back_what_an_upgrade_took(fresh_paths, netlab, tmp_path):
    ns = lab.table(netlab)
    lab.add_entries(ns, [FAILED])
    venv = tmp_path / "minion"
    uv = REPO + "/.venv-uv/bin/uv"
    run(uv, "venv", "-q", "--seed", "--python", sys.executable, venv)
    # Compiled once (as ./run makes its virtualenvs): each of the test's salt-calls would compile Salt again.
    python, version = venv / "bin" / "python", f"salt=={salt.version.__version__}"
    run(uv, "pip", "install", "-q", "--compile-bytecode", "--python", python, "-e", REPO, version)
    conf, pillar = tmp_path / "conf", tmp_path / "pillar"
    conf.mkdir()
    pillar.mkdir()
    (conf / "minion").write_text(
        f"id: upgraded\nfile_client: local\nroot_dir: {tmp_path / 'root'}\nlog_level: warning\n"
        f"file_roots: {{base: [{REPO}/salt]}}\npillar_roots: {{base: [{pillar}]}}\n"
    )
    (pillar / "top.sls").write_text("base:\n  '*': [arp]\n")
    (pillar / "arp.sls").write_text(
        f"arp_hygiene:\n  flush: {{netns: {ns.name}}}\n  verify: {{enabled: false}}\n  cron_service: false\n"
    )
    # pip's cache of its own: nothing of the test's downloads stays on the host.
    env = {"PATH": f"{venv}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}

    def salt_call(*args):
        command = [venv / "bin" / "salt-call", "--local", "--config-dir", conf, "--retcode-passthrough", *args]
        return subprocess.run([str(word) for word in command], capture_output=True, text=True, env=env, check=False)

    def highstate():
        done = salt_call("--out=json", "state.apply", "arp_hygiene")
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    try:
        highstate()
        (line,) = job_lines(JOB)[1:]
        assert str(venv / "bin" / "salt-call") in line
        assert run_as_cron(line).returncode == 0
        assert ("192.0.2.78", "a0") not in snapshot(ns)

        # The upgrade: pyroute2 is no longer in the minion's environment.
        run(python, "-m", "pip", "uninstall", "-q", "-y", "pyroute2")
        lab.add_entries(ns, [FAILED])
        failed = run_as_cron(line)
        assert failed.returncode == 1
        assert "needs the pyroute2 library" in failed.stderr and "'salt-pip install pyroute2'" in failed.stderr
        assert ("192.0.2.78", "a0") in snapshot(ns)

        # The next highstate installs it again, for the minion's own Python; the job works again.
        states = json.loads(highstate().stdout)["local"]
        (installed,) = [
            ret for key, ret in states.items() if key.startswith("pip_|-arp_hygiene-pyroute2-pip-installed")
        ]
        assert installed["result"] is True and installed["changes"], installed
        run(python, "-c", "import pyroute2")
        assert run_as_cron(line).returncode == 0
        assert ("192.0.2.78", "a0") not in snapshot(ns)
    finally:
        salt_call("state.apply", "arp_hygiene.clean")
