"""
The incident at fleet scale (tests/support/segments.Fleet): 30 new workers, 10 of
them on addresses the database maps to dead MACs. The formula's defaults heal
every black hole and keep every correct entry, through a real master and
minion and through the cron jobs they install. (What other policies do to the
same lab: tests/functional/modules/test_arp_policies.py.)
"""

import json
import os
import re
import subprocess

import pytest

from tests.support import segments
from tests.support.master import (
    DB,
    FORMULA_PAGE,
    FORMULA_PAGE_RUN,
    JOB,
    VERIFY_JOB,
    apply_cron,
    changed,
    cron_hour,
    cron_minute,
    highstate,
    job_lines,
    run_as_cron,
)


@pytest.fixture
def fleet(tables_alone, netlab):
    """The lab's 60 and more entries with the kernel's tables to themselves (see lab.TABLES_LOCK)."""
    fleet = segments.Fleet(netlab)
    fleet.learn()
    learned = fleet.entries()
    assert {address: mac for address, (mac, _) in learned.items()} == {
        address: fleet.workers[address][1] for address in fleet.others
    }
    return fleet


def black_holes(fleet):
    """Plant the old MACs; the health checks fail from exactly the reused addresses, and turn stale entries to delay."""
    fleet.reuse()
    checks = fleet.health_checks()
    assert sorted(address for address, passed in checks.items() if not passed) == sorted(fleet.reused)
    fleet.age()  # the health checks confirmed the correct stale entries
    states = {address: state for address, (_, state) in fleet.entries().items() if address in fleet.reused}
    assert sorted(states.values()) == ["delay"] * 5 + ["reachable"] * 5, states


def assert_healed_and_kept(fleet, before):
    """Every health check passes; every correct entry is still there with its MAC; no worker lost its address."""
    assert fleet.health_checks() == dict.fromkeys(fleet.workers, True)
    entries = fleet.entries()
    assert {address: entries.get(address, (None,))[0] for address in fleet.others} == {
        address: before[address][0] for address in fleet.others
    }, "a correct entry was deleted or changed"
    assert {address: entries[address][0] for address in fleet.reused} == {
        address: fleet.workers[address][1] for address in fleet.reused
    }
    assert fleet.addresses_kept()


def test_a_highstate_with_the_default_pillar_heals_every_black_hole_and_keeps_every_correct_entry(
    salt_cli, pillar, clean, fresh_paths, fleet
):
    before = fleet.entries()
    black_holes(fleet)

    # The default pillar (only the namespace the database's table is in), on
    # a host where nothing the formula writes exists yet: both reports go to
    # /var/log/salt, which is not there. Test mode first, and exact.
    assert not os.path.exists("/var/log/salt") and not os.path.exists("/var/lib/arp-hygiene")
    pillar.set({"flush": {"netns": fleet.db.name}})
    ret = highstate(salt_cli, DB)

    repaired = changed(ret)["arp_hygiene-enforce-arp-verified"]
    assert {address: change["new"] for address, change in repaired["replaced"]["eth0"].items()} == new_macs(fleet)
    assert_healed_and_kept(fleet, before)
    comment, job = job_lines(VERIFY_JOB)
    assert comment == (
        f"# arp-hygiene (Salt formula arp_hygiene) verifies neighbour entries SALT_CRON_IDENTIFIER:{VERIFY_JOB}"
    )
    assert job.startswith(f"{cron_minute(DB, 5)} * * * * ") and " arp.verify " in job and "fix=true" in job
    assert crontab_as_on_the_formula_page(fleet.db.name) == formula_page_crontab()

    # The installed cron jobs, as cron runs them, heal the same black holes again.
    black_holes(fleet)
    for job in (JOB, VERIFY_JOB):
        result = run_as_cron(job_lines(job)[1])
        assert result.returncode == 0 and result.stderr == "", result
    with open("/var/log/salt/arp_hygiene_verify.json", encoding="utf-8") as report:
        verified = json.load(report)["local"]
    assert {address: change["new"] for address, change in verified["replaced"]["eth0"].items()} == new_macs(fleet)
    assert_healed_and_kept(fleet, before)

    # Verify disabled: its job goes, the flush job stays.
    pillar.set({"flush": {"netns": fleet.db.name}, "verify": {"enabled": False}})
    apply_cron(salt_cli)
    assert job_lines(VERIFY_JOB) == [] and job_lines(JOB)

    # The formula page's failing run: the verify job again, its namespace
    # gone, its line run as cron runs it.
    pillar.set({"flush": {"netns": fleet.db.name}})
    apply_cron(salt_cli)
    fleet.db.delete()
    failing = run_as_cron(job_lines(VERIFY_JOB)[1])
    with open("/var/log/salt/arp_hygiene_verify.json", encoding="utf-8") as report:
        written = report.read()
    shown = as_on_the_formula_page(failing.stderr + f"exit status {failing.returncode}\n" + written, fleet.db.name)
    assert shown == formula_page_failing_run(), shown


def new_macs(fleet):
    return {address: fleet.workers[address][1] for address in fleet.reused}


def formula_page_crontab():
    """The lines of root's crontab that the formula page shows after its highstate."""
    with open(FORMULA_PAGE, encoding="utf-8") as stream:
        return stream.read().split("\n# crontab -l\n", 1)[1].split("```", 1)[0].splitlines()


def crontab_as_on_the_formula_page(netns):
    """Root's crontab now, this run's own paths, namespace and minute put as the page's run had them."""
    lines = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=True).stdout.splitlines()
    words = job_lines(VERIFY_JOB)[1].split()
    ours = {
        "venv": os.path.dirname(os.path.dirname(words[5])),  # the minion's Python, and salt-call beside it
        "conf": words[words.index("--config-dir") + 1],
        "netns": netns,
    }
    minute, sweep, shown = cron_minute(DB, 5), " ".join(cron_hour(DB, 24)), []
    for line in lines:
        for key, value in ours.items():
            line = line.replace(value, FORMULA_PAGE_RUN[key])
        if line.startswith(minute + " "):
            line = FORMULA_PAGE_RUN["minute"] + line[len(minute) :]
        elif line.startswith(sweep + " "):
            line = FORMULA_PAGE_RUN["sweep"] + line[len(sweep) :]
        shown.append(line)
    return shown


def formula_page_failing_run():
    """What the formula page shows a failing verify job print, and its report, with the report's time as TIME."""
    with open(FORMULA_PAGE, encoding="utf-8") as stream:
        block = stream.read().split("then the verify job's crontab line's command, in cron's environment:\n", 1)[1]
    shown = block.split("```", 1)[0].replace("# cat /var/log/salt/arp_hygiene_verify.json\n", "")
    return re.sub(r'"finished": "[^"]+"', '"finished": TIME', shown)


def as_on_the_formula_page(text, netns):
    return re.sub(r'"finished": "[^"]+"', '"finished": TIME', text.replace(netns, FORMULA_PAGE_RUN["netns"]))
