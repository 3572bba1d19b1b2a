"""The master engine's own rule, without a master: which events are a minion's start."""

import pytest

from tests.support import checkout_file


@pytest.fixture
def engine():
    return checkout_file("salt/_engines/arp_hygiene.py")


@pytest.mark.parametrize(
    "tag, data, minion",
    [
        ("salt/minion/web7/start", {"id": "web7", "cmd": "_minion_event"}, "web7"),
        # The id in the tag must be the one the master checked the sender against.
        ("salt/minion/db1/start", {"id": "web7"}, None),
        ("salt/minion/web7/start", {}, None),
        ("salt/minion/web7/start", "Minion web7 started", None),
        ("salt/minion/web7/stop", {"id": "web7"}, None),
        ("salt/minion/web7/start/more", {"id": "web7"}, None),
        ("minion_start", {"id": "web7"}, None),
        # A syndic's copy on the master of masters (its own-tag copy is left by the runner: no key here).
        ("syndic/syndic1/salt/minion/web7/start", {"id": "web7"}, None),
        ("salt/job/20261206/ret/web7", {"id": "web7"}, None),
    ],
)
def test_only_a_minions_own_start_event_names_a_started_minion(engine, tag, data, minion):
    assert engine.started_minion(tag, data) == minion


def test_the_targets_are_asked_at_start_then_every_refresh_but_never_within_quiet_seconds_of_a_start(engine):
    answers = [["db1"], {"error": "no accepted minion matches the target", "retcode": 1}, ["db1", "db2"]]
    targets = engine.Targets(lambda: answers.pop(0))
    assert targets.due(now=0.0) and targets.ids is None
    targets.refresh()
    assert targets.ids == ["db1"]
    asked = targets.when
    assert not targets.due(now=asked + engine.TARGETS_REFRESH - 1)
    assert targets.due(now=asked + engine.TARGETS_REFRESH)
    targets.last_start = asked + engine.TARGETS_REFRESH - 1
    assert not targets.due(now=asked + engine.TARGETS_REFRESH)
    assert targets.due(now=targets.last_start + engine.QUIET)
    # An error leaves the targets to the runner, which resolves them itself (and says why not).
    targets.refresh()
    assert targets.ids is None
    targets.refresh()
    assert targets.ids == ["db1", "db2"]
