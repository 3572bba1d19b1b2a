"""
A real salt-master serving this checkout the way README.md tells operators to
(file_roots: salt/ for the formula, the repository root for _modules and
_states), and two real minions: arp-db with grain roles: database, arp-web
without it. Both run as root on this host, so they share root's crontab: the
tests save it first and put it back afterwards, whatever happens.
"""

import os
import shutil
import subprocess

import pytest
import salt.utils.yaml

from tests.conftest import REPO, unavailable

DB, WEB = "arp-db", "arp-web"
JOB = "arp_hygiene-flush"
TOP = """\
base:
  'roles:database':
    - match: grain
    - arp_hygiene
"""


@pytest.fixture(scope="package")
def root_crontab():
    """Root's crontab as it was, put back after the package's tests."""
    if os.geteuid() != 0:
        unavailable("the formula's tests manage root's crontab: they need root")
    if not shutil.which("crontab"):
        unavailable("crontab is missing: ./run test installs Debian's cron package")
    daemons = [pid for pid in os.listdir("/proc") if pid.isdigit() and process_name(pid) in ("cron", "crond")]
    if daemons:
        # It would start the jobs under test by itself, between two steps of a test.
        unavailable(f"a cron daemon is running (pid {', '.join(daemons)}); stop it while the tests run")
    saved = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    yield
    if saved.returncode == 0:
        subprocess.run(["crontab", "-"], input=saved.stdout, text=True, check=True)
    else:
        subprocess.run(["crontab", "-r"], capture_output=True)


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
    This checkout as an operator's clone looks to the master: the formula and
    the modules, without the virtualenv that ./run keeps in it (a fileserver
    walking 15,000 files of .venv adds some 20 s to every highstate).
    """
    clone = tmp_path_factory.mktemp("arp-hygiene")
    for name in ("salt", "_modules", "_states"):
        (clone / name).symlink_to(os.path.join(REPO, name))
    return clone


@pytest.fixture(scope="package")
def master(salt_factories, trees, checkout, root_crontab):
    state, pillar = trees
    factory = salt_factories.salt_master_daemon(
        "arp-master",
        overrides={
            # README.md's file_roots: the formula's salt/ and the repository root.
            "file_roots": {"base": [str(state), str(checkout / "salt"), str(checkout)]},
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
def salt_cli(master, db_minion, web_minion):
    return master.salt_cli(timeout=180)


class Pillar:
    """Writes pillar arp_hygiene on the master and refreshes the database minion's pillar."""

    def __init__(self, tree, salt_cli):
        self.path = tree / "arp_hygiene.sls"
        self.salt_cli = salt_cli

    def set(self, settings):
        self.path.write_text(salt.utils.yaml.safe_dump({"arp_hygiene": settings}, default_flow_style=False))
        ret = self.salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=DB)
        assert ret.returncode == 0, ret


@pytest.fixture(scope="package")
def pillar(trees, salt_cli):
    return Pillar(trees[1], salt_cli)


def apply_clean(salt_cli, pillar):
    """Remove all the formula installs on the database minion, with the default pillar."""
    pillar.set({})
    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret


@pytest.fixture
def clean(salt_cli, pillar):
    """Nothing of the formula on the database minion when the test starts."""
    apply_clean(salt_cli, pillar)


def job_lines(job=JOB):
    """Root's crontab lines that belong to one of the formula's jobs: [comment, job] or []."""
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
    for number, line in enumerate(crontab):
        if f"SALT_CRON_IDENTIFIER:{job}" in line:
            return crontab[number : number + 2]
    return []


def changed(ret):
    """{state id: changes} of the states that changed something, from a state run's data."""
    assert isinstance(ret.data, dict), ret
    return {key.split("_|-")[1]: value["changes"] for key, value in ret.data.items() if value["changes"]}
