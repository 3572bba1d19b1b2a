"""arp.flush_stale and arp.flush against real kernel tables: what goes, what stays."""

import threading

import pytest
import salt.loader
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.support import lab
from tests.support.tables import LEARNED, every_state, keys, matches, snapshot, without_collected


@pytest.mark.parametrize(
    "arguments, oracle",
    [
        ({}, {}),
        ({"interface": "a0"}, {"interfaces": ["a0"]}),
        ({"family": "inet6"}, {"family": "inet6"}),
        (
            {"family": "all", "states": "stale,failed,incomplete"},
            {"family": "all", "states": ("stale", "failed", "incomplete")},
        ),
        ({"states": ["reachable", "delay", "probe"]}, {"states": ("reachable", "delay", "probe")}),
        (
            # The network's stale entry (.10) excluded; its probe entry (.13)
            # goes, and its failed one (.14) where the kernel's garbage
            # collection has not taken it first (a busy host's).
            {"network": "198.51.100.0/24", "exclude": ["198.51.100.10"], "states": "stale,failed,probe"},
            {"network": "198.51.100.0/24", "exclude": ["198.51.100.10/32"], "states": ("stale", "failed", "probe")},
        ),
        (
            {"family": "all", "exclude": "192.0.2.0/24,2001:db8:b::/64"},
            {"family": "all", "exclude": ["192.0.2.0/24", "2001:db8:b::/64"]},
        ),
    ],
)
def test_flush_stale_deletes_exactly_the_selection(arp, table, arguments, oracle):
    ns, before = table
    expected_gone = {key for key, value in before.items() if matches(key, value, **oracle)}
    assert expected_gone, "the selection must match something"

    result = arp.flush_stale(netns=ns.name, **arguments)

    assert keys(result["deleted"]) == expected_gone
    assert result["vanished"] == {}
    # The report maps each address to the MAC the entry held (null for none).
    assert result["deleted"] == {
        ifname: {dst: before[(dst, ifname)][0] for dst in entries} for ifname, entries in result["deleted"].items()
    }
    after = snapshot(ns)
    assert after == without_collected({key: value for key, value in before.items() if key not in expected_gone}, after)


def test_min_age_keeps_recently_confirmed_entries(arp, table):
    """Entries added as stale were confirmed long ago (twice base_reachable_time); reachable ones just now."""
    ns, before = table
    ages = {(e["dst"], e["ifname"]): e["confirmed"] for e in arp.list(netns=ns.name)}
    assert ages[("192.0.2.10", "a0")] > 3600 > 60 > ages[("192.0.2.11", "a0")]

    result = arp.flush_stale(states="stale,reachable", min_age=60, netns=ns.name)

    gone = {key for key, value in before.items() if matches(key, value, states=("stale",))}
    assert keys(result["deleted"]) == gone
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in gone}, after
    )


def test_flush_deletes_every_learned_entry_and_keeps_configuration(arp, table):
    ns, before = table
    result = arp.flush(family="all", netns=ns.name)

    expected_gone = {key for key, value in before.items() if matches(key, value, states=LEARNED, family="all")}
    assert keys(result["deleted"]) == expected_gone
    kept = snapshot(ns)
    assert kept == {key: value for key, value in before.items() if key not in expected_gone}
    assert {state for _, state, flags in kept.values() if "extern_learn" not in flags} == {"permanent", "noarp"}


@pytest.mark.parametrize("function", ["flush_stale", "flush"])
def test_test_mode_deletes_nothing_and_reports_what_a_live_run_deletes(arp, table, function):
    ns, before = table
    planned = getattr(arp, function)(family="all", netns=ns.name, test=True)
    assert set(planned) == {"would_delete"} and planned["would_delete"]
    assert (after := snapshot(ns)) == without_collected(before, after)

    done = getattr(arp, function)(family="all", netns=ns.name)
    assert planned["would_delete"] == done["deleted"]
    assert done["vanished"] == {}


@pytest.mark.once
def test_two_flushes_at_once_both_succeed(arp, table):
    ns, before = table
    results, errors = [], []

    def flush():
        try:
            results.append(arp.flush(family="all", netns=ns.name))
        except Exception as err:  # pylint: disable=broad-except
            errors.append(err)

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == [] and len(results) == 2
    expected_gone = {key for key, value in before.items() if matches(key, value, states=LEARNED, family="all")}
    first, second = results
    # Each entry is deleted by exactly one of them; the other found it gone.
    assert keys(first["deleted"]) | keys(second["deleted"]) == expected_gone
    assert not keys(first["deleted"]) & keys(second["deleted"])
    for result in results:
        assert keys(result["deleted"]) | keys(result["vanished"]) <= expected_gone
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in expected_gone}, after
    )


@pytest.mark.once
@pytest.mark.parametrize(
    "function, arguments, message",
    [
        ("flush_stale", {"interface": "eth9"}, "no interface named 'eth9' in network namespace"),
        ("flush_stale", {"interface": ["a0", "nope0"]}, "no interface named 'nope0'"),
        (
            "flush_stale",
            {"states": "stale,bogus"},
            "unknown NUD state 'bogus'; valid states: incomplete, reachable, stale",
        ),
        ("flush", {"states": "permanent"}, "state 'permanent' is configuration"),
        ("flush_stale", {"states": ["stale", "noarp"]}, "state 'noarp' is configuration"),
        ("flush_stale", {"states": ""}, "states is empty"),
        ("flush_stale", {"family": "ipx"}, "unknown family 'ipx'; valid families: inet, inet6, all"),
        ("flush_stale", {"network": "192.0.2.0/33"}, "network: '192.0.2.0/33' is not an IPv4 or IPv6"),
        (
            "flush_stale",
            {"network": "2001:db8::/32", "family": "inet"},
            "network 2001:db8::/32 is IPv6 but family is 'inet'",
        ),
        ("flush", {"exclude": "192.0.2.1,not-an-address"}, "exclude: 'not-an-address' is not"),
        ("flush_stale", {"min_age": -5}, "min_age must be a number of seconds from 0, finite, not -5"),
        ("flush_stale", {"min_age": "soon"}, "min_age must be a number of seconds"),
        (
            "flush_stale",
            {"netns": "arph-no-such-namespace"},
            "network namespace 'arph-no-such-namespace' does not exist",
        ),
        ("list", {"netns": "../../proc/1/ns/net"}, "does not exist"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(arp, table, function, arguments, message):
    ns, before = table
    arguments.setdefault("netns", ns.name)
    with pytest.raises(SaltInvocationError) as refused:
        getattr(arp, function)(family=arguments.pop("family", "all"), **arguments)
    assert message in str(refused.value)
    assert (after := snapshot(ns)) == without_collected(before, after)


def test_states_none_means_the_documented_default_stale(arp, table):
    ns, before = table
    result = arp.flush_stale(states=None, family="all", netns=ns.name)
    assert keys(result["deleted"]) == {key for key, value in before.items() if matches(key, value, family="all")}


@pytest.mark.parametrize("interface", ["", [""], " ", ["a0", " "]])
def test_a_blank_interface_name_never_means_every_interface(arp, table, interface):
    ns, before = table
    with pytest.raises(SaltInvocationError, match="interface names cannot be empty or blank"):
        arp.flush_stale(interface=interface, netns=ns.name)
    assert (after := snapshot(ns)) == without_collected(before, after)


def test_family_is_read_in_any_case(arp, table):
    ns, before = table
    result = arp.flush_stale(family="INET6", netns=ns.name, test=True)
    assert keys(result["would_delete"]) == {key for key, value in before.items() if matches(key, value, family="inet6")}


@pytest.mark.once
def test_a_scope_id_limits_network_and_exclude_to_its_interface(arp, table):
    ns, _ = table
    lab.add_entries(
        ns,
        [{"dst": "fe80::1", "ifname": side, "state": "stale", "lladdr": "02:00:00:00:fe:01"} for side in ("a0", "b0")]
        + [{"dst": "fe80::2", "ifname": "a0", "state": "stale", "lladdr": "02:00:00:00:fe:02"}],
    )

    inside = arp.flush_stale(family="inet6", network="fe80::%a0/64", netns=ns.name, test=True)
    assert keys(inside["would_delete"]) == {("fe80::1", "a0"), ("fe80::2", "a0")}

    done = arp.flush_stale(family="inet6", network="fe80::/64", exclude="fe80::1%a0", netns=ns.name)
    assert keys(done["deleted"]) == {("fe80::2", "a0"), ("fe80::1", "b0")}
    assert ("fe80::1", "a0") in snapshot(ns), "the excluded router stays"

    with pytest.raises(SaltInvocationError, match="no interface named 'eth7'"):
        arp.flush_stale(family="inet6", exclude="fe80::1%eth7", netns=ns.name)


@pytest.mark.once
def test_managed_entries_are_listed_as_such_and_never_flushed(arp, table):
    ns, _ = table
    ns.ip("neigh", "add", "192.0.2.77", "dev", "a0", "managed")
    listed = [entry for entry in arp.list(netns=ns.name) if entry["dst"] == "192.0.2.77"]
    assert len(listed) == 1 and "managed" in listed[0]["flags"], listed

    result = arp.flush(netns=ns.name)

    assert "192.0.2.77" not in result["deleted"].get("a0", {})
    assert "192.0.2.77" in {dst for dst, _ in snapshot(ns)}


def before_deletes(monkeypatch, action, flush):
    """
    Run ``action(self, messages, positions)`` between the dump and the
    deletes of ``flush`` (a function the loader loaded), in the module copy
    that the function runs in.
    """
    socket_class = flush.func.__globals__["netlink"].Socket

    def delete(self, messages, positions, original=socket_class.delete):
        action(self, messages, positions)
        return original(self, messages, positions)

    monkeypatch.setattr(socket_class, "delete", delete)


@pytest.mark.once
def test_a_link_deleted_mid_flush_makes_its_entries_vanished_not_an_error(arp, table, monkeypatch):
    ns, before = table
    before_deletes(monkeypatch, lambda *_: ns.ip("link", "del", "b0"), arp.flush_stale)
    result = arp.flush_stale(family="all", netns=ns.name)

    stale = {key for key, value in before.items() if matches(key, value, family="all")}
    assert keys(result["deleted"]) == {key for key in stale if key[1] == "a0"}
    assert keys(result["vanished"]) == {key for key in stale if key[1] == "b0"}


def test_a_flush_that_fails_midway_reports_what_it_deleted(arp, loaders, table, monkeypatch):
    ns, before = table

    def first_request_malformed(self, messages, positions):
        messages[positions[0] + 28] = 3  # NDA_DST's length: the kernel refuses that request (EINVAL)

    before_deletes(monkeypatch, first_request_malformed, arp.flush_stale)
    stale = {key for key, value in before.items() if matches(key, value, family="all")}

    with pytest.raises(CommandExecutionError, match=f"1 of {len(stale)} deletes failed") as raised:
        arp.flush_stale(family="all", netns=ns.name)
    info = raised.value.info
    assert len(keys(info["deleted"])) == len(stale) - 1 and keys(info["failed"]) <= stale
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in keys(info["deleted"])}, after
    )

    # The state, as the loader loads it over the execution modules patched above.
    lab.add_entries(ns, every_state())  # the stale entries again
    state_functions = salt.loader.states(
        loaders.opts, functions=loaders.modules, utils=loaders.utils, serializers=loaders.serializers
    )
    ret = state_functions["arp.no_stale"](name="db", family="all", netns=ns.name)
    assert ret["result"] is False and ret["comment"].startswith("Cannot flush neighbour entries: 1 of ")
    assert len(keys(ret["changes"]["deleted"])) == len(stale) - 1, "the state reports what it changed"
