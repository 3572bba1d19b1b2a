"""The arp.no_stale state through Salt's state system, on real kernel tables."""

import pytest

from tests.support.tables import keys, matches, snapshot, without_collected

WHERE = "network namespace "


@pytest.fixture
def states(loaders):
    return loaders.states


def test_no_stale_flushes_the_selection_or_reports_it(states, table, testmode):
    ns, before = table
    stale = {key for key, value in before.items() if matches(key, value, family="all")}

    ret = states.arp.no_stale(name="db neighbours", netns=ns.name, family="all", test=testmode)

    assert set(ret.changes) == {"deleted"}
    assert keys(ret.changes["deleted"]) == stale
    if testmode:
        assert ret.result is None
        assert (
            ret.comment
            == f"Would flush {len(stale)} neighbour entries (stale) from the neighbour table of {WHERE}{ns.name}."
        )
        assert (after := snapshot(ns)) == without_collected(before, after)
    else:
        assert ret.result is True
        assert (
            ret.comment
            == f"Flushed {len(stale)} neighbour entries (stale) from the neighbour table of {WHERE}{ns.name}."
        )
        assert (after := snapshot(ns)) == without_collected(
            {key: value for key, value in before.items() if key not in stale}, after
        )


def test_test_mode_reports_the_changes_a_live_run_makes(states, table):
    ns, _ = table
    arguments = {"netns": ns.name, "interface": "b0", "states": ["stale", "failed"], "family": "all"}

    planned = states.arp.no_stale(name="planned", test=True, **arguments)
    done = states.arp.no_stale(name="done", **arguments)

    assert planned.result is None and done.result is True
    assert keys(planned.changes["deleted"]) == keys(done.changes["deleted"])
    # stale and failed, IPv4 and IPv6, and the IPv6 router entry (stale), on b0
    assert len(keys(done.changes["deleted"])) == 5


def test_second_run_reports_no_changes(states, table, testmode):
    ns, before = table
    first = states.arp.no_stale(name="first", netns=ns.name)
    assert first.result is True and first.changes
    after_first = snapshot(ns)

    second = states.arp.no_stale(name="second", netns=ns.name, test=testmode)

    assert second.result is True
    assert second.changes == {}
    assert second.comment == f"No stale entries in the neighbour table of network namespace {ns.name}: already clean."
    assert (after := snapshot(ns)) == without_collected(after_first, after) != before


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"states": "stael"}, "unknown NUD state 'stael'"),
        ({"states": "permanent"}, "state 'permanent' is configuration"),
        ({"network": "192.0.2.0/33"}, "is not an IPv4 or IPv6 address or CIDR"),
        ({"interface": "eth9"}, "no interface named 'eth9'"),
        ({"netns": "arph-missing-namespace"}, "network namespace 'arph-missing-namespace' does not exist"),
    ],
)
def test_bad_arguments_fail_the_state_and_change_nothing(states, table, testmode, arguments, message):
    ns, before = table
    ret = states.arp.no_stale(name="bad", test=testmode, **{"netns": ns.name, **arguments})

    assert ret.result is False
    assert ret.changes == {}
    assert ret.comment.startswith("Cannot flush neighbour entries: ")
    assert message in ret.comment
    assert (after := snapshot(ns)) == without_collected(before, after)
