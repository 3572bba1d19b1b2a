"""
arp.watch's packet filter (salt/_modules/_arp_hygiene_watch.py) on the real
kernel: frames sent on one end of a veth pair in a lab namespace, the filter
on the other; exactly the frames that can show a neighbour's address on
another MAC reach user space (ARP, TCP SYN without ACK in IPv4 and IPv6,
neighbour solicitations and advertisements), and what each claims.
"""

import select
import socket
import struct
import time

import pytest

from tests.support import module_from_checkout

pytestmark = pytest.mark.once

DST = bytes.fromhex("020000009900")
IP4_SRC, IP4_DST = socket.inet_aton("192.0.2.77"), socket.inet_aton("192.0.2.1")
IP6_SRC, IP6_DST = socket.inet_pton(socket.AF_INET6, "2001:db8::77"), socket.inet_pton(socket.AF_INET6, "2001:db8::1")


def mac(number):
    return bytes.fromhex(f"0200000099{number:02x}")


def ethernet(number, kind, payload):
    return DST + mac(number) + struct.pack("!H", kind) + payload


def ipv4(protocol, payload, ihl=5, fragment=0):
    options = bytes(4 * (ihl - 5))
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 1, fragment, 64,
                         protocol, 0, IP4_SRC, IP4_DST)  # fmt: skip
    return header + options + payload


def ipv6(next_header, payload, src=IP6_SRC):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 255, src, IP6_DST) + payload


def tcp(flags):
    return struct.pack("!HHIIBBHHH", 40000, 5432, 1, 0, 0x50, flags, 65535, 0, 0)


def nd(kind, target, option_kind, option_mac):
    return struct.pack("!BBHI16s", kind, 0, 0, 0, target) + bytes([option_kind, 1]) + option_mac


ARP = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(1), IP4_SRC, bytes(6), IP4_DST)
ARP_PROBE = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(2), bytes(4), bytes(6), IP4_DST)
# (number, ethertype, payload, what the watcher should read: its claim, or None for "filtered out")
FRAMES = [
    (1, 0x0806, ARP, ("inet", "192.0.2.77", mac(1).hex(":"))),
    (2, 0x0806, ARP_PROBE, "passed, claims nothing"),
    (3, 0x0800, ipv4(6, tcp(0x02)), ("inet", "192.0.2.77", mac(3).hex(":"))),
    (4, 0x0800, ipv4(6, tcp(0x12)), None),  # SYN-ACK
    (5, 0x0800, ipv4(6, tcp(0x10)), None),  # ACK
    (6, 0x0800, ipv4(17, tcp(0x02)), None),  # UDP whose bytes look like a SYN
    (7, 0x0800, ipv4(6, tcp(0x02), ihl=6), ("inet", "192.0.2.77", mac(7).hex(":"))),  # IP options
    (8, 0x0800, ipv4(6, tcp(0x02), fragment=0x0010), None),  # not the first fragment
    (9, 0x86DD, ipv6(6, tcp(0x02)), ("inet6", "2001:db8::77", mac(9).hex(":"))),
    (10, 0x86DD, ipv6(6, tcp(0x12)), None),
    (11, 0x86DD, ipv6(58, nd(135, IP6_DST, 1, mac(31))), ("inet6", "2001:db8::77", mac(31).hex(":"))),
    (12, 0x86DD, ipv6(58, nd(136, IP6_SRC, 2, mac(32))), ("inet6", "2001:db8::77", mac(32).hex(":"))),
    (13, 0x86DD, ipv6(58, nd(135, IP6_DST, 1, mac(33)), src=bytes(16)), "passed, claims nothing"),  # DAD
    (14, 0x86DD, ipv6(58, struct.pack("!BBHHH", 128, 0, 0, 1, 1)), None),  # echo request
    (15, 0x88CC, bytes(46), None),  # LLDP
]


def test_the_filter_passes_exactly_the_frames_that_can_reveal_a_black_hole(netlab):
    watch = module_from_checkout("_arp_hygiene_watch")
    netlink = module_from_checkout("_arp_hygiene_netlink")
    ns = netlab.namespace("watch")
    ns.batch(["link add a0 type veth peer name a1"])
    ns.sysctl(**{"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
    ns.batch(["link set a0 up", "link set a1 up"])
    with netlink.Socket(ns.name) as sock:
        index = {link["ifname"]: number for number, link in netlink.read_links(sock).items()}
    watcher = watch.watch_socket(ns.name, index["a0"])
    sender = netlink.socket_in(ns.name, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sender.bind(("a1", 0))
        for number, kind, payload, _ in FRAMES:
            sender.send(ethernet(number, kind, payload).ljust(60, b"\0"))
        read, end = {}, time.monotonic() + 1
        while time.monotonic() < end:
            if select.select([watcher], [], [], 0.1)[0]:
                frame = watcher.recv(65536)
                read[frame[11]] = frame
    finally:
        sender.close()
        watcher.close()
    passed = {number for number, _, _, expected in FRAMES if expected is not None}
    assert set(read) == passed, sorted(read)
    for number, _, _, expected in FRAMES:
        if number in read:
            wanted = None if expected == "passed, claims nothing" else expected
            assert watch.claim(read[number]) == wanted, (number, watch.claim(read[number]))
            assert len(read[number]) <= watch.SNAP
