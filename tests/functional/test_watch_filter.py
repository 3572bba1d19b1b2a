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

from tests.support import ethernet, module_from_checkout

pytestmark = pytest.mark.once

DST = "02:00:00:00:99:00"
IP4_SRC, IP4_DST, IP6_SRC, IP6_DST = "192.0.2.77", "192.0.2.1", "2001:db8::77", "2001:db8::1"


def mac(number):
    return f"02:00:00:00:99:{number:02x}"


def v4(protocol, payload, **header):
    return ethernet.ipv4(IP4_SRC, IP4_DST, protocol, payload, **header)


def v6(next_header, payload, src=IP6_SRC):
    return ethernet.ipv6(src, IP6_DST, next_header, payload)


# (number, ethertype, payload, what the watcher should read: its claim, or None for "filtered out")
FRAMES = [
    (1, 0x0806, ethernet.arp_request(mac(1), IP4_SRC, IP4_DST), ("inet", IP4_SRC, mac(1))),
    (2, 0x0806, ethernet.arp_request(mac(2), "0.0.0.0", IP4_DST), "passed, claims nothing"),  # a probe
    (3, 0x0800, v4(6, ethernet.tcp(0x02)), ("inet", IP4_SRC, mac(3))),
    (4, 0x0800, v4(6, ethernet.tcp(0x12)), None),  # SYN-ACK
    (5, 0x0800, v4(6, ethernet.tcp(0x10)), None),  # ACK
    (6, 0x0800, v4(17, ethernet.tcp(0x02)), None),  # UDP whose bytes look like a SYN
    (7, 0x0800, v4(6, ethernet.tcp(0x02), ihl=6), ("inet", IP4_SRC, mac(7))),  # IP options
    (8, 0x0800, v4(6, ethernet.tcp(0x02), fragment=0x0010), None),  # not the first fragment
    (9, 0x86DD, v6(6, ethernet.tcp(0x02)), ("inet6", IP6_SRC, mac(9))),
    (10, 0x86DD, v6(6, ethernet.tcp(0x12)), None),
    (11, 0x86DD, v6(58, ethernet.neighbour_discovery(135, IP6_DST, 1, mac(31))), ("inet6", IP6_SRC, mac(31))),
    (12, 0x86DD, v6(58, ethernet.neighbour_discovery(136, IP6_SRC, 2, mac(32))), ("inet6", IP6_SRC, mac(32))),
    (13, 0x86DD, v6(58, ethernet.neighbour_discovery(135, IP6_DST, 1, mac(33)), src="::"), "passed, claims nothing"),
    (14, 0x86DD, v6(58, struct.pack("!BBHHH", 128, 0, 0, 1, 1)), None),  # echo request
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
            sender.send(ethernet.ethernet(ethernet.mac_bytes(DST), ethernet.mac_bytes(mac(number)), kind, payload))
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


def test_the_watchers_lookup_reads_one_entry_as_the_dump_does(netlab):
    # What the watcher reads for each frame's sender: one RTM_GETNEIGH, not a dump of the table.
    netlink = module_from_checkout("_arp_hygiene_netlink")
    neighbours = module_from_checkout("_arp_hygiene_neighbours")
    ns = netlab.namespace("lookup")
    ns.batch(["link add a0 type veth peer name a1", "link set a0 up", "link set a1 up"])
    # A carrier that comes up after the entries were planted would flush them.
    end = time.monotonic() + 5
    while "LOWER_UP" not in ns.ip("link", "show", "a0").stdout and time.monotonic() < end:
        time.sleep(0.05)
    ns.batch(
        [
            "neigh replace 192.0.2.5 dev a0 lladdr 02:00:00:00:05:01 nud reachable",
            "neigh replace 192.0.2.6 dev a0 lladdr 02:00:00:00:06:01 nud permanent",
            "neigh replace 2001:db8::5 dev a0 lladdr 02:00:00:00:05:06 nud stale",
        ]
    )
    states = {netlink.NUD_STATES[name] for name in ("reachable", "stale", "delay", "probe")}
    with netlink.Socket(ns.name) as sock:
        links = netlink.read_links(sock)
        ifnames = netlink.LinkNames(ns.name, links)
        (index,) = [number for number, link in links.items() if link["ifname"] == "a0"]
        kept = neighbours.Selection(socket.AF_UNSPEC, states)
        dumped = {entry["dst"]: entry for entry in neighbours.scan(sock, kept, ifnames)}
        found = {dst: neighbours.neighbour(sock, kept, ifnames, index, dst) for dst in ("192.0.2.5", "2001:db8::5")}
        assert all(found.values()) and found == {dst: dumped[dst] for dst in found}, (found, dumped)
        assert found["192.0.2.5"]["lladdr"] == "02:00:00:00:05:01" and found["2001:db8::5"]["state"] == "stale"
        assert neighbours.neighbour(sock, kept, ifnames, index, "192.0.2.6") is None, "a permanent entry is not kept"
        assert neighbours.neighbour(sock, kept, ifnames, index, "192.0.2.7") is None, "no entry"
        # A kernel without the lookup (before 5.0): the same entries, from a dump of the link's.
        sock.lookups = False
        assert {dst: neighbours.neighbour(sock, kept, ifnames, index, dst) for dst in found} == found
        assert neighbours.neighbour(sock, kept, ifnames, index, "192.0.2.6") is None
