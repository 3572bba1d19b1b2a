"""
The arp states' contract, through Salt's loader with the execution module
replaced by canned answers (the real module's work is tested on the kernel
in tests/functional/states/): in test mode a state calls the module only in
test mode and predicts with result None; live it reports what changed; a
failure is result False with what changed before it.
"""

import os

import pytest
import salt.loader
import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

DELETED = {"eth0": {"192.0.2.1": "02:00:00:00:00:01", "192.0.2.2": "02:00:00:00:00:02"}}


class Module:
    """Canned answers for the execution module's functions, and the calls they got."""

    def __init__(self, **answers):
        self.answers, self.calls = answers, []

    def functions(self):
        return {f"arp.{name}": self._function(name) for name in ("flush_stale", "verify", "announce", "diagnose")}

    def _function(self, name):
        def call(**kwargs):
            self.calls.append((name, kwargs))
            answer = self.answers[name]
            answer = answer(kwargs) if callable(answer) else answer
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


@pytest.fixture
def states(minion_opts):
    def load(module, test=False):
        opts = dict(minion_opts, test=test)
        return salt.loader.states(opts, module.functions(), salt.loader.utils(opts), {})

    return load


def test_no_stale_in_test_mode_predicts_and_deletes_nothing(states):
    module = Module(flush_stale={"would_delete": DELETED})
    ret = states(module, test=True)["arp.no_stale"]("flush", interface="eth0", states=["stale", "failed"])
    assert ret == {
        "name": "flush",
        "result": None,
        "changes": {"deleted": DELETED},
        "comment": "Would flush 2 neighbour entries (stale, failed) from the neighbour table.",
    }
    assert [(name, kwargs["test"]) for name, kwargs in module.calls] == [("flush_stale", True)]
    assert "metrics_dir" not in module.calls[0][1], "a test run writes no metrics"


def test_no_stale_live_reports_what_it_deleted_and_what_vanished(states):
    vanished = {"eth0": {"192.0.2.3": None}}
    module = Module(flush_stale={"deleted": DELETED, "vanished": vanished})
    ret = states(module)["arp.no_stale"]("flush", netns="blue", metrics_dir="/srv/metrics")
    assert ret["result"] is True and ret["changes"] == {"deleted": DELETED, "vanished": vanished}
    assert ret["comment"] == (
        "Flushed 2 neighbour entries (stale) from the neighbour table of network namespace blue. "
        "1 neighbour entry vanished before their delete."
    )
    assert module.calls == [
        (
            "flush_stale",
            {
                "test": False,
                "metrics_dir": "/srv/metrics",
                "interface": None,
                "states": "stale",
                "family": "inet",
                "network": None,
                "exclude": None,
                "min_age": 0,
                "netns": "blue",
            },
        )
    ]


@pytest.mark.parametrize("test", [False, True], ids=["live", "test"])
def test_no_stale_with_nothing_to_do_is_clean(states, test):
    module = Module(flush_stale={"would_delete": {}} if test else {"deleted": {}, "vanished": {}})
    ret = states(module, test=test)["arp.no_stale"]("flush")
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == "No stale entries in the neighbour table: already clean."


def test_a_flush_that_fails_midway_reports_what_it_deleted(states):
    failure = CommandExecutionError("1 of 3 deletes failed", info={"deleted": DELETED, "vanished": {}, "failed": {}})
    ret = states(Module(flush_stale=failure))["arp.no_stale"]("flush")
    assert ret["result"] is False and ret["changes"] == {"deleted": DELETED}
    assert ret["comment"] == "Cannot flush neighbour entries: 1 of 3 deletes failed"


def test_a_bad_argument_fails_the_state_with_the_modules_words(states):
    refusal = SaltInvocationError("unknown NUD state 'wobbly'")
    ret = states(Module(flush_stale=refusal), test=True)["arp.no_stale"]("flush", states="wobbly")
    assert ret == {
        "name": "flush",
        "result": False,
        "changes": {},
        "comment": "Cannot flush neighbour entries: unknown NUD state 'wobbly'",
    }


def test_verified_in_test_mode_asks_nothing_and_says_how_many_a_live_run_would(states):
    module = Module(verify={"would_ask": DELETED, "skipped": {"eth1": {"192.0.2.9": "eth1 is down"}}})
    ret = states(module, test=True)["arp.verified"]("verify", family="all")
    assert ret["result"] is None and ret["changes"] == {}
    assert ret["comment"].startswith("Would ask the segment about 2 entries in the neighbour table")
    assert ret["comment"].endswith(" 1 skipped.")
    assert [(name, kwargs["fix"], kwargs["test"]) for name, kwargs in module.calls] == [("verify", True, True)]


def test_verified_live_reports_repairs_conflicts_and_static_mismatches(states):
    found = {
        "ok": {"eth0": {"192.0.2.1": "m1"}},
        "mismatch": {"eth0": {"192.0.2.2": {"cached": "m2", "answered": ["n2"]}, "192.0.2.5": {"cached": "s"}}},
        "conflict": {"eth0": {"192.0.2.3": {"cached": "m3", "answered": ["a", "b"]}}},
        "unanswered": {"eth0": {"192.0.2.4": "m4"}},
        "skipped": {},
        "replaced": {"eth0": {"192.0.2.2": {"old": "m2", "new": "n2"}}},
        "deleted": {"eth0": {"192.0.2.4": "m4"}},
    }
    ret = states(Module(verify=found))["arp.verified"]("verify", timeout=2, rate=50)
    assert ret["result"] is True
    assert ret["changes"] == {"replaced": found["replaced"], "deleted": found["deleted"]}
    assert ret["comment"] == (
        "Asked about 5 entries in the neighbour table: 1 answered as cached, 1 unanswered. "
        "Replaced 1 neighbour entry holding a wrong MAC, deleted 1 neighbour entry nobody answered for. "
        "Several MACs answer for 192.0.2.3 on eth0: left alone, for a human to settle. "
        "Left alone although another MAC answered (static entries): 192.0.2.5 on eth0."
    )


def test_verified_that_fails_midway_reports_what_it_repaired(states):
    replaced = {"eth0": {"192.0.2.2": {"old": "m2", "new": "n2"}}}
    failure = CommandExecutionError("cannot replace", info={"replaced": replaced, "deleted": {}})
    ret = states(Module(verify=failure))["arp.verified"]("verify")
    assert ret == {
        "name": "verify",
        "result": False,
        "changes": {"replaced": replaced},
        "comment": "Cannot verify neighbour entries: cannot replace",
    }


@pytest.mark.parametrize("test", [False, True], ids=["live", "test"])
def test_announced_says_what_went_out_and_reports_no_change(states, test):
    key = "would_announce" if test else "announced"
    module = Module(announce={key: {"eth0": ["192.0.2.7", "2001:db8::7"]}})
    ret = states(module, test=test)["arp.announced"]("announce", interface="eth0")
    assert ret["result"] is True and ret["changes"] == {}
    verb = "Would announce" if test else "Announced"
    assert ret["comment"] == f"{verb} 192.0.2.7, 2001:db8::7 on eth0."
    assert module.calls[0][1]["test"] is test


def test_announced_that_fails_says_what_went_out_before(states):
    failure = CommandExecutionError("sending failed", info={"announced": {"eth0": ["192.0.2.7"]}})
    ret = states(Module(announce=failure))["arp.announced"]("announce")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "Cannot announce: sending failed Announced before: 192.0.2.7 on eth0."


def test_job_works_tries_the_job_in_test_mode_and_names_why_it_would_fail(states):
    module = Module(
        verify={"would_ask": {}, "skipped": {}}, flush_stale=SaltInvocationError("no interface named 'eth9'")
    )
    loaded = states(module)
    ret = loaded["arp.job_works"]("verify job", function="arp.verify", netns="db", test=False, __env__="base")
    assert ret["result"] is True and ret["changes"] == {}
    assert module.calls == [("verify", {"test": True, "netns": "db"})]
    ret = loaded["arp.job_works"]("flush job", function="arp.flush_stale", interface="eth9")
    assert ret["result"] is False and ret["comment"] == "flush job would fail on every run: no interface named 'eth9'"
    ret = loaded["arp.job_works"]("odd job", function="cmd.run")
    assert ret["result"] is False and "function must be arp.flush_stale, arp.verify or arp.announce" in ret["comment"]


BELOW = {
    "finding": "below_gc_thresh1",
    "risk": "The kernel's inet table holds 40 entries, below gc_thresh1 (128), where ...",
    "facts": {"kernel_entries": 40, "gc_thresh1": 128},
    "pillar": {"arp_hygiene": {"sysctl": {"net.ipv4.neigh.default.gc_thresh1": 0}}},
}


@pytest.mark.parametrize("test", [False, True], ids=["live", "test mode"])
def test_diagnosed_reports_findings_and_fails_only_on_those_named(states, test):
    module = Module(diagnose={"inet": {"findings": [BELOW]}, "inet6": {"findings": []}})
    diagnosed = states(module, test=test)["arp.diagnosed"]
    ret = diagnosed("table", netns="db")
    assert ret["result"] is True and ret["changes"] == {}, "reading changes nothing, in either mode"
    assert ret["comment"] == f"below_gc_thresh1: {BELOW['risk']} Pillar: {BELOW['pillar']}"
    assert module.calls == [("diagnose", {"interface": None, "family": "all", "netns": "db", "fail_on": None})]

    ret = diagnosed("table", fail_on=["below_gc_thresh1", "table_full"])
    assert ret["result"] is False
    assert ret["comment"].startswith("Findings that must not hold: below_gc_thresh1.\nbelow_gc_thresh1: ")
    assert diagnosed("table", fail_on=["table_full"])["result"] is True


def test_diagnosed_without_findings_says_so(states):
    module = Module(diagnose={"inet": {"findings": []}})
    ret = states(module)["arp.diagnosed"]("table", family="inet")
    assert ret["result"] is True and ret["comment"] == "No findings: nothing lets a wrong entry last here."


def test_diagnosed_fails_with_the_modules_error(states):
    module = Module(diagnose=SaltInvocationError("network namespace 'x' does not exist"))
    ret = states(module)["arp.diagnosed"]("table", netns="x")
    assert ret == {
        "name": "table",
        "result": False,
        "changes": {},
        "comment": "Cannot diagnose the neighbour table: network namespace 'x' does not exist",
    }


# arp.watching and arp.not_watching: the drop-in, and whether the daemon must restart.
SETTINGS = {"round_seconds": 60, "interface": ["eth0"], "family": "inet"}


@pytest.fixture
def watch_states(minion_opts, tmp_path):
    """The states, loaded for a daemon whose configuration file is in tmp_path (no restart command unless given)."""
    conf_file = tmp_path / "minion"
    conf_file.write_text("id: db1\n")
    (tmp_path / "minion.d").mkdir()

    def load(test=False, engines=None, restart_command=None, cli="salt-minion"):
        opts = dict(
            minion_opts,
            test=test,
            conf_file=str(conf_file),
            default_include="minion.d/*.conf",
            engines=engines or [],
            __cli=cli,
        )
        functions = {
            "config.get": lambda key, default="": restart_command if key == "minion_restart_command" else default
        }
        functions["arp.flush_stale"] = lambda **kwargs: {}
        return salt.loader.states(opts, functions, salt.loader.utils(opts), {})

    return load


def drop_in(tmp_path):
    return str(tmp_path / "minion.d" / "arp_hygiene_watch.conf")


def test_watching_in_test_mode_says_it_would_write_and_restart_and_writes_nothing(watch_states, tmp_path):
    states = watch_states(test=True, restart_command=["true"])
    ret = states["arp.watching"](drop_in(tmp_path), **SETTINGS)
    assert ret["result"] is None and set(ret["changes"]) == {"config", "restart"}, ret
    assert ret["comment"].startswith(f"Would write {drop_in(tmp_path)} and restart the salt-minion daemon"), ret
    assert not os.path.exists(drop_in(tmp_path))


def test_watching_converged_changes_nothing_and_a_new_file_alone_needs_no_restart(watch_states, tmp_path):
    running = [{"arp_watch": SETTINGS}]
    ret = watch_states(engines=running)["arp.watching"](drop_in(tmp_path), **SETTINGS)
    assert ret["result"] is True and ret["changes"] == {"config": drop_in(tmp_path)}, ret
    text = open(drop_in(tmp_path), encoding="utf-8").read()
    assert salt.utils.yaml.safe_load(text) == {"engines": [{"arp_watch": SETTINGS}]}
    ret = watch_states(test=True, engines=running)["arp.watching"](drop_in(tmp_path), **SETTINGS)
    assert ret["result"] is True and ret["changes"] == {}, ret


@pytest.mark.parametrize(
    "case, said",
    [
        ("engines in the file", "sets engines, which Salt replaces with those of a drop-in"),
        ("salt-call", "salt-call is not the daemon"),
        ("no restart", "cannot be restarted from Salt"),
        ("not included", "is not read by the salt-minion daemon"),
    ],
)
def test_watching_refuses_what_would_not_run_and_writes_nothing(watch_states, tmp_path, case, said):
    path = drop_in(tmp_path)
    if case == "engines in the file":
        (tmp_path / "minion").write_text("id: db1\nengines:\n  - pytest\n")
    if case == "not included":
        path = str(tmp_path / "arp_hygiene_watch.conf")
    cli = "salt-call" if case == "salt-call" else "salt-minion"
    states = watch_states(cli=cli, restart_command=None if case == "no restart" else ["true"])
    ret = states["arp.watching"](path, **SETTINGS)
    assert ret["result"] is False and ret["changes"] == {} and said in ret["comment"], ret
    assert not os.path.exists(path)


def test_not_watching_removes_the_drop_in_and_restarts_only_a_daemon_that_runs_it(watch_states, tmp_path):
    path = drop_in(tmp_path)
    ret = watch_states()["arp.not_watching"](path)
    assert ret["result"] is True and ret["changes"] == {} and "no engine of it to stop" in ret["comment"], ret
    watch_states(engines=[{"arp_watch": SETTINGS}])["arp.watching"](path, **SETTINGS)

    # Running it, in test mode: would remove and restart; changes nothing.
    ret = watch_states(test=True, engines=["pytest", {"arp_watch": SETTINGS}], restart_command=["true"])[
        "arp.not_watching"
    ](path)
    assert ret["result"] is None and set(ret["changes"]) == {"config", "restart"} and os.path.exists(path), ret
    # Not running it (another arp_watch runs): removed, no restart.
    ret = watch_states(engines=["pytest", {"arp_watch": {"round_seconds": 5}}])["arp.not_watching"](path)
    assert ret["result"] is True and set(ret["changes"]) == {"config"} and not os.path.exists(path), ret
