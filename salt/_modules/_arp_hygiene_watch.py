"""
The first packet that reveals a black hole, in plain Python (no Salt): a
packet socket whose classic BPF filter lets into user space only the frames
that can show a neighbour's address on a MAC other than the cached one (new
TCP connections, SYN without ACK, in IPv4 and IPv6; ARP; IPv6 neighbour
solicitations and advertisements), and what each such frame claims.

Part of arp-hygiene's ``arp`` execution module (``arp.watch``). Frames are
Ethernet; VLAN-tagged ones are not read.
"""

import ctypes
import ipaddress
import select
import socket
import struct
import time

import _arp_hygiene_neighbours as neighbours
import _arp_hygiene_netlink as netlink
import _arp_hygiene_policy as policy
import _arp_hygiene_probe as probe
import _arp_hygiene_writes as writes

# The frames' numbers are the probe's (one home).
from _arp_hygiene_probe import (
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_ICMPV6,
    ND_NEIGHBOR_ADVERT,
    ND_NEIGHBOR_SOLICIT,
    ND_OPT_SOURCE_LLADDR,
    ND_OPT_TARGET_LLADDR,
)

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
IPPROTO_TCP = 6
TCP_SYN, TCP_ACK = 0x02, 0x10
# Bytes of each frame the filter passes: Ethernet, then the IP and TCP
# headers, an ARP packet, or a neighbour discovery message with its options.
SNAP = 256

# Classic BPF (linux/filter.h): the instructions the filter uses.
LD_H_ABS, LD_B_ABS, LD_B_IND, LDX_B_MSH = 0x28, 0x30, 0x50, 0xB1
JEQ, JSET, AND, RET = 0x15, 0x45, 0x54, 0x06

# The filter, with labels: (label or None, opcode, k, jump if true, jump if false).
# Offsets are from the Ethernet header: type at 12; IPv4 at 14 (protocol 23,
# flags and fragment offset 20, header length in the low nibble of 14, TCP
# flags 13 bytes into TCP); IPv6 at 14 (next header 20, TCP flags at 14 + 40
# + 13 = 67, ICMPv6 type at 54). Only an IPv6 header followed at once by TCP
# or ICMPv6 is read (neighbour discovery never carries extension headers).
FILTER = (
    (None, LD_H_ABS, 12, None, None),
    (None, JEQ, ETH_P_ARP, "accept", None),
    (None, JEQ, ETH_P_IP, None, "ipv6"),
    (None, LD_B_ABS, 23, None, None),
    (None, JEQ, IPPROTO_TCP, None, "reject"),
    (None, LD_H_ABS, 20, None, None),
    (None, JSET, 0x1FFF, "reject", None),  # a fragment other than the first has no TCP header
    (None, LDX_B_MSH, 14, None, None),
    (None, LD_B_IND, 14 + 13, None, None),
    (None, AND, TCP_SYN | TCP_ACK, None, None),
    (None, JEQ, TCP_SYN, "accept", "reject"),
    ("ipv6", JEQ, ETH_P_IPV6, None, "reject"),
    (None, LD_B_ABS, 20, None, None),
    (None, JEQ, IPPROTO_TCP, None, "icmpv6"),
    (None, LD_B_ABS, 14 + 40 + 13, None, None),
    (None, AND, TCP_SYN | TCP_ACK, None, None),
    (None, JEQ, TCP_SYN, "accept", "reject"),
    ("icmpv6", JEQ, IPPROTO_ICMPV6, None, "reject"),
    (None, LD_B_ABS, 14 + 40, None, None),
    (None, JEQ, ND_NEIGHBOR_SOLICIT, "accept", None),
    (None, JEQ, ND_NEIGHBOR_ADVERT, "accept", "reject"),
    ("accept", RET, SNAP, None, None),
    ("reject", RET, 0, None, None),
)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def assemble(program):
    """[(code, jt, jf, k)] of a program with labels: each jump as the number of instructions it skips."""
    labels = {label: index for index, (label, *_) in enumerate(program) if label}
    out = []
    for index, (_, code, k, true, false) in enumerate(program):
        jt = labels[true] - index - 1 if true else 0
        jf = labels[false] - index - 1 if false else 0
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError(f"instruction {index}: a jump backwards or too far")
        out.append((code, jt, jf, k))
    return out


def watch_socket(netns, ifindex):
    """
    A non-blocking packet socket on the link ``ifindex`` (in ``netns``) that
    reads only what FILTER passes: created listening to no protocol, the
    filter attached, then bound to every protocol on the link, so that no
    frame gets in before the filter.
    """
    sock = netlink.socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        code = assemble(FILTER)
        instructions = (_SockFilter * len(code))(*(_SockFilter(c, jt, jf, k) for c, jt, jf, k in code))
        program = _SockFprog(len(code), instructions)
        # The kernel copies the program while the call runs: `instructions` is alive till then.
        sock.setsockopt(
            socket.SOL_SOCKET, SO_ATTACH_FILTER, ctypes.string_at(ctypes.addressof(program), ctypes.sizeof(program))
        )
        probe.bind_link(sock, ifindex, ETH_P_ALL)
        try:  # Linux 4.20: this host's own frames are not read back
            sock.setsockopt(probe.SOL_PACKET, probe.PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def claim(frame):
    """
    What a frame that FILTER passed says of its sender: ``(family, address,
    mac)``, the address as a string and the MAC as ``aa:bb:...``, or None when
    it names no address of a neighbour (an ARP probe from 0.0.0.0, a
    solicitation from ``::`` in duplicate address detection, a short frame).
    ARP: its sender's addresses. A TCP SYN: its source address on the
    frame's source MAC. A solicitation: its source address on its source
    link-layer option (else the frame's MAC); an advertisement: its target
    on its target link-layer option (else the frame's MAC).
    """
    if len(frame) < 14:
        return None
    source, kind = frame[6:12], struct.unpack_from("!H", frame, 12)[0]
    if kind == ETH_P_ARP:
        if len(frame) < 14 + 28 or frame[14:20] != b"\x00\x01\x08\x00\x06\x04":
            return None
        sender, address = frame[22:28], frame[28:32]
        if address == bytes(4):
            return None
        return "inet", socket.inet_ntop(socket.AF_INET, address), sender.hex(":")
    if kind == ETH_P_IP:
        if len(frame) < 34:
            return None
        return "inet", socket.inet_ntop(socket.AF_INET, frame[26:30]), source.hex(":")
    if kind != ETH_P_IPV6 or len(frame) < 54:
        return None
    address, next_header = frame[22:38], frame[20]
    if next_header == IPPROTO_TCP:
        return "inet6", socket.inet_ntop(socket.AF_INET6, address), source.hex(":")
    if len(frame) < 78:
        return None
    wanted = ND_OPT_SOURCE_LLADDR
    if frame[54] == ND_NEIGHBOR_ADVERT:
        address, wanted = frame[62:78], ND_OPT_TARGET_LLADDR
    if address == bytes(16) or ipaddress.IPv6Address(address).is_multicast:
        return None
    mac = probe.option_mac(frame, 78, wanted, source)
    return "inet6", socket.inet_ntop(socket.AF_INET6, address), mac.hex(":")


class Limits:
    """
    At most one question per address per ``window`` seconds, and ``per_second``
    questions a second in all: a flood of forged frames costs a bounded
    number of unicast questions.
    """

    def __init__(self, window, per_second):
        self.window, self.per_second = window, per_second
        self.last = {}  # (ifindex, address) -> when it was last asked about
        self.recent = []  # when the questions of the last second went

    def allow(self, key, now):
        self.recent = [when for when in self.recent if now - when < 1.0]
        if now - self.last.get(key, -self.window) < self.window or len(self.recent) >= self.per_second:
            return False
        self.last[key] = now
        self.recent.append(now)
        return True


def run(netns, selection, links, ifnames, seconds, timeout, limits, dry):
    """
    Watch the selected Ethernet links for ``seconds``: for each frame whose
    sender claims a cached address on a MAC other than the entry's, ask the
    cached MAC alone (as verify does); only if it stays silent, ask the
    segment and repair as verify's fix does (never an entry that policy
    leaves alone, never a MAC seen only in a frame). With ``dry``, report
    what would be asked; nothing is sent. Returns ``{"seen": frames read,
    "contradicted": {ifname: {address: {"cached", "claimed"}}}, "asked" |
    "would_ask": {ifname: {address: cached MAC}}, "answered": {...},
    "limited": questions left out by the limits, and verify's outcomes of
    the repairs}``.
    """
    wanted = [
        index
        for index, link in links.items()
        if netlink.is_ethernet(link) and (selection.ifindexes is None or index in selection.ifindexes)
    ]
    report = {"seen": 0, "contradicted": {}, "would_ask" if dry else "asked": {}, "answered": {}, "limited": 0}
    found = {"mismatch": {}, "unanswered": {}, "conflict": {}, "replaced": {}, "deleted": {}}
    by_fileno = {}  # every socket opened, closed below whatever happens: {fileno: (socket, ifindex)}
    try:
        end = time.monotonic() + seconds
        with netlink.Socket(netns) as nl:
            for index in wanted:
                sock = watch_socket(netns, index)
                by_fileno[sock.fileno()] = (sock, index)
            while (left := end - time.monotonic()) > 0:
                for fileno in select.select(list(by_fileno), [], [], left)[0]:
                    sock, index = by_fileno[fileno]
                    while True:
                        try:
                            frame = sock.recv(SNAP)
                        except BlockingIOError:
                            break
                        report["seen"] += 1
                        _judge(frame, index, nl, selection, links, ifnames, netns, timeout, limits, dry, report, found)
    finally:
        for sock, _ in by_fileno.values():
            sock.close()
    report.update({name: value for name, value in found.items() if value})
    return report


def _judge(frame, index, nl, selection, links, ifnames, netns, timeout, limits, dry, report, found):
    claimed = claim(frame)
    if claimed is None:
        return
    family, address, mac = claimed
    number = netlink.FAMILIES[family]
    if selection.family not in (socket.AF_UNSPEC, number):
        return
    if not selection.keeps_address(ipaddress.ip_address(address), index):
        return
    entry = neighbours.neighbour(nl, selection, ifnames, index, address)
    if entry is None or not entry["lladdr"] or entry["lladdr"] == mac or policy.untouchable(entry):
        return
    policy.place(report["contradicted"], entry, {"cached": entry["lladdr"], "claimed": mac})
    if not limits.allow((index, address), time.monotonic()):
        report["limited"] += 1
        return
    if dry:
        policy.place(report["would_ask"], entry, entry["lladdr"])
        return
    policy.place(report["asked"], entry, entry["lladdr"])
    answers = probe.ask_like_the_kernel([entry], links, netns, timeout, rate=100, repair=True)
    verdict = policy.verdicts([entry], answers, {})
    if verdict["ok"]:
        policy.place(report["answered"], entry, entry["lladdr"])
        return
    outcomes = {name: verdict[name] for name in ("mismatch", "unanswered", "conflict")}
    for name, value in {**outcomes, **writes.repair(verdict, [entry], netns)}.items():
        for ifname, entries in value.items():
            found.setdefault(name, {}).setdefault(ifname, {}).update(entries)
