"""The runner's own logic, without a master: the merge of claims, and its configuration checks."""

import importlib.util
import os

import pytest

from tests.support import REPO


@pytest.fixture
def runner():
    spec = importlib.util.spec_from_file_location(
        "arp_hygiene_runner", os.path.join(REPO, "salt", "_runners", "arp_hygiene.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
    assert runner.merged(runner.merged({}, first), second) == {
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
