"""
A real salt-master serving this checkout the way README.md tells operators to
(file_roots: the checkout's salt/, which holds the formula, _modules and
_states), and two real minions: arp-db with grain roles: database, arp-web
without it. Both run as root on this host, so they share its paths and
root's crontab: the tests move what is there aside first (a fresh host) and
put it back afterwards, whatever happens.
"""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import sysconfig

import pytest

from tests.support import REPO, host, unavailable
from tests.support.master import DB, FRESH, TOP, WEB, Client, Pillar, apply_clean


@pytest.fixture(scope="package")
def fresh_host():
    """
    A host the product never ran on, for the package's tests (their minions
    run as root on this host and share its paths and root's crontab): what
    is at the product's paths, and root's crontab, moved aside, and put back
    after the package's tests, whatever happens (tests/support/host.py).
    """
    if os.geteuid() != 0:
        unavailable("the formula's tests write the product's paths and root's crontab: they need root")
    if not shutil.which("crontab"):
        unavailable("crontab is missing: ./run test installs Debian's cron package")
    daemons = [pid for pid in os.listdir("/proc") if pid.isdigit() and process_name(pid) in ("cron", "crond")]
    if daemons:
        # It would start the jobs under test by itself, between two steps of a test.
        unavailable(f"a cron daemon is running (pid {', '.join(daemons)}); stop it while the tests run")
    with host.aside():
        yield


@pytest.fixture
def fresh_paths(fresh_host):
    """Nothing at the product's paths and no crontab for root when the test starts, whatever earlier tests left."""
    host.remove()


def process_name(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return None


@pytest.fixture(scope="package")
def trees(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    (state / "top.sls").write_text(TOP)
    pillar = tmp_path_factory.mktemp("pillar")
    (pillar / "top.sls").write_text("base:\n  '*':\n    - arp_hygiene\n")
    (pillar / "arp_hygiene.sls").write_text("{}\n")
    return state, pillar


@pytest.fixture(scope="package")
def checkout(tmp_path_factory):
    """
    This checkout as an operator's clone looks to the master: its salt/
    directory, the one that README.md has the master serve.
    """
    clone = tmp_path_factory.mktemp("arp-hygiene")
    (clone / "salt").symlink_to(os.path.join(REPO, "salt"))
    return clone


@pytest.fixture(scope="package")
def master(salt_factories, trees, checkout):
    state, pillar = trees
    factory = salt_factories.salt_master_daemon(
        "arp-master",
        overrides={
            # README.md's file_roots: the clone's salt/ directory (and the site's own tree).
            "file_roots": {"base": [str(state), str(checkout / "salt")]},
            "pillar_roots": {"base": [str(pillar)]},
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def db_minion(master):
    factory = master.salt_minion_daemon(DB, overrides={"grains": {"roles": ["database"]}})
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def web_minion(master):
    factory = master.salt_minion_daemon(WEB, overrides={"grains": {"roles": ["web"]}})
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def fresh_minion(master, tmp_path_factory):
    """
    A minion whose Python does not have arp-hygiene (a copy of this
    virtualenv, hard links, with the package uninstalled from the copy): the
    arp modules reach it only from the master's fileserver, by syncing, as
    on an operator's minion.
    """
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run(["cp", "-al", sys.prefix, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", "arp-hygiene"], check=True, capture_output=True)
    # The copy's salt-call, which the formula's cron job runs, on the copy's
    # Python (a new file: the hard-linked original stays as it is).
    salt_call = venv / "bin" / "salt-call"
    lines = salt_call.read_text().splitlines(keepends=True)
    salt_call.unlink()
    salt_call.write_text(f"#!{python}\n" + "".join(lines[1:]))
    salt_call.chmod(0o755)
    # Neither importable nor registered with Salt's loader (run from the
    # virtualenv: the checkout's own directory would put arp_hygiene on sys.path).
    probe = (
        "import importlib.metadata as m; print([e.name for e in m.entry_points(group='salt.loader')]); "
        "import arp_hygiene"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=venv)
    assert done.returncode != 0 and "arp-hygiene" not in done.stdout, done
    factory = master.salt_minion_daemon(FRESH, overrides={"grains": {"roles": ["fresh"]}})
    # The minion runs on the copy's Python, from a script of its own: the one
    # salt-factories writes puts the site-packages of the virtualenv that first
    # wrote it (where the package is registered) first on sys.path.
    fresh_site = sysconfig.get_path("purelib").replace(sys.prefix, str(venv), 1)
    script, count = re.subn(
        r"^CODE_DIR = r'[^']*'$",
        f"CODE_DIR = r'{fresh_site}'",
        pathlib.Path(factory.script_name).read_text(),
        flags=re.M,
    )
    assert count == 1, "salt-factories' minion script has no CODE_DIR line to change"
    own_script = venv.parent / "salt_minion.py"
    own_script.write_text(script)
    factory.script_name = str(own_script)
    factory.python_executable = python
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_cli(master, db_minion, web_minion):
    """`salt <minion> <function> <args>` through the package's master (tests/support/master.Client)."""
    return Client(master)


@pytest.fixture(scope="package")
def pillar(trees, salt_cli, fresh_host):
    """The formula's pillar on the master: the formula writes on this host, which the tests see fresh."""
    return Pillar(trees[1], salt_cli)


@pytest.fixture
def clean(salt_cli, pillar):
    """Nothing of the formula on the database minion when the test starts."""
    apply_clean(salt_cli, pillar)


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """
    {"sdist": path, "wheel": path}: `python -m build` of a copy of this
    checkout (the wheel built from the sdist, as pip and PyPI users get it).
    """
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(
        REPO,
        source,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis"),
    )
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr + built.stdout
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": str(sdist), "wheel": str(wheel)}


@pytest.fixture
def cron_daemon():
    """Starts Debian's cron in the foreground, for the test alone; stops it whatever happens."""
    cron = shutil.which("cron")
    if not cron:
        unavailable("Debian's cron is not installed: `./run test` installs it")

    def start():
        return subprocess.Popen([cron, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = []
    yield lambda: started.append(start())
    for process in started:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
