"""The master's side of the integration tests: minion names, the formula's cron job, pillar, state returns."""

import subprocess

import salt.utils.yaml

DB, WEB = "arp-db", "arp-web"
JOB = "arp_hygiene-flush"
TOP = """\
base:
  'roles:database':
    - match: grain
    - arp_hygiene
"""
# The environment cron gives a job on Debian: no virtualenv, no login shell.
CRON_ENV = ("PATH=/usr/bin:/bin", "HOME=/root", "SHELL=/bin/sh", "LOGNAME=root")


class Pillar:
    """Writes pillar arp_hygiene on the master and refreshes the database minion's pillar."""

    def __init__(self, tree, salt_cli):
        self.path = tree / "arp_hygiene.sls"
        self.salt_cli = salt_cli

    def set(self, settings):
        self.path.write_text(salt.utils.yaml.safe_dump({"arp_hygiene": settings}, default_flow_style=False))
        ret = self.salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=DB)
        assert ret.returncode == 0, ret


def apply_clean(salt_cli, pillar):
    """Remove all the formula installs on the database minion, with the default pillar."""
    pillar.set({})
    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret


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


def highstate(salt_cli, minion, *args):
    ret = salt_cli.run("state.highstate", *args, minion_tgt=minion)
    assert ret.returncode == 0, ret
    assert all(state["result"] is not False for state in ret.data.values()), ret
    return ret


def scheduled(salt_cli, minion):
    ret = salt_cli.run("schedule.list", "return_yaml=False", minion_tgt=minion)
    assert ret.returncode == 0, ret
    return ret.data or {}
