"""arp.list against real kernel tables."""

import errno
import os

import pytest
from pyroute2 import IPRoute

from tests.support import module_from_checkout
from tests.support.tables import without_collected

KEYS = {"dst", "lladdr", "ifname", "ifindex", "family", "state", "flags", "probes", "confirmed", "used", "updated"}


def as_snapshot(entries):
    return {
        (e["dst"], e["ifname"]): (
            e["lladdr"],
            e["state"],
            tuple(sorted(f for f in e["flags"] if f in ("router", "extern_learn"))),
        )
        for e in entries
        if not e["dst"].startswith("ff")
    }


def test_list_reports_every_entry_as_ip_does(arp, table):
    ns, before = table
    entries = arp.list(family="all", netns=ns.name)
    assert all(set(entry) == KEYS for entry in entries)
    assert (listed := as_snapshot(entries)) == without_collected(before, listed)
    assert {e["family"] for e in entries} == {"inet", "inet6"}
    for entry in entries:
        assert isinstance(entry["ifindex"], int) and entry["ifindex"] > 0
        assert all(isinstance(entry[age], float) and entry[age] >= 0 for age in ("confirmed", "used", "updated"))


def test_list_defaults_to_ipv4(arp, table):
    ns, before = table
    entries = arp.list(netns=ns.name)
    listed = as_snapshot(entries)
    assert listed == without_collected({key: value for key, value in before.items() if ":" not in key[0]}, listed)


@pytest.mark.once
def test_list_agrees_with_pyroute2_decoding(arp, table):
    """The module decodes the dump itself; pyroute2's own decoder must read the same."""
    ns, _ = table
    with IPRoute(netns=ns.name, flags=0) as ipr:
        names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
        theirs = {}
        for msg in ipr.get_neighbours():
            if msg.get("NDA_DST").startswith("ff"):
                continue  # the kernel's own IPv6 multicast entries come and go between two reads
            info = msg.get("NDA_CACHEINFO")
            theirs[(msg.get("NDA_DST"), msg["ifindex"])] = {
                "dst": msg.get("NDA_DST"),
                "lladdr": msg.get("NDA_LLADDR"),
                "ifname": names[msg["ifindex"]],
                "ifindex": msg["ifindex"],
                "state": msg["state"],
                "flags": msg["flags"],
                "probes": msg.get("NDA_PROBES"),
                "confirmed": info["ndm_confirmed"],
            }
    ours = {(e["dst"], e["ifindex"]): e for e in arp.list(family="all", netns=ns.name) if not e["dst"].startswith("ff")}
    assert len(ours) > 40 and set(ours) == set(theirs)
    from pyroute2.netlink.rtnl.ndmsg import flags as flag_bits
    from pyroute2.netlink.rtnl.ndmsg import states as state_bits

    for key, mine in ours.items():
        other = theirs[key]
        assert (mine["dst"], mine["lladdr"], mine["ifname"], mine["ifindex"]) == (
            other["dst"],
            other["lladdr"],
            other["ifname"],
            other["ifindex"],
        )
        assert state_bits[mine["state"]] == other["state"]
        renamed = {"extern_learn": "ext_learned"}
        assert sum(flag_bits[renamed.get(f, f)] for f in mine["flags"]) == other["flags"]
        assert mine["probes"] == (other["probes"] or 0)
        # Ages are read a few milliseconds apart.
        assert abs(mine["confirmed"] - other["confirmed"] / 100) < 2


@pytest.mark.parametrize(
    "selection, wanted",
    [
        ({"interface": "b0"}, lambda dst, dev, state: dev == "b0"),
        ({"interface": ["a0", "b0"], "states": "stale,failed"}, lambda dst, dev, state: state in ("stale", "failed")),
        ({"states": " STALE , Failed "}, lambda dst, dev, state: state in ("stale", "failed")),
        ({"states": ["permanent", "noarp"]}, lambda dst, dev, state: state in ("permanent", "noarp")),
        (
            {"network": "198.51.100.0/28"},
            lambda dst, dev, state: dst.startswith("198.51.100.1") and len(dst) == 13 and int(dst.split(".")[-1]) < 16,
        ),
        ({"family": "inet6", "network": "2001:db8:a::/64"}, lambda dst, dev, state: dst.startswith("2001:db8:a:")),
        (
            {"exclude": "192.0.2.0/24,198.51.100.11"},
            lambda dst, dev, state: dst.startswith("198.51.100.") and dst != "198.51.100.11",
        ),
    ],
)
def test_list_selection(arp, table, selection, wanted):
    ns, before = table
    if "family" not in selection:
        before = {key: value for key, value in before.items() if ":" not in key[0]}
    expected = {key: value for key, value in before.items() if wanted(key[0], key[1], value[1])}
    assert expected, "the selection must match something"
    assert (listed := as_snapshot(arp.list(netns=ns.name, **selection))) == without_collected(expected, listed)


@pytest.mark.once
def test_an_entry_on_a_link_newer_than_the_link_dump_is_named_after_it(table):
    """Names come from a second read of the links; a link gone by then gets a name no interface can have."""
    ns, _ = table
    netlink = module_from_checkout("_arp_hygiene_netlink")
    names = netlink.LinkNames(ns.name, {})
    index = int(ns.ip("-j", "link", "show", "a0").stdout.split('"ifindex":')[1].split(",")[0])
    assert names[index] == "a0"
    assert names[99999] == "(ifindex 99999)"


@pytest.mark.once
def test_a_socket_opened_in_a_namespace_is_there_and_the_caller_stays_where_it_was(table):
    """netlink.socket_in enters the namespace in a thread of its own: the calling thread's namespace is unchanged."""
    ns, _ = table
    netlink = module_from_checkout("_arp_hygiene_netlink")
    here = os.readlink("/proc/thread-self/ns/net")
    with netlink.Socket(ns.name) as sock:
        names = {link["ifname"] for link in netlink.read_links(sock).values()}
    assert {"a0", "b0"} <= names, names  # the lab table's links, not this host's
    assert os.readlink("/proc/thread-self/ns/net") == here
    missing = f"{ns.name}-missing"
    with pytest.raises(netlink.errors.KernelError) as refused:
        netlink.Socket(missing)
    assert refused.value.errno == errno.ENOENT and not os.path.exists(f"/run/netns/{missing}"), "never created"
    assert os.readlink("/proc/thread-self/ns/net") == here
