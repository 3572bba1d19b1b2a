"""The arp_hygiene formula through a real master and minions: highstate, cron, Salt's scheduler, bad pillar, clean."""

import concurrent.futures
import json
import os
import subprocess
import time

import pytest

from tests.support import lab
from tests.support.master import (
    DB,
    JOB,
    NO_VERIFY,
    STALE_FLUSH_ONLY,
    WEB,
    Client,
    apply_clean,
    apply_cron,
    changed,
    converged,
    cron_minute,
    highstate,
    job_lines,
    run_as_cron,
    scheduled,
)
from tests.support.tables import every_state, keys, matches, snapshot, without_collected


@pytest.fixture
def report(tmp_path):
    return tmp_path / "arp_hygiene.json"


def settings(ns, report, **changes):
    """Pillar arp_hygiene pointing the flush of stale entries alone at the lab namespace ``ns``."""
    return {
        "method": "cron",
        "interval_minutes": 5,
        "report_file": str(report),
        "flush": STALE_FLUSH_ONLY | {"family": "all", "netns": ns.name},
        "verify": NO_VERIFY,
    } | changes


def stale(before):
    return {key for key, value in before.items() if matches(key, value, family="all")}


def without(before, gone):
    return {key: value for key, value in before.items() if key not in gone}


def test_highstate_installs_the_job_on_database_minions_only_and_it_flushes_in_crons_bare_environment(
    salt_cli, pillar, clean, table, report
):
    ns, before = table
    pillar.set(settings(ns, report))

    web = salt_cli.run("state.highstate", minion_tgt=WEB)
    assert "arp_hygiene" not in json.dumps(web.data)
    assert "No Top file or master_tops data matches found" in json.dumps(web.data)
    assert job_lines() == []
    assert (after := snapshot(ns)) == without_collected(before, after)

    db = highstate(salt_cli, DB)
    comment, job = job_lines()
    assert comment == f"# arp-hygiene (Salt formula arp_hygiene) flushes neighbour entries SALT_CRON_IDENTIFIER:{JOB}"
    assert job.startswith(f"{cron_minute(DB, 5)} * * * * ")
    assert f"""'netns="{ns.name}"'""" in job and "arp.flush_stale" in job
    # enforce: the highstate itself flushed the stale entries.
    done = changed(db)["arp_hygiene-enforce-arp-no_stale"]
    assert keys(done["deleted"]) == stale(before)
    assert (after := snapshot(ns)) == without_collected(without(before, stale(before)), after)
    assert JOB not in scheduled(salt_cli, DB) and JOB not in scheduled(salt_cli, WEB)

    # The installed line, as cron runs it, flushes them too.
    lab.add_entries(ns, every_state())
    again = snapshot(ns)
    assert stale(again) == stale(before)
    result = run_as_cron(job)

    assert result.returncode == 0, result.stderr
    assert (after := snapshot(ns)) == without_collected(without(again, stale(again)), after)
    flushed = json.loads(report.read_text())["local"]
    assert keys(flushed["deleted"]) == stale(again)
    assert flushed["vanished"] == {}


def test_a_new_interval_updates_the_line_in_place(salt_cli, pillar, clean, table, report):
    ns, _ = table
    pillar.set(settings(ns, report))
    apply_cron(salt_cli)
    assert job_lines()[1].startswith(f"{cron_minute(DB, 5)} ")

    pillar.set(settings(ns, report, interval_minutes=10))
    ret = highstate(salt_cli, DB, after_dry=lambda: job_lines()[1])
    (pending,) = [state for key, state in ret.dry.data.items() if "arp_hygiene-cron-cron-present" in key]
    # Salt's cron.present says in its comment, not in changes, what test=True would do.
    assert pending["result"] is None and pending["comment"].endswith("is set to be updated")
    assert ret.after_dry.startswith(f"{cron_minute(DB, 5)} "), "test=True wrote to the crontab"

    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    assert crontab.count(f"SALT_CRON_IDENTIFIER:{JOB}") == 1
    assert crontab.count("arp.flush_stale") == 1
    assert job_lines()[1].startswith(f"{cron_minute(DB, 10)} * * * * ")

    converged(salt_cli, DB)


def test_the_salt_scheduler_method_replaces_cron_and_its_job_runs(salt_cli, pillar, clean, table, report):
    ns, before = table
    pillar.set(settings(ns, report, enforce=False))
    apply_cron(salt_cli)
    assert job_lines()

    pillar.set(settings(ns, report, enforce=False, method="salt", interval_minutes=7))
    highstate(salt_cli, DB)
    assert job_lines() == []
    job = scheduled(salt_cli, DB)[JOB]
    assert job["function"] == "arp.flush_stale" and job["minutes"] == 7
    # test: False: the job runs live whatever the minion's test option.
    assert job["kwargs"] == {"states": ["stale"], "family": "all", "netns": ns.name, "test": False}
    assert JOB not in scheduled(salt_cli, WEB)
    converged(salt_cli, DB)
    assert (after := snapshot(ns)) == without_collected(before, after)

    ret = salt_cli.run("schedule.run_job", JOB, minion_tgt=DB)
    assert ret.returncode == 0, ret
    deadline = time.monotonic() + 60
    while (after := snapshot(ns)) != without_collected(
        without(before, stale(before)), after
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (after := snapshot(ns)) == without_collected(without(before, stale(before)), after), (
        "the scheduled job did not flush the stale entries"
    )

    # Leaving the scheduler: test mode says that the job would go (Salt's own
    # schedule.absent says nothing would change), and the live run removes it.
    pillar.set(settings(ns, report, enforce=False))
    ret = highstate(salt_cli, DB)
    absent = next(state for key, state in ret.dry.data.items() if f"-schedule-absent-{JOB}_|-" in key)
    assert absent["result"] is None and absent["comment"] == f"The scheduler job {JOB} would be removed.", absent
    assert f"arp_hygiene-schedule-schedule-absent-{JOB}" in changed(ret)
    assert JOB not in scheduled(salt_cli, DB)


# Through the master, a few of the bad pillars that tests/unit/formula/test_formula_map.py
# tests by the hundred: those that would run a command if a value reached a
# shell ({mark}: the file it would create), and those only the minion's
# kernel or two settings together judge.
BAD_PILLAR = [
    (
        {"interval_minutes": "5; touch {mark}"},
        'pillar arp_hygiene:interval_minutes is "5; touch {mark}"; allowed: a whole number',
    ),
    (
        {"flush": {"netns": "$(touch {mark})"}},
        'pillar arp_hygiene:flush:netns is "$(touch {mark})"; allowed: the name of a network namespace',
    ),
    (
        {"announce": {"interfaces": ["eth0$(touch {mark})"]}},
        'pillar arp_hygiene:announce:interfaces is "eth0$(touch {mark})"',
    ),
    (
        {"sysctl": {"net.ipv4.neigh.default.gc_stale_tme": 60}},
        'pillar arp_hygiene:sysctl has the key "net.ipv4.neigh.default.gc_stale_tme"; this kernel has no setting '
        '"gc_stale_tme" in net.ipv4.neigh',
    ),
    (
        {"sysctl": {"net.ipv4.conf.all.arp_notify": 0}, "announce": {"arp_notify": True}},
        'pillar arp_hygiene:sysctl has the key "net.ipv4.conf.all.arp_notify", which announce:arp_notify sets',
    ),
]


@pytest.fixture(scope="module")
def nothing_installed(salt_cli, pillar):
    """One clean for all the bad pillars: none of them may install anything."""
    apply_clean(salt_cli, pillar)


def test_a_bad_pillar_fails_the_render_and_installs_nothing(master, nothing_installed, tmp_path):
    """
    Each pillar of BAD_PILLAR, given on the command line of its own
    `state.apply arp_hygiene` (Salt merges it into the minion's pillar),
    all at once (concurrent=True): each fails with its one line and none
    installs, writes or runs anything.
    """

    def apply(case):
        number, (bad, message) = case
        mark = tmp_path / f"injected-{number}"
        report = tmp_path / f"arp_hygiene-{number}.json"
        bad = json.loads(json.dumps(bad).replace("{mark}", str(mark)))
        given = {"arp_hygiene": {"report_file": str(report)} | bad}
        # A client of its own for each run.
        ret = Client(master).run(
            "state.apply", "arp_hygiene", f"pillar={json.dumps(given)}", "concurrent=True", minion_tgt=DB
        )
        expected = message.replace("{mark}", str(mark))
        if ret.returncode == 0 or expected not in one_line_error(ret):
            return f"{bad}: {ret.data}"
        if mark.exists() or report.exists():
            return f"{bad}: wrote {mark if mark.exists() else report}"
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(BAD_PILLAR)) as pool:
        wrong = [problem for problem in pool.map(apply, enumerate(BAD_PILLAR)) if problem]

    assert wrong == []
    assert job_lines() == []


def one_line_error(ret):
    """The comment of the one state that failed: a bad pillar is one short line, not a render error per sls."""
    assert isinstance(ret.data, dict), ret.data
    (failed,) = [state for state in ret.data.values() if state["result"] is not True]
    assert failed["result"] is False and failed["changes"] == {}
    assert "\n" not in failed["comment"] and len(failed["comment"]) < 400, failed["comment"]
    return failed["comment"]


def test_sysctl_settings_are_planned_with_test_true(salt_cli, pillar, clean):
    # Only test=True: the tests never change the host's own sysctls.
    path = "/proc/sys/net/ipv4/neigh/default/gc_stale_time"
    with open(path, encoding="ascii") as current:
        value = int(current.read())
    pillar.set({"sysctl": {"net.ipv4.neigh.default.gc_stale_time": value + 1}})

    ret = salt_cli.run("state.apply", "arp_hygiene.sysctl", "test=True", minion_tgt=DB)

    assert ret.returncode == 0, ret
    (state,) = [value for key, value in ret.data.items() if key.startswith("sysctl_|-")]
    assert state["result"] is None
    assert state["comment"] == f"Sysctl option net.ipv4.neigh.default.gc_stale_time set to be changed to {value + 1}"
    with open(path, encoding="ascii") as after:
        assert int(after.read()) == value
    assert not os.path.exists("/etc/sysctl.d/60-arp-hygiene.conf")


def test_a_pillar_that_is_not_a_mapping_is_refused_not_read_as_the_defaults(salt_cli, pillar, nothing_installed):
    # false, [] and "" alike (tests/unit/formula/test_formula_map.py): pillar false, from the pillar tree.
    value = False
    pillar.set(value)

    ret = salt_cli.run("state.highstate", minion_tgt=DB)

    assert ret.returncode != 0
    error = one_line_error(ret)
    assert error.startswith(
        f"pillar arp_hygiene is {json.dumps(value)}; allowed: a mapping of the keys in pillar.example"
    )
    assert "set method: none and enforce: false" in error
    assert job_lines() == []


def test_the_cron_job_runs_live_on_a_minion_whose_test_option_is_on(salt_cli, pillar, clean, table, report, tmp_path):
    ns, before = table
    config = tmp_path / "config"
    config.mkdir()
    (config / "minion").write_text(
        f"root_dir: {tmp_path / 'root'}\nfile_client: local\nid: dry-run-minion\ntest: true\n"
    )
    pillar.set(settings(ns, report, enforce=False, config_dir=str(config)))
    apply_cron(salt_cli)
    line = job_lines()[1]
    assert f"--config-dir {config} " in line and " test=false" in line

    assert run_as_cron(line).returncode == 0

    assert "would_delete" not in json.loads(report.read_text())["local"]
    assert (after := snapshot(ns)) == without_collected(without(before, stale(before)), after)
