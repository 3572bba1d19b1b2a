"""The runner's own logic, without a master: the merge of claims, and its configuration checks."""

import os
import time

import pytest

from tests.support import checkout_file


@pytest.fixture
def runner():
    module = checkout_file("salt/_runners/arp_hygiene.py")
    module.__opts__ = {}
    return module


def test_an_address_two_minions_claim_is_a_conflict_and_no_ones(runner):
    claims = {
        "web1": {"192.0.2.20": "02:00:00:00:00:01", "192.0.2.99": "02:00:00:00:00:01"},
        "web2": {"192.0.2.21": "02:00:00:00:00:02", "192.0.2.99": "02:00:00:00:00:02"},
    }
    owners, conflicts = runner._owners(claims)
    assert owners == {"192.0.2.20": ("web1", "02:00:00:00:00:01"), "192.0.2.21": ("web2", "02:00:00:00:00:02")}
    assert conflicts == {"192.0.2.99": {"web1": "02:00:00:00:00:01", "web2": "02:00:00:00:00:02"}}


def test_the_masters_configuration_gives_the_defaults_and_arguments_win(runner):
    runner.__opts__ = {"arp_hygiene": {"targets": "db*", "tgt_type": "glob", "timeout": 5}}
    assert runner._config(None, None, None) == {"tgt": "db*", "tgt_type": "glob", "timeout": 5, "batch_wait": 0.2}
    assert runner._config("db1", "list", 3)["tgt"] == "db1"


@pytest.mark.parametrize(
    "configured, message",
    [
        ({"target": "db*"}, "unknown keys: target"),
        ({"tgt_type": "sql"}, "tgt_type is 'sql'; allowed: glob, pcre, list,"),
        ({"timeout": True}, "timeout is True; allowed: a number of seconds from 0 to 600"),
        ({"batch_wait": 601}, "batch_wait is 601; allowed: a number of seconds from 0 to 600"),
        ({"targets": ""}, "tgt must name the minions that forget"),
    ],
)
def test_a_bad_master_configuration_is_refused_with_its_key(runner, configured, message):
    runner.__opts__ = {"arp_hygiene": configured}
    with pytest.raises(runner.RunnerError, match=message):
        runner._config(None, None, None)


def test_a_targets_answers_to_several_forwards_are_one_answer(runner):
    first = {"deleted": {"eth0": {"192.0.2.20": "02:00:00:0a:00:01"}}, "kept": {}, "not_cached": ["192.0.2.30"]}
    second = {
        "deleted": {"eth0": {"192.0.2.21": "02:00:00:0a:00:02"}, "eth1": {"198.51.100.5": "02:00:00:0a:00:03"}},
        "kept": {"eth0": {"192.0.2.22": "excluded"}},
        "not_cached": ["192.0.2.31", "192.0.2.30"],
        "vanished": {},
    }
    assert runner._merged(runner._merged({}, first), second) == {
        "deleted": {
            "eth0": {"192.0.2.20": "02:00:00:0a:00:01", "192.0.2.21": "02:00:00:0a:00:02"},
            "eth1": {"198.51.100.5": "02:00:00:0a:00:03"},
        },
        "kept": {"eth0": {"192.0.2.22": "excluded"}},
        "not_cached": ["192.0.2.30", "192.0.2.31"],
        "vanished": {},
    }
    assert first["deleted"] == {"eth0": {"192.0.2.20": "02:00:00:0a:00:01"}}, "merged changed its argument"


def test_a_batch_takes_a_list_of_ids_once_each_and_sorts_them_by_key_itself(runner):
    # (The check of each id against the master's keys: test_reactor.py's bad input;
    # a batch's ids without a key here: test_topologies.py's master of masters.)
    assert runner._minion_ids(["web1", "web2", "web1"], check=False) == ["web1", "web2"]
    assert runner._minion_ids("web1", check=False) == ["web1"]
    with pytest.raises(runner.RunnerError, match="not a pattern or a list: 'web\\*'"):
        runner._minion_ids(["web1", "web*"], check=False)
    with pytest.raises(runner.RunnerError, match="minion is missing"):
        runner._minion_ids([], check=False)


GRAINS = {
    "hwaddr_interfaces": {"lo": "00:00:00:00:00:00", "eth0": "02:00:00:0A:00:01", "tun0": "0.0.0.0", "ib0": "80:00"},
    "ip4_interfaces": {"lo": ["127.0.0.1"], "eth0": ["192.0.2.20", "169.254.1.1"], "tun0": ["198.51.100.9"]},
    "ip6_interfaces": {"lo": ["::1"], "eth0": ["2001:db8::20", "fe80::1", "ff02::1"], "ib0": ["2001:db8::99"]},
}


def test_grains_forecast_the_global_addresses_on_ethernet_macs(runner):
    assert runner._cached_addresses(GRAINS) == {"192.0.2.20": "02:00:00:0a:00:01", "2001:db8::20": "02:00:00:0a:00:01"}
    assert runner._cached_addresses({}) == {}
    assert runner._cached_addresses({"hwaddr_interfaces": "eth0", "ip4_interfaces": {"eth0": ["192.0.2.20"]}}) == {}
    assert runner._cached_addresses({**GRAINS, "ip4_interfaces": {"eth0": "192.0.2.20"}}) == {
        "2001:db8::20": "02:00:00:0a:00:01"
    }
    assert runner._cached_addresses({**GRAINS, "ip4_interfaces": {"eth0": ["not an address"]}}) == {
        "2001:db8::20": "02:00:00:0a:00:01"
    }


def test_only_grains_cached_lately_are_taken(runner, tmp_path):
    import salt.cache  # pylint: disable=import-outside-toplevel
    import salt.config  # pylint: disable=import-outside-toplevel

    # A master's configuration: Salt 3006's and 3007's loader needs more of it than 3008's.
    opts = {**salt.config.DEFAULT_MASTER_OPTS, "cachedir": str(tmp_path), "minion_data_cache": True}
    opts["extension_modules"] = str(tmp_path / "extmods")
    runner.__opts__ = opts
    cache = salt.cache.factory(opts)
    cache.store("grains", "new", GRAINS)  # Salt 3008's bank
    cache.store("minions/old-layout", "data", {"grains": GRAINS, "pillar": {}})  # 3006's and 3007's
    cache.store("grains", "stale", GRAINS)
    stale = time.time() - runner.CACHE_FRESH - 60
    os.utime(os.path.join(tmp_path, "grains", "stale.p"), (stale, stale))
    assert runner._cached_grains(cache, ["new", "old-layout", "stale", "absent"]) == {
        "new": GRAINS,
        "old-layout": GRAINS,
    }
    runner.__opts__ = {**opts, "minion_data_cache": False}
    assert runner._cached_grains(cache, ["new"]) == {}


def bookkeeping(runner):
    """A heal's claim bookkeeping alone (no bus, no publication)."""
    heal = runner._Heal.__new__(runner._Heal)
    heal.claims, heal.claimed, heal.pending, heal.claimants, heal.predicted = {}, {}, {}, set(), {}
    heal.pending_since = None
    return heal


def test_an_answer_forwards_only_what_the_grains_got_wrong_and_withdraws_what_they_named_more(runner):
    heal = bookkeeping(runner)
    heal.predicted = {"w1": {"192.0.2.20": "02:00:00:0a:00:01", "192.0.2.21": "02:00:00:0a:00:01"}}
    heal._pend("w1", heal.predicted["w1"], at_once=True)
    assert heal.pending == heal.predicted["w1"]
    assert time.monotonic() - heal.pending_since >= runner.FORWARD_GATHER, "a forecast waits for no gathering"
    heal.pending = {}  # forwarded
    heal._claim("w1", {"192.0.2.20": "02:00:00:0a:00:01", "192.0.2.22": "02:00:00:0a:00:01"})
    assert heal.pending == {"192.0.2.22": "02:00:00:0a:00:01"}
    assert "w1" not in heal.claimed["192.0.2.21"]
    # Not yet forwarded: what the answer does not claim is withdrawn, a MAC it corrects replaces the grains'.
    heal = bookkeeping(runner)
    heal.predicted = {"w2": {"192.0.2.30": "02:00:00:0a:00:02", "192.0.2.31": "02:00:00:0a:00:02"}}
    heal._pend("w2", heal.predicted["w2"], at_once=True)
    heal._claim("w2", {"192.0.2.30": "02:00:00:0a:00:09"})
    assert heal.pending == {"192.0.2.30": "02:00:00:0a:00:09"}


def test_an_address_that_another_minions_grains_name_too_is_a_conflict(runner):
    heal = bookkeeping(runner)
    heal._pend("w1", {"192.0.2.40": "02:00:00:0a:00:01"}, at_once=True)
    heal._pend("w2", {"192.0.2.40": "02:00:00:0a:00:02"}, at_once=True)
    assert heal.pending == {}
    assert heal.claimed["192.0.2.40"] == {"w1": "02:00:00:0a:00:01", "w2": "02:00:00:0a:00:02"}


class Published:
    """A forwarding publisher's stand-in: the jobs handed to it."""

    function, busy = "arp.forget", False

    def __init__(self):
        self.jobs = []

    def publish(self, jid, minions, kwarg, timeout):
        self.jobs.append((minions, kwarg["lladdr"]))


def forwarding(runner, targets):
    """A heal's forwarding bookkeeping alone: its forwards are kept in ``heal.forwarding.jobs``."""
    heal = bookkeeping(runner)
    heal.config, heal.test, heal.open, heal.jobs = {"timeout": 10}, False, {}, {"arp.forget": 0}
    heal.owed, heal.missed, heal.forwarded_again, heal.failed, heal.silent = {}, set(), set(), {}, []
    heal.to_ask, heal.to_confirm, heal.targets, heal.forwarding = [], [], lambda: targets, Published()
    heal.asking = Published()
    return heal


def answered(heal, target):
    """``target`` answers the forward it waits on."""
    for job in heal.open.values():
        job["waiting"].discard(target)
    heal.open = {jid: job for jid, job in heal.open.items() if job["waiting"]}
    heal.missed.discard(target)


MAC1, MAC9 = "02:00:00:0a:00:01", "02:00:00:0a:00:09"


def test_each_target_paces_its_own_forwards_and_gets_what_it_is_owed_in_one(runner):
    heal = forwarding(runner, ["db1", "db2", "db3"])
    heal._pend("w1", {"192.0.2.20": MAC1}, at_once=True)
    heal._forward()
    assert heal.forwarding.jobs == [(["db1", "db2", "db3"], {"192.0.2.20": MAC1})]
    answered(heal, "db3")
    # Two more answers while db1 and db2 have not answered: db3 gets them at once, the others owe them.
    heal._pend("w2", {"192.0.2.21": MAC1}, at_once=True)
    heal._forward()
    heal._pend("w3", {"192.0.2.22": MAC1}, at_once=True)
    heal._forward()
    assert heal.forwarding.jobs[1:] == [(["db3"], {"192.0.2.21": MAC1})]
    assert heal.owed == dict.fromkeys(["db1", "db2"], {"192.0.2.21": MAC1, "192.0.2.22": MAC1}) | {
        "db3": {"192.0.2.22": MAC1}
    }
    answered(heal, "db1")
    answered(heal, "db2")
    heal._forward()
    assert heal.forwarding.jobs[2] == (["db1", "db2"], {"192.0.2.21": MAC1, "192.0.2.22": MAC1})
    assert not heal._idle()


def test_a_forward_a_target_did_not_answer_goes_once_more_with_the_claims_that_still_hold(runner):
    heal = forwarding(runner, ["db1", "db2", "db3"])
    heal._claim("w1", {"192.0.2.20": MAC1, "192.0.2.21": MAC1})
    heal.pending_since -= runner.FORWARD_GATHER
    heal._forward()
    answered(heal, "db3")
    # Since the forward, w1 answered again: 192.0.2.21 has another MAC now (owed on its own).
    heal._pend("w1", {"192.0.2.21": MAC9})
    heal.pending_since -= runner.FORWARD_GATHER
    heal._forward()
    assert heal.forwarding.jobs[-1] == (["db3"], {"192.0.2.21": MAC9})
    (first,) = [jid for jid, job in heal.open.items() if "db1" in job["waiting"]]
    heal.open[first]["deadline"] = 0
    heal._expire()
    assert heal.failed == {} and heal.forwarded_again == {"db1", "db2"}
    heal._forward()
    # The MAC the first forward claimed for 192.0.2.21 no longer holds: only the new one goes.
    assert heal.forwarding.jobs[-1] == (["db1", "db2"], {"192.0.2.20": MAC1, "192.0.2.21": MAC9})
    # The second forward: db2 and db3 answer, db1 does not; db1 fails, and is not owed it a third time.
    answered(heal, "db2")
    answered(heal, "db3")
    for job in heal.open.values():
        job["deadline"] = 0
    heal._expire()
    assert heal.failed == {"db1": "did not answer arp.forget within 10 s, forwarded twice"}
    assert heal.owed == {} and heal.open == {}


def test_a_target_never_forgets_its_own_address_and_a_conflict_goes_nowhere(runner):
    heal = forwarding(runner, ["db1", "db2"])
    heal._pend("db2", {"192.0.2.30": MAC1}, at_once=True)  # db2 started: its own address
    heal._pend("w1", {"192.0.2.31": MAC1}, at_once=True)
    heal._pend("w2", {"192.0.2.31": MAC9}, at_once=True)  # claimed twice
    heal._pend("w3", {"192.0.2.32": MAC1}, at_once=True)
    heal._forward()
    assert heal.forwarding.jobs == [(["db1"], {"192.0.2.30": MAC1, "192.0.2.32": MAC1})]
    heal._forward()
    assert heal.forwarding.jobs[1] == (["db2"], {"192.0.2.32": MAC1})
    assert heal.owed == {}


def test_a_target_takes_a_second_forward_after_forward_hold_and_never_a_third(runner):
    heal = forwarding(runner, ["db1"])
    for n in range(3):
        heal._pend(f"w{n}", {f"192.0.2.{40 + n}": MAC1}, at_once=True)
        heal._forward()
        for job in heal.open.values():
            job["published"] -= runner.FORWARD_HOLD  # went a second ago, unanswered
    assert [lladdr for _, lladdr in heal.forwarding.jobs] == [{"192.0.2.40": MAC1}, {"192.0.2.41": MAC1}]
    assert heal.owed == {"db1": {"192.0.2.42": MAC1}}
    answered_one = next(iter(heal.open))
    heal.open.pop(answered_one)
    heal._forward()
    assert heal.forwarding.jobs[-1] == (["db1"], {"192.0.2.42": MAC1}) and heal.owed == {}
