"""
The frames the probe helper builds, byte for byte, for every kind of
question and announcement in both families, against layouts written out
here from the RFCs (826, 4861); the checksums checked by a sum of our own;
answers read off a real datagram socket; and the choices made on link data
(what to ask from, what can be asked, what to announce). No root.
"""

import socket
import struct

import pytest

from tests.support import module_from_checkout

probe = module_from_checkout("_arp_hygiene_probe")

OWN_MAC = bytes.fromhex("020000000001")
CACHED_MAC = bytes.fromhex("02000000aa02")
OWN_IP, DST_IP = "192.0.2.1", "192.0.2.20"
OWN_IP6, DST_IP6 = "2001:db8::1", "2001:db8::20:aabb:ccdd"
ALL_ZERO_MAC = bytes(6)


def ip4(text):
    return socket.inet_aton(text)


def ip6(text):
    return socket.inet_pton(socket.AF_INET6, text)


def icmpv6_checksum_holds(frame):
    """The ones' complement sum of the pseudo-header and the ICMPv6 message is 0xffff (RFC 4443 2.3)."""
    src, dst, message = frame[22:38], frame[38:54], frame[54:]
    data = src + dst + struct.pack("!I", len(message)) + bytes(3) + bytes([58]) + message
    data += bytes(len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def ipv6_header(src, dst, payload):
    # version 6, traffic class 0, flow 0; payload length; next header ICMPv6 (58); hop limit 255 (RFC 4861 7.1.1)
    return bytes([0x60, 0, 0, 0]) + struct.pack("!H", payload) + bytes([58, 255]) + src + dst


@pytest.mark.parametrize("to", [CACHED_MAC, None], ids=["unicast", "broadcast"])
def test_an_arp_question_is_the_kernels_request_from_our_own_address(to):
    frame = probe.question(OWN_MAC, OWN_IP, socket.AF_INET, DST_IP, to)
    expected = (
        (to or b"\xff" * 6)
        + OWN_MAC
        + b"\x08\x06"  # Ethernet: to, from, ARP
        + b"\x00\x01\x08\x00\x06\x04\x00\x01"  # Ethernet/IPv4, sizes 6 and 4, op request
        + OWN_MAC
        + ip4(OWN_IP)  # sender: this host, never 0.0.0.0 (an RFC 5227 probe)
        + ALL_ZERO_MAC
        + ip4(DST_IP)  # target MAC unknown, the address asked about
    )
    assert frame == expected


@pytest.mark.parametrize("unicast", [True, False], ids=["unicast", "solicited-node"])
def test_a_neighbour_solicitation_is_the_kernels_from_our_own_address(unicast):
    frame = probe.question(OWN_MAC, OWN_IP6, socket.AF_INET6, DST_IP6, CACHED_MAC if unicast else None)
    target = ip6(DST_IP6)
    group = ip6("ff02::1:ff00:0")[:13] + target[13:]
    ethernet_to = CACHED_MAC if unicast else b"\x33\x33" + group[12:]
    ip_to = target if unicast else group
    message = bytes([135, 0]) + frame[56:58] + bytes(4) + target + bytes([1, 1]) + OWN_MAC  # source lladdr option
    assert frame == ethernet_to + OWN_MAC + b"\x86\xdd" + ipv6_header(ip6(OWN_IP6), ip_to, len(message)) + message
    assert frame[22:38] != bytes(16), "never from ::, a duplicate address detection probe"
    assert icmpv6_checksum_holds(frame)
    assert ethernet_to.hex(":") == ("02:00:00:00:aa:02" if unicast else "33:33:ff:bb:cc:dd")


def test_the_solicited_node_group_takes_the_addresses_last_three_bytes():
    frame = probe.question(OWN_MAC, OWN_IP6, socket.AF_INET6, "2001:db8::12:3456", None)
    assert frame[:6] == bytes.fromhex("3333ff123456")
    assert frame[38:54] == ip6("ff02::1:ff12:3456")


def test_an_ipv4_announcement_is_a_gratuitous_request():
    frame = probe.announcement(OWN_MAC, socket.AF_INET, OWN_IP)
    expected = b"\xff" * 6 + OWN_MAC + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
    expected += OWN_MAC + ip4(OWN_IP) + ALL_ZERO_MAC + ip4(OWN_IP)  # sender and target: our own address
    assert frame == expected


def test_an_ipv4_announcement_in_reply_mode_is_a_gratuitous_reply_to_ourselves():
    frame = probe.announcement(OWN_MAC, socket.AF_INET, OWN_IP, reply=True)
    expected = b"\xff" * 6 + OWN_MAC + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02"
    expected += OWN_MAC + ip4(OWN_IP) + OWN_MAC + ip4(OWN_IP)  # as arping -A: the target MAC is ours too
    assert frame == expected


@pytest.mark.parametrize("mode, ops", [("request", [1]), ("reply", [2]), ("both", [1, 2])])
def test_each_mode_sends_its_ipv4_frames_and_ipv6_its_advertisement(mode, ops):
    ipv4 = probe.announcements(OWN_MAC, socket.AF_INET, OWN_IP, mode)
    assert [int.from_bytes(frame[20:22], "big") for frame in ipv4] == ops
    assert ipv4 == [probe.announcement(OWN_MAC, socket.AF_INET, OWN_IP, op == 2) for op in ops]
    assert probe.announcements(OWN_MAC, socket.AF_INET6, OWN_IP6, mode) == [
        probe.announcement(OWN_MAC, socket.AF_INET6, OWN_IP6)
    ]


def test_an_ipv6_announcement_is_an_unsolicited_advertisement_that_overrides():
    frame = probe.announcement(OWN_MAC, socket.AF_INET6, OWN_IP6)
    # Flags: override alone (not router, not solicited: RFC 4861 4.4, 7.2.6); target lladdr option.
    message = bytes([136, 0]) + frame[56:58] + bytes([0x20, 0, 0, 0]) + ip6(OWN_IP6) + bytes([2, 1]) + OWN_MAC
    expected = bytes.fromhex("333300000001") + OWN_MAC + b"\x86\xdd"
    expected += ipv6_header(ip6(OWN_IP6), ip6("ff02::1"), len(message)) + message
    assert frame == expected
    assert icmpv6_checksum_holds(frame)


def test_answers_are_read_off_the_socket_and_our_own_frames_and_questions_ignored():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    try:
        other = bytes.fromhex("02000000bb03")
        reply = OWN_MAC + other + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x02" + other + ip4(DST_IP)
        reply += OWN_MAC + ip4(OWN_IP)
        theirs.send(probe.question(other, DST_IP, socket.AF_INET, OWN_IP, None))  # a request: no answer
        theirs.send(probe.question(OWN_MAC, OWN_IP, socket.AF_INET, DST_IP, None))  # our own frame
        theirs.send(reply)
        theirs.send(reply[:30])  # truncated
        assert list(probe.answers_in(ours, socket.AF_INET, OWN_MAC)) == [(DST_IP, "02:00:00:00:bb:03")]
        advert = probe.announcement(other, socket.AF_INET6, DST_IP6)
        theirs.send(probe.question(other, DST_IP6, socket.AF_INET6, OWN_IP6, None))  # a solicitation
        theirs.send(advert)
        assert list(probe.answers_in(ours, socket.AF_INET6, OWN_MAC)) == [(DST_IP6, "02:00:00:00:bb:03")]
    finally:
        ours.close()
        theirs.close()


def link(index=2, name="eth0", kind=1, mac=OWN_MAC, up=True, addresses=()):
    return {"index": index, "ifname": name, "type": kind, "mac": mac, "up": up, "addresses": list(addresses)}


ADDRESSES = [
    (socket.AF_INET, "198.51.100.1", 24),
    (socket.AF_INET, OWN_IP, 24),
    (socket.AF_INET6, "fe80::1", 64),
    (socket.AF_INET6, OWN_IP6, 64),
]


@pytest.mark.parametrize(
    "family, dst, source",
    [
        (socket.AF_INET, "192.0.2.77", OWN_IP),  # the address whose prefix holds it
        (socket.AF_INET, "203.0.113.9", "198.51.100.1"),  # none does: the first
        (socket.AF_INET6, "fe80::99", "fe80::1"),  # link-local from link-local
        (socket.AF_INET6, "2001:db8::99", OWN_IP6),
        (socket.AF_INET6, "2001:db8:ffff::9", OWN_IP6),  # global before link-local
    ],
)
def test_questions_go_from_the_address_the_kernel_would_pick(family, dst, source):
    assert probe.source_address(link(addresses=ADDRESSES), family, dst) == source


def test_what_verify_cannot_ask_about_and_why():
    links = {
        2: link(addresses=ADDRESSES),
        3: link(3, "tun0", kind=65534, mac=None),
        4: link(4, "eth1", up=False, addresses=ADDRESSES),
        5: link(5, "eth2", addresses=[(socket.AF_INET, OWN_IP, 24)]),
    }

    def entry(ifindex, dst="192.0.2.9", family="inet", lladdr="02:00:00:00:00:09"):
        ifname = links.get(ifindex, {}).get("ifname", "gone")
        return {"ifindex": ifindex, "ifname": ifname, "dst": dst, "family": family, "lladdr": lladdr}

    entries = [
        entry(2),
        entry(9),
        entry(3),
        entry(4),
        entry(2, lladdr=None),
        entry(5, "2001:db8::9", "inet6"),
    ]
    asked, skipped = probe.split_askable(entries, links)
    assert asked == [entries[0]]
    assert [probe.why_not_askable(e, links) for e in entries[1:]] == [
        "its interface is gone",
        "tun0 is not an Ethernet interface (link none (tun, wireguard))",
        "eth1 is down",
        "the entry holds no MAC",
        "eth2 has no IPv6 address to ask from",
    ]
    assert skipped["eth2"] == {"2001:db8::9": "eth2 has no IPv6 address to ask from"}


def test_what_announce_and_addresses_choose():
    links = {
        1: link(1, "lo", kind=772, mac=bytes(6), addresses=[(socket.AF_INET, "127.0.0.1", 8)]),
        2: link(addresses=ADDRESSES),
        3: link(3, "eth1", up=False, addresses=[(socket.AF_INET, "203.0.113.5", 24)]),
    }
    both = (socket.AF_INET, socket.AF_INET6)
    chosen = probe.announceable(links, [], both)
    assert [(one["ifname"], [a for _, a, _ in found]) for one, found in chosen] == [
        ("eth0", ["198.51.100.1", OWN_IP, "fe80::1", OWN_IP6])
    ]
    named = probe.announceable(links, ["eth1"], (socket.AF_INET,))
    assert [(one["ifname"], found) for one, found in named] == [("eth1", [(socket.AF_INET, "203.0.113.5", 24)])]
    assert probe.own_addresses(links, [], both) == {
        "198.51.100.1": "02:00:00:00:00:01",
        OWN_IP: "02:00:00:00:00:01",
        OWN_IP6: "02:00:00:00:00:01",
        "203.0.113.5": "02:00:00:00:00:01",
    }
    assert probe.own_addresses(links, ["eth0"], (socket.AF_INET6,)) == {OWN_IP6: "02:00:00:00:00:01"}


def test_a_packet_error_says_where_and_what_privilege_is_missing():
    refused = probe.PacketError(1, "eth0", "cannot open a packet socket")
    assert refused.words("network namespace 'blue'") == (
        "cannot open a packet socket on 'eth0' in network namespace 'blue': permission denied: "
        "ARP and neighbour discovery need CAP_NET_RAW; run the Salt minion as root"
    )
    down = probe.PacketError(100, None, "asking the segment")
    assert down.words("the minion's network namespace") == (
        "asking the segment in the minion's network namespace: Network is down (ENETDOWN)"
    )
