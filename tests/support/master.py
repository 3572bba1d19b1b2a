"""The master's side of the integration tests: minion names, the formula's cron job, pillar, state returns."""

import dataclasses
import hashlib
import json
import os
import subprocess
import time
from typing import Any

import salt.client
import salt.utils.args
import salt.utils.event
import salt.utils.yaml

from tests.support import REPO

DB, WEB = "arp-db", "arp-web"
# A minion whose Python does not have arp-hygiene: it gets the modules by syncing.
FRESH = "arp-fresh"
JOB, VERIFY_JOB, SWEEP_JOB = "arp_hygiene-flush", "arp_hygiene-verify", "arp_hygiene-sweep"
TOP = """\
base:
  'roles:database':
    - match: grain
    - arp_hygiene
"""
# The tests of one job's mechanics run the flush of stale entries alone (the
# formula's old defaults), so that what they see is what that job did;
# test_formula_heals_the_incident.py runs the defaults.
# The formula page's runs (docs/guide/formula.md), where a test's run has its
# own: the minion's virtualenv (its Python and salt-call), configuration and
# root directories, the database's namespace, the minute of the minion's id.
FORMULA_PAGE = os.path.join(REPO, "docs", "guide", "formula.md")
FORMULA_PAGE_RUN = {
    "venv": "/work/main/.venv",
    "conf": "/tmp/readme/conf",
    "root": "/tmp/readme/root",
    "netns": "arph-db-11484-2",
    "minute": "3-59/5",
    "sweep": "43 11",  # db1's own minute and hour of the daily sweep
}
STALE_FLUSH_ONLY = {"states": ["stale"]}
NO_VERIFY = {"enabled": False}
# The environment cron gives a job on Debian: no virtualenv, no login shell.
CRON_ENV = ("PATH=/usr/bin:/bin", "HOME=/root", "SHELL=/bin/sh", "LOGNAME=root")


@dataclasses.dataclass
class Returned:
    """A job's return, as salt-factories' CLI result has it: returncode (the minion's retcode), data, stdout."""

    returncode: int
    data: Any
    stdout: str


class Client:
    """
    `salt <minion> <function> <args>` in the tests' own process: Salt's
    LocalClient, which the salt CLI itself drives, publishing through the
    real master to the real minion, the arguments parsed as the CLI parses
    them, without a Python started and Salt imported for each call (0.7 s of
    every call, some 300 calls).
    """

    def __init__(self, master, timeout=180):
        self.client = salt.client.LocalClient(mopts=master.config.copy())
        self.timeout = timeout

    def run(self, function, *args, minion_tgt, timeout=None):
        # As the CLI parses them before it publishes: key=value a keyword, every value YAML.
        arguments = salt.utils.args.parse_input(list(args))
        returned = self.client.cmd(
            minion_tgt, function, arg=arguments, timeout=timeout or self.timeout, full_return=True
        ).get(minion_tgt)
        if returned is None:
            return Returned(1, None, f"Minion {minion_tgt} did not return in {timeout or self.timeout} s")
        return Returned(returned.get("retcode", 0), returned["ret"], json.dumps(returned["ret"], default=str))


class Pillar:
    """Writes pillar arp_hygiene on the master and refreshes the database minion's pillar."""

    def __init__(self, tree, salt_cli):
        self.path = tree / "arp_hygiene.sls"
        self.salt_cli = salt_cli

    def set(self, settings, minion=DB):
        """
        Pillar arp_hygiene ``settings`` (refreshed on ``minion``), with cron_service false unless they
        say otherwise: the formula would start the system's cron daemon, and
        it would run every job of root's crontab on its own, at any time.
        """
        if isinstance(settings, dict):
            settings = {"cron_service": False} | settings
        self.path.write_text(salt.utils.yaml.safe_dump({"arp_hygiene": settings}, default_flow_style=False))
        ret = self.salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=minion)
        assert ret.returncode == 0, ret


def apply_clean(salt_cli, pillar):
    """Remove all the formula installs on the database minion, with the default pillar."""
    pillar.set({})
    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0, ret


def apply_cron(salt_cli, settings=None):
    """
    Only the formula's cron part, live, on the database minion (with
    ``settings`` as its pillar arp_hygiene, given on the command line): where
    a test needs a job installed, not a highstate's prediction.
    """
    pillar = [] if settings is None else [f"pillar={json.dumps({'arp_hygiene': settings})}"]
    ret = salt_cli.run("state.apply", "arp_hygiene.cron", *pillar, minion_tgt=DB)
    assert ret.returncode == 0 and all(state["result"] for state in ret.data.values()), ret
    return ret


def job_lines(job=JOB):
    """Root's crontab lines that belong to one of the formula's jobs: [comment, job] or []."""
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout.splitlines()
    for number, line in enumerate(crontab):
        if f"SALT_CRON_IDENTIFIER:{job}" in line:
            return crontab[number : number + 2]
    return []


def by_id(ret):
    """{state id: its return} of a state run."""
    assert isinstance(ret.data, dict), ret
    return {key.split("_|-")[1]: value for key, value in ret.data.items()}


def failed(ret):
    """{state id: comment} of the states that failed, from a state run."""
    return {key: value["comment"] for key, value in by_id(ret).items() if value["result"] is False}


def changed(ret):
    """{state id: changes} of the states that changed something, from a state run's data."""
    assert isinstance(ret.data, dict), ret
    return {key.split("_|-")[1]: value["changes"] for key, value in ret.data.items() if value["changes"]}


# The state whose test mode cannot know whether the live run changes
# something: arp.verified learns what is wrong only by asking the segment,
# which test mode never does.
UNPREDICTABLE = ("arp_|-arp_hygiene-enforce-arp-verified_|-",)


def highstate(salt_cli, minion, *args, after_dry=None, sls=None):
    """
    A highstate (with ``sls``: ``state.apply sls``) that passes; a live one
    is run in test mode first, and test mode must have said what the live
    run then did: a state that changed something said so in test mode, a
    state that changed nothing did not. The live run's return, with the test
    mode's as its ``dry`` (and what ``after_dry()``, called between the two,
    returned as its ``after_dry``).
    """
    run = ("state.apply", sls) if sls else ("state.highstate",)
    dry = None
    if "test=True" not in args:
        dry = salt_cli.run(*run, "test=True", *args, minion_tgt=minion)
        assert dry.returncode == 0 and isinstance(dry.data, dict), dry
    seen = after_dry() if after_dry else None
    ret = salt_cli.run(*run, *args, minion_tgt=minion)
    assert ret.returncode == 0, ret
    assert all(state["result"] is not False for state in ret.data.values()), ret
    if dry is not None:
        # By state id: test mode may render a state with another function (a
        # scheduler job to remove is a test state there, saying so).
        planned = {key.split("_|-")[1]: state for key, state in dry.data.items()}
        for key, state in ret.data.items():
            said = planned[key.split("_|-")[1]]
            # Saying so: result None, or (Salt's schedule.present) changes listed.
            would_change = said["result"] is None or bool(said["changes"])
            if state["changes"]:
                assert would_change, f"test mode did not say that {key} would change: {said}"
            elif not key.startswith(UNPREDICTABLE):
                assert not would_change, f"test mode said that {key} would change; it did not: {said}"
    ret.dry, ret.after_dry = dry, seen
    return ret


def converged(salt_cli, minion):
    """
    A dry run (state.highstate test=True) with nothing pending: every state
    passes and none would change anything. Test mode being exact (highstate()),
    that is what a further live highstate would do: nothing.
    """
    dry = salt_cli.run("state.highstate", "test=True", minion_tgt=minion)
    assert dry.returncode == 0 and isinstance(dry.data, dict), dry
    pending = {
        key: state["comment"] for key, state in dry.data.items() if state["result"] is not True or state["changes"]
    }
    assert pending == {}
    return dry


def scheduled(salt_cli, minion):
    ret = salt_cli.run("schedule.list", "return_yaml=False", minion_tgt=minion)
    assert ret.returncode == 0, ret
    return ret.data or {}


def cron_hour(minion_id, hours):
    """The minute and hour fields of a job every ``hours`` hours, spread: the minion's own, from its id."""
    digest = hashlib.md5(minion_id.encode()).hexdigest()
    hour = int(digest[8:16], 16) % hours
    return str(int(digest[:8], 16) % 60), str(hour) if hours == 24 else f"{hour}-23/{hours}"


def cron_minute(minion_id, interval, spread=True):
    """The minute field of a minion's jobs: with spread, its own minute within the interval, from its id."""
    if not spread or interval == 1:
        return f"*/{interval}"
    offset = int(hashlib.md5(minion_id.encode()).hexdigest()[:8], 16) % interval
    return f"{offset}-59/{interval}"


def cron_split(line):
    """
    (the time fields, the command, its standard input or None) of a crontab
    line, as cron(8) reads them (crontab(5)): five fields or one @special;
    an unescaped % ends the command and the rest, each further % a newline,
    is its standard input; a backslash before % is dropped and the % kept.
    """
    fields = line.split(None, 1 if line.startswith("@") else 5)
    text, command, stdin = fields[-1], [], None
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] == "%":
            command.append("%")
            index += 2
            continue
        if char == "%":
            stdin = text[index + 1 :].replace("%", "\n")
            break
        command.append(char)
        index += 1
    return fields[:-1], "".join(command), stdin


def run_as_cron(line, **kwargs):
    """Run a crontab line's command as cron does: its standard input, cron's bare environment, from /."""
    _, command, stdin = cron_split(line)
    return subprocess.run(
        ["env", "-i", *CRON_ENV, "/bin/sh", "-c", command],
        input=stdin or "",
        cwd="/",
        capture_output=True,
        text=True,
        **kwargs,
    )


def beacon_events(master, minion, until, timeout=60):
    """
    {event name: data} of ``minion``'s arp beacon events on ``master``'s bus, the latest of
    each, once until(found) holds.
    """
    found = {}
    with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=True) as bus:
        end = time.monotonic() + timeout
        while not until(found) and time.monotonic() < end:
            event = bus.get_event(wait=1, tag=f"salt/beacon/{minion}/arp/", full=True)
            if event:
                found[event["tag"].rsplit("/", 1)[1]] = event["data"]
    return found
