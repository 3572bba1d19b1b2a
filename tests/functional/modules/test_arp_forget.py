"""arp.forget and arp.addresses on real tables: only wrong entries go; a host's own addresses as it states them."""

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import lab, segments
from tests.support.tables import keys, snapshot, without_collected

# The a0 side of the table fixture (tests/support/tables.every_state), both families.
A_SIDE = "192.0.2.0/24,2001:db8:a::/64"
OWNER = {"192.0.2.11": "02:00:00:00:00:0b"}  # the MAC that 192.0.2.11's entry holds: it is right


def wrong(before):
    """The oracle: a0's entries that hold a MAC, learned, not a routing daemon's, and not the owner's."""
    return {
        (dst, dev)
        for (dst, dev), (lladdr, state, flags) in before.items()
        if dev == "a0"
        and lladdr
        and state in ("reachable", "stale", "delay", "probe")
        and "extern_learn" not in flags
        and OWNER.get(dst) != lladdr
    }


def test_forget_deletes_only_the_wrong_learned_entries(arp, table):
    ns, before = table
    gone = wrong(before)
    assert len(gone) == 8  # stale, delay, probe in both families; reachable and the router in IPv6

    planned = arp.forget(A_SIDE, lladdr=OWNER, netns=ns.name, test=True)
    assert (after := snapshot(ns)) == without_collected(before, after), "test mode changed the table"
    result = arp.forget(A_SIDE, lladdr=OWNER, netns=ns.name)

    assert keys(result["deleted"]) == gone == keys(planned["would_delete"])
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in gone}, after
    )
    kept = result["kept"]["a0"]
    assert kept["192.0.2.11"] == "holds the owner's MAC"
    assert kept["192.0.2.16"] == kept["2001:db8:a::10"] == "permanent: configuration, never forgotten"
    assert kept["192.0.2.17"] == "noarp: configuration, never forgotten"
    assert kept["192.0.2.50"] == "extern_learn: a routing daemon's entry"
    assert kept["192.0.2.14"] == "failed: holds no MAC"
    assert "b0" not in result["kept"] and result["not_cached"] == []


@pytest.mark.once
def test_addresses_that_no_entry_holds_are_reported_as_not_cached(arp, table):
    ns, before = table
    result = arp.forget("192.0.2.10, 192.0.2.99", netns=ns.name)
    assert keys(result["deleted"]) == {("192.0.2.10", "a0")}
    assert result["not_cached"] == ["192.0.2.99"]
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key != ("192.0.2.10", "a0")}, after
    )


def test_settings_from_the_minions_configuration_choose_the_namespace_and_exclude(arp, loaders, table):
    ns, before = table
    # As a database minion's pillar arp_hygiene:flush would say it (config.get reads opts first).
    loaders.opts["arp_hygiene_test"] = {
        "flush": {"netns": ns.name, "exclude": ["192.0.2.12"], "network": "192.0.2.0/24"}
    }
    try:
        result = arp.forget("192.0.2.10,192.0.2.12,2001:db8:a::10", settings="arp_hygiene_test:flush")
        # The netns argument wins over the setting's.
        with pytest.raises(SaltInvocationError, match="network namespace 'arph-missing' does not exist"):
            arp.forget("192.0.2.10", settings="arp_hygiene_test:flush", netns="arph-missing")
        loaders.opts["arp_hygiene_test"] = {"flush": ["not", "a", "mapping"]}
        with pytest.raises(SaltInvocationError, match="arp_hygiene_test:flush must be a mapping"):
            arp.forget("192.0.2.11", settings="arp_hygiene_test:flush", netns=ns.name)
    finally:
        del loaders.opts["arp_hygiene_test"]

    assert result["deleted"] == {"a0": {"192.0.2.10": "02:00:00:00:00:0a"}}
    assert result["kept"] == {"a0": {"192.0.2.12": "excluded"}}
    # 2001:db8:a::10 is outside the setting's network: as if not cached.
    assert result["not_cached"] == ["2001:db8:a::10"]
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key != ("192.0.2.10", "a0")}, after
    )


@pytest.mark.once
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"addresses": ""}, "addresses is empty"),
        ({"addresses": "192.0.2.300"}, "'192.0.2.300' is not an IPv4 or IPv6 address or CIDR"),
        ({"addresses": "192.0.2.10", "lladdr": "02:00:00"}, "'02:00:00' is not a MAC"),
        ({"addresses": "192.0.2.10", "lladdr": {"192.0.2.x": "02:00:00:00:00:0a"}}, "'192.0.2.x' is not an IPv4"),
        ({"addresses": "192.0.2.10", "interface": "eth9"}, "no interface named 'eth9'"),
        ({"addresses": "fe80::1%eth9"}, "no interface named 'eth9'"),
        ({"addresses": "192.0.2.10", "family": "ipx"}, "unknown family 'ipx'"),
        ({"addresses": "192.0.2.10", "netns": "arph-missing"}, "network namespace 'arph-missing' does not exist"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(arp, table, arguments, message):
    ns, before = table
    arguments = {"netns": ns.name} | arguments
    with pytest.raises(SaltInvocationError, match=message.replace("(", r"\(")):
        arp.forget(**arguments)
    assert (after := snapshot(ns)) == without_collected(before, after)


@pytest.mark.once
@pytest.mark.traffic
def test_forgetting_a_reachable_black_hole_heals_it_and_a_second_call_keeps_the_right_entry(arp, netlab):
    hole = segments.BlackHole(netlab, state="reachable")
    assert not hole.connect()

    result = arp.forget(lab.WORKER_IP, lladdr=lab.NEW_MAC, netns=hole.db.name)

    assert result["deleted"] == {"eth0": {lab.WORKER_IP: lab.OLD_MAC}}
    assert hole.connect()
    assert hole.entry()["lladdr"] == lab.NEW_MAC
    again = arp.forget(lab.WORKER_IP, lladdr=lab.NEW_MAC, netns=hole.db.name)
    assert again["deleted"] == {} and again["kept"] == {"eth0": {lab.WORKER_IP: "holds the owner's MAC"}}
    assert hole.entry()["lladdr"] == lab.NEW_MAC


@pytest.mark.once
def test_addresses_are_the_hosts_own_global_ones_with_their_mac(arp, netlab):
    segment = segments.Segment(netlab)
    worker = segment.host("worker", lab.WORKER_IP, lab.NEW_MAC, lab.WORKER_IP6)

    assert arp.addresses(netns=worker.name) == {lab.WORKER_IP: lab.NEW_MAC, lab.WORKER_IP6: lab.NEW_MAC}
    assert arp.addresses(netns=worker.name, family="inet") == {lab.WORKER_IP: lab.NEW_MAC}
    with pytest.raises(SaltInvocationError, match="no interface named 'eth9'"):
        arp.addresses(interface="eth9", netns=worker.name)


def test_addresses_take_the_announce_settings(arp, loaders, netlab):
    segment = segments.Segment(netlab)
    worker = segment.host("worker", lab.WORKER_IP, lab.NEW_MAC, lab.WORKER_IP6)
    loaders.opts["arp_hygiene_test"] = {"announce": {"netns": worker.name, "family": "inet6"}}
    try:
        assert arp.addresses(settings="arp_hygiene_test:announce") == {lab.WORKER_IP6: lab.NEW_MAC}
    finally:
        del loaders.opts["arp_hygiene_test"]
