"""
The neighbour dump decoders on synthetic RTM_NEWNEIGH buffers, built here
with struct as the kernel lays them out (net/core/neighbour.c,
neigh_fill_info): layout bugs show without a kernel, and without root.
"""

import errno
import ipaddress
import socket
import struct

import pytest

from tests.support import module_from_checkout

neighbours = module_from_checkout("_arp_hygiene_neighbours")
layouts = module_from_checkout("_arp_hygiene_layouts")
netlink = module_from_checkout("_arp_hygiene_netlink")

RTM_NEWNEIGH, NLMSG_ERROR, NLMSG_DONE, NLM_F_MULTI = 28, 2, 3, 2
NDA_DST, NDA_LLADDR, NDA_CACHEINFO, NDA_PROBES, NDA_PROTOCOL, NDA_FLAGS_EXT = 1, 2, 3, 4, 12, 15
NTF_ROUTER, NTF_EXT_LEARNED = 0x80, 0x10
NUD = {
    "incomplete": 0x01,
    "reachable": 0x02,
    "stale": 0x04,
    "delay": 0x08,
    "probe": 0x10,
    "failed": 0x20,
    "noarp": 0x40,
    "permanent": 0x80,
    "none": 0x00,
}
IFNAMES = {2: "eth0", 3: "eth1"}
HZ = netlink.HZ


def attribute(kind, value):
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + bytes(-length % 4)


def message(family, state, attributes, flags=0, ifindex=2, seq=7):
    body = struct.pack("=BxxxiHBB", family, ifindex, state, flags, 1) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWNEIGH, NLM_F_MULTI, seq, 4242) + body


def usual(family, number, state, flags=0, ifindex=2, ages=(100, 200, 300)):
    """What the kernel sends for an entry that holds a MAC: NDA_DST, NDA_LLADDR, NDA_PROBES, NDA_CACHEINFO."""
    return message(
        family,
        state,
        [
            attribute(NDA_DST, address(family, number)),
            attribute(NDA_LLADDR, bytes([2, 0, 0, 0, number >> 8, number & 255])),
            attribute(NDA_PROBES, struct.pack("=I", number % 3)),
            attribute(NDA_CACHEINFO, struct.pack("=IIII", *ages, 1)),
        ],
        flags,
        ifindex,
    )


def address(family, number):
    if family == socket.AF_INET:
        return socket.inet_aton(f"198.18.{number >> 8}.{number & 255}")
    return socket.inet_pton(socket.AF_INET6, f"2001:db8::{number:x}")


def expected(family, number, state, flags=(), ifindex=2, ages=(100, 200, 300)):
    dst = socket.inet_ntop(family, address(family, number))
    return {
        "dst": dst,
        "lladdr": f"02:00:00:00:{number >> 8:02x}:{number & 255:02x}",
        "ifname": IFNAMES[ifindex],
        "ifindex": ifindex,
        "family": "inet" if family == socket.AF_INET else "inet6",
        "state": state,
        "flags": list(flags),
        "probes": number % 3,
        "confirmed": round(ages[0] / HZ, 2),
        "used": round(ages[1] / HZ, 2),
        "updated": round(ages[2] / HZ, 2),
    }


def selection(states=tuple(NUD), family=socket.AF_UNSPEC, flushing=False, **kwargs):
    return neighbours.Selection(family, {NUD[name] for name in states}, flushing=flushing, **kwargs)


def listed(data, chosen):
    entries = []
    more = neighbours.decode_buffer(data, chosen, IFNAMES, {}, entries)
    return entries, more


def planned_by_messages(data, chosen):
    plan, found = neighbours.FlushPlan(requests=True), []
    neighbours.decode_buffer(data, chosen, IFNAMES, {}, found, plan, 1000)
    plan.add([e["ifname"] for e in found], [e["dst"] for e in found], [e["lladdr"] for e in found])
    return plan


def planned_by_columns(data, chosen):
    plan = neighbours.FlushPlan(requests=True)
    return plan if neighbours.choose_by_columns(data, chosen, IFNAMES, plan, 1000) else None


FAMILIES = pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["inet", "inet6"])


@FAMILIES
def test_the_usual_layout_is_the_one_the_kernel_sends(family):
    layout = layouts.NEIGHBOUR_MESSAGE[len(usual(family, 1, NUD["stale"]))]
    assert layout.family == family and layout.length == (76 if family == socket.AF_INET else 88)
    fields = layout.struct.unpack(usual(family, 0x102, NUD["stale"], NTF_ROUTER))
    assert layout.read(fields) == (
        family,
        2,
        NUD["stale"],
        NTF_ROUTER,
        address(family, 0x102),
        bytes([2, 0, 0, 0, 1, 2]),
        0x102 % 3,
        100,
        200,
        300,
    )
    assert layout.header_fields(fields) == layout.headers


@FAMILIES
def test_every_state_and_flag_is_read_alike_by_every_decoder(family):
    messages, wanted, entries = [], [], []
    for number, name in enumerate(NUD, start=1):
        for flags, names in ((0, ()), (NTF_ROUTER, ("router",)), (NTF_EXT_LEARNED, ("extern_learn",))):
            number += 0x100
            messages.append(usual(family, number, NUD[name], flags, ifindex=2 + number % 2))
            entries.append(expected(family, number, name, names, ifindex=2 + number % 2))
            if name not in ("noarp", "permanent") and not flags & NTF_EXT_LEARNED:
                wanted.append(entries[-1])
    data = b"".join(messages)

    assert listed(data, selection()) == (entries, True)
    flush = selection(states=[n for n in NUD if n not in ("noarp", "permanent")], flushing=True)
    by_columns, by_messages = planned_by_columns(data, flush), planned_by_messages(data, flush)
    assert by_columns is not None, "a buffer of usual messages is decoded by columns"
    chosen = [(e["ifname"], e["dst"], e["lladdr"]) for e in wanted]
    assert [entry[1:] for entry in by_columns.entries()] == chosen
    assert list(by_columns.entries()) == list(by_messages.entries())
    assert by_columns.messages == by_messages.messages and by_columns.positions == by_messages.positions


@FAMILIES
def test_delete_requests_hold_what_the_kernel_needs(family):
    data = usual(family, 0x105, NUD["stale"], ifindex=3) + usual(family, 0x106, NUD["stale"], ifindex=2)
    plan = planned_by_columns(data, selection(["stale"], flushing=True))
    request = layouts.DELETE_REQUEST[family]
    assert list(plan.positions) == [0, request.length]
    for index, (ifindex, number) in enumerate(((3, 0x105), (2, 0x106))):
        fields = request.struct.unpack_from(plan.messages, plan.positions[index])
        size = len(address(family, number))
        assert fields == (
            request.length,
            29,
            1,
            1000 + index,
            0,
            family,
            ifindex,
            0,
            0,
            0,
            4 + size,
            NDA_DST,
            address(family, number),
        )


def test_attributes_in_another_order_are_decoded_one_by_one():
    family = socket.AF_INET
    shuffled = message(
        family,
        NUD["stale"],
        [
            attribute(NDA_CACHEINFO, struct.pack("=IIII", 100, 200, 300, 1)),
            attribute(NDA_PROBES, struct.pack("=I", 0x101 % 3)),
            attribute(NDA_LLADDR, bytes([2, 0, 0, 0, 1, 1])),
            attribute(NDA_DST, address(family, 0x101)),
        ],
    )
    assert len(shuffled) == 76, "the usual length, not the usual layout"
    data = usual(family, 0x102, NUD["stale"]) + shuffled
    chosen = selection(["stale"], flushing=True)

    assert planned_by_columns(data, chosen) is None
    assert listed(data, chosen)[0] == [expected(family, 0x102, "stale"), expected(family, 0x101, "stale")]
    plan = planned_by_messages(data, chosen)
    assert [entry[2] for entry in plan.entries()] == ["198.18.1.2", "198.18.1.1"]


def test_a_message_with_another_attribute_and_a_managed_entry():
    family = socket.AF_INET6
    with_protocol = message(
        family,
        NUD["stale"],
        [
            attribute(NDA_DST, address(family, 0x101)),
            attribute(NDA_LLADDR, bytes([2, 0, 0, 0, 1, 1])),
            attribute(NDA_PROBES, struct.pack("=I", 0x101 % 3)),
            attribute(NDA_CACHEINFO, struct.pack("=IIII", 100, 200, 300, 1)),
            attribute(NDA_PROTOCOL, b"\x04"),
        ],
    )
    managed = message(
        family,
        NUD["reachable"],
        [
            attribute(NDA_DST, address(family, 0x102)),
            attribute(NDA_FLAGS_EXT, struct.pack("=I", 1)),
        ],
    )
    data = with_protocol + managed
    entries, _ = listed(data, selection())
    assert entries[0] == expected(family, 0x101, "stale")
    assert entries[1]["dst"] == "2001:db8::102" and entries[1]["flags"] == ["managed"] and entries[1]["lladdr"] is None
    assert entries[1]["confirmed"] is None and entries[1]["probes"] == 0
    # A flush never touches a managed entry: it is configuration.
    assert [e[2] for e in planned_by_messages(data, selection(["stale", "reachable"], flushing=True)).entries()] == [
        "2001:db8::101"
    ]


def test_a_buffer_of_both_families_is_decoded_message_by_message():
    data = usual(socket.AF_INET, 0x101, NUD["stale"]) + usual(socket.AF_INET6, 0x102, NUD["stale"])
    chosen = selection(["stale"], flushing=True)
    assert planned_by_columns(data, chosen) is None
    assert [e[2] for e in planned_by_messages(data, chosen).entries()] == ["198.18.1.1", "2001:db8::102"]


def test_columns_refuse_a_buffer_with_entries_of_links_not_chosen():
    data = usual(socket.AF_INET, 0x101, NUD["stale"], ifindex=2) + usual(socket.AF_INET, 0x102, NUD["stale"], ifindex=3)
    chosen = selection(["stale"], flushing=True, ifindexes={2})
    assert planned_by_columns(data, chosen) is None
    assert [e[1:3] for e in planned_by_messages(data, chosen).entries()] == [("eth0", "198.18.1.1")]


def test_address_filters_and_scopes():
    data = b"".join(
        usual(socket.AF_INET6, number, NUD["stale"], ifindex=ifindex)
        for number, ifindex in ((1, 2), (1, 3), (0x101, 2))
    )
    inside = selection(
        network=(ipaddress.ip_network("2001:db8::/120"), None), exclude=[(ipaddress.ip_network("2001:db8::1/128"), 3)]
    )
    assert [(e["dst"], e["ifname"]) for e in listed(data, inside)[0]] == [("2001:db8::1", "eth0")]


def test_the_end_of_the_dump_and_the_kernels_error():
    done = struct.pack("=IHHIIi", 20, NLMSG_DONE, NLM_F_MULTI, 7, 0, 0)
    assert listed(usual(socket.AF_INET, 1, NUD["stale"]) + done, selection()) == (
        [expected(socket.AF_INET, 1, "stale")],
        False,
    )
    refused = struct.pack("=IHHIIi", 36, NLMSG_ERROR, 0, 7, 0, -errno.EINVAL) + bytes(16)
    with pytest.raises(neighbours.errors.KernelError) as raised:
        listed(usual(socket.AF_INET, 1, NUD["stale"]) + refused, selection())
    assert raised.value.errno == errno.EINVAL and raised.value.doing == "the kernel refused the dump"


@pytest.mark.parametrize("cut", [20, 30, 75])
def test_a_truncated_message_is_an_error_not_a_guess(cut):
    data = usual(socket.AF_INET, 1, NUD["stale"]) + usual(socket.AF_INET, 2, NUD["stale"])[:cut]
    for decode in (listed, planned_by_messages):
        with pytest.raises(neighbours.errors.KernelError) as raised:
            decode(data, selection(["stale"], flushing=True))
        assert raised.value.errno == errno.EBADMSG
    assert planned_by_columns(data, selection(["stale"], flushing=True)) is None


def test_a_message_too_short_for_its_header_ends_decoding_with_an_error():
    zero_length = struct.pack("=IHHII", 0, RTM_NEWNEIGH, NLM_F_MULTI, 7, 0)
    with pytest.raises(neighbours.errors.KernelError):
        listed(zero_length, selection())
