"""Tables larger than one batch of deletes, and a table that changes while it is flushed."""

import threading

import pytest
from pyroute2.netlink.rtnl import RTM_GETNEIGH

from tests.support import lab, module_from_checkout
from tests.support.tables import LEARNED, keys, matches, snapshot, without_collected

# The kernel's gc_thresh1/2/3 (128/512/1024 by default) bound the entries of
# every namespace together, and tests leave the root namespace's sysctls
# alone. The tables here hold more than gc_thresh1, so this module runs only
# while no other process has a lab (lab.TABLES_LOCK), and no more than
# gc_thresh2 of their entries in a family are non-permanent, so the kernel
# never starts forced garbage collection (which would drop the root
# namespace's entries too).
pytestmark = [pytest.mark.usefixtures("tables_alone_for_the_module"), pytest.mark.once]


def stale_entries(count, ifname, prefix):
    return [
        {
            "dst": f"{prefix}{number:x}",
            "ifname": ifname,
            "state": "stale",
            "lladdr": f"02:00:00:aa:{number >> 8:02x}:{number & 255:02x}",
        }
        for number in range(0x100, 0x100 + count)
    ]


def test_flush_of_more_than_one_batch_deletes_every_entry(arp, netlab):
    ns = lab.table(netlab)
    ipv4 = [
        {"dst": f"192.0.2.{number}", "ifname": "a0", "state": "stale", "lladdr": f"02:00:00:00:01:{number:02x}"}
        for number in range(2, 252)
    ]
    ipv6 = stale_entries(350, "b0", "2001:db8:b::")
    kept = [
        {"dst": f"198.51.100.{number}", "ifname": "b0", "state": "reachable", "lladdr": "02:00:00:00:02:01"}
        for number in range(2, 12)
    ]
    lab.add_entries(ns, ipv4 + ipv6 + kept)
    before = snapshot(ns)
    stale = {(e["dst"], e["ifname"]) for e in ipv4 + ipv6}
    assert stale <= set(before) and len(stale) == 600  # more than BATCH (512): two sends

    result = arp.flush_stale(family="all", netns=ns.name)

    assert keys(result["deleted"]) == stale
    assert result["vanished"] == {}
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in stale}, after
    )


def test_a_flush_of_a_table_that_changes_meanwhile_ends_and_reports(arp, netlab):
    ns = lab.table(netlab)
    first = stale_entries(400, "a0", "2001:db8:a::")
    lab.add_entries(ns, first)
    later = stale_entries(100, "b0", "2001:db8:b::")
    writer = threading.Thread(target=lab.add_entries, args=(ns, later))

    writer.start()
    result = arp.flush_stale(family="inet6", netns=ns.name)
    writer.join(60)

    # One dump, one round of deletes: whatever the writer did, the call ends,
    # and reports only entries that were stale.
    reported = keys(result["deleted"]) | keys(result["vanished"])
    assert reported <= {(e["dst"], e["ifname"]) for e in first + later}
    assert len(keys(result["deleted"])) >= 300


# Enough entries per family for full dump buffers (about 420 IPv4 or 370
# IPv6 messages), which a flush decodes column by column, and buffers that
# it decodes message by message: the one where the IPv4 entries end and the
# IPv6 ones begin, the one with NLMSG_DONE, one with an entry of another
# layout when the test adds one. A third are
# permanent, which the kernel's forced garbage collection leaves out of its
# count: the others stay under gc_thresh2 (512), above which it would start
# dropping noarp and failed entries.
MIXED_STATES = ("stale", "permanent", "reachable", "noarp", "permanent", "probe")


def mixed_entries(count):
    entries = []
    for number in range(1, count + 1):
        state = MIXED_STATES[number % len(MIXED_STATES)]
        for dst in (f"198.18.{number >> 8}.{number & 255}", f"2001:db8:c::{number:x}"):
            entries.append(
                {
                    "dst": dst,
                    "ifname": "b0" if number % 4 == 0 else "a0",
                    "state": state,
                    "lladdr": f"02:00:00:cc:{number >> 8:02x}:{number & 255:02x}",
                    "flags": ["extern_learn"] if number % 40 == 1 else [],
                }
            )
    return entries


@pytest.fixture
def mixed_table(netlab):
    ns = lab.table(netlab)
    made = mixed_entries(600)
    lab.add_entries(ns, made)
    before = snapshot(ns)
    assert {(e["dst"], e["ifname"]) for e in made} <= set(before), "the kernel did not keep the entries"
    return ns, before


def dump_buffers(netlink, sock, family, index=None):
    """The buffers of a real neighbour dump (of one interface: ``index``), as the kernel sent them."""
    layouts = module_from_checkout("_arp_hygiene_layouts")
    request = layouts.NDMSG.pack(family, 0, 0, 0, 0)
    if index is not None:
        request += netlink.NLATTR.pack(8, layouts.NDA_IFINDEX) + netlink.U32.pack(index)
    buffers = []
    for _, data, _, _ in sock.dump(RTM_GETNEIGH, request):
        if not buffers or buffers[-1] is not data:
            buffers.append(data)
    return buffers


@pytest.mark.parametrize(
    "family, states, interface",
    [
        ("inet", ("stale",), None),
        ("inet6", LEARNED, None),
        ("inet", ("reachable", "probe"), None),
        ("inet6", ("stale",), "a0"),
    ],
)
def test_column_decoding_chooses_what_message_decoding_chooses(mixed_table, family, states, interface):
    """Per dump buffer of a real table: the same entries in the same order, the same delete requests byte for byte."""
    ns, _ = mixed_table
    netlink = module_from_checkout("_arp_hygiene_netlink")
    neighbours = module_from_checkout("_arp_hygiene_neighbours")
    with netlink.Socket(ns.name) as sock:
        ifnames = netlink.LinkNames(ns.name, netlink.read_links(sock))
        indexes = {index for index, name in ifnames.items() if name == interface} or None
        selection = neighbours.Selection(
            netlink.socket.AF_INET if family == "inet" else netlink.socket.AF_INET6,
            {netlink.NUD_STATES[name] for name in states},
            ifindexes=indexes,
            flushing=True,
        )
        buffers = dump_buffers(netlink, sock, selection.family, *(indexes or ()))
    by_columns, chosen = 0, 0
    for data in buffers:
        columns = neighbours.FlushPlan(requests=True)
        if not neighbours.choose_by_columns(data, selection, ifnames, columns, 1000):
            continue
        by_columns += 1
        messages, found = neighbours.FlushPlan(requests=True), []
        neighbours.decode_buffer(data, selection, ifnames, {}, found, messages, 1000)
        messages.add([e["ifname"] for e in found], [e["dst"] for e in found], [e["lladdr"] for e in found])
        assert list(columns.entries()) == list(messages.entries())
        assert columns.messages == messages.messages and columns.positions == messages.positions
        chosen += columns.count
    assert by_columns >= 1 and chosen > 0
    assert by_columns < len(buffers)  # the last buffer holds NLMSG_DONE


@pytest.mark.parametrize("function", ["flush_stale", "flush"])
def test_flush_of_a_large_mixed_table_deletes_exactly_the_selection(arp, mixed_table, function):
    ns, before = mixed_table
    # An entry whose message carries NDA_PROTOCOL has a layout of its own: its
    # buffer is decoded message by message. (A failed entry would do too, but
    # the kernel's periodic GC removes those at any moment once a table holds
    # more than gc_thresh1 entries.)
    ns.ip(
        "neigh",
        "replace",
        "198.18.9.1",
        "dev",
        "a0",
        "lladdr",
        "02:00:00:cc:09:01",
        "nud",
        "stale",
        "protocol",
        "static",
    )
    before = snapshot(ns)
    assert before[("198.18.9.1", "a0")][1] == "stale"
    states = LEARNED if function == "flush" else ("stale",)
    expected_gone = {key for key, value in before.items() if matches(key, value, states=states, family="all")}
    assert len(expected_gone) >= 200

    planned = getattr(arp, function)(family="all", netns=ns.name, test=True)
    assert (after := snapshot(ns)) == without_collected(before, after)
    result = getattr(arp, function)(family="all", netns=ns.name)

    assert keys(result["deleted"]) == expected_gone and result["vanished"] == {}
    assert planned["would_delete"] == result["deleted"]
    assert result["deleted"] == {
        ifname: {dst: before[(dst, ifname)][0] for dst in entries} for ifname, entries in result["deleted"].items()
    }
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in expected_gone}, after
    )
