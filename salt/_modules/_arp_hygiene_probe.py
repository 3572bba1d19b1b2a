"""
ARP and IPv6 neighbour discovery frames, in plain Python (no Salt): asking
the segment who holds an address, and announcing this host's own addresses.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory. Frames go out through AF_PACKET sockets, one per link and
protocol, opened in a named namespace by pyroute2 and bound by interface
index (a name may not be UTF-8). Frames are Ethernet + ARP (RFC 826), and
Ethernet + IPv6 + ICMPv6 for neighbour discovery (RFC 4861).

Only the questions the kernel itself asks are built here (requests and
solicitations from this host's own address and MAC), never an RFC 5227
probe (sender 0.0.0.0) nor a DAD solicitation (source ``::``): those tell a
host that is taking an address over that another host claims it.

Links are the dicts of ``_arp_hygiene_netlink.read_links(..., addresses=True)``;
entries those of its ``scan``. Errors are ``_arp_hygiene_errors.PacketError``.
"""

import array
import ctypes
import ipaddress
import os
import select
import socket
import struct
import time

import _arp_hygiene_arguments as arguments
import _arp_hygiene_errors as errors
import _arp_hygiene_netlink as netlink
import _arp_hygiene_policy as policy
from _arp_hygiene_errors import PacketError

ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 = 0x0806, 0x0800, 0x86DD
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 135, 136
ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR = 1, 2
NA_OVERRIDE = 0x20000000
IPPROTO_ICMPV6 = 58
BROADCAST = b"\xff" * 6
ALL_NODES = socket.inet_pton(socket.AF_INET6, "ff02::1")
SOLICITED_NODES = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")
LINK_LOCAL = ipaddress.ip_network("fe80::/10")
ETHERNET = struct.Struct("!6s6sH")  # destination, source, type
ARP_PACKET = struct.Struct("!HHBBH6s4s6s4s")  # hardware, protocol, sizes, op, sha, spa, tha, tpa
IPV6_HEADER = struct.Struct("!IHBB16s16s")  # version etc., payload length, next header, hop limit, src, dst
ND_MESSAGE = struct.Struct("!BBHI16s")  # type, code, checksum, flags/reserved, target


def source_address(link, family, dst):
    """
    This host's address on the link to ask about ``dst`` from, as the kernel
    picks it: one whose prefix holds ``dst``; for IPv6, the link-local
    address for a link-local ``dst``; else the first. None if the link has
    no address of the family.
    """
    address = ipaddress.ip_address(dst)
    own = [(ipaddress.ip_interface(f"{a}/{prefix}"), a) for f, a, prefix in link["addresses"] if f == family]
    if family == socket.AF_INET6:
        local = [pair for pair in own if pair[0].ip in LINK_LOCAL]
        if address in LINK_LOCAL:
            return local[0][1] if local else None
        own = [pair for pair in own if pair[0].ip not in LINK_LOCAL] + local
    for interface, text in own:
        if address in interface.network:
            return text
    return own[0][1] if own else None


def why_not_askable(entry, links):
    """Why verify cannot ask about an entry's address, or None."""
    link = links.get(entry["ifindex"])
    if link is None:
        return "its interface is gone"
    if not netlink.is_ethernet(link):
        return f"{link['ifname']} is not an Ethernet interface (link {netlink.link_type(link)})"
    if not link["up"]:
        return f"{link['ifname']} is down"
    if not entry["lladdr"]:
        return "the entry holds no MAC"
    family = netlink.FAMILIES[entry["family"]]
    if source_address(link, family, entry["dst"]) is None:
        return f"{link['ifname']} has no {'IPv4' if family == socket.AF_INET else 'IPv6'} address to ask from"
    return None


def split_askable(entries, links):
    """The entries verify can ask about, and {ifname: {dst: why not}} of the others."""
    asked, skipped = [], {}
    for entry in entries:
        why = why_not_askable(entry, links)
        if why:
            skipped.setdefault(entry["ifname"], {})[entry["dst"]] = why
        else:
            asked.append(entry)
    return asked, skipped


def announceable(links, names, families):
    """[(link, [(family, address, prefix)])] that announce sends for: the named links, else every Ethernet one up."""
    chosen = []
    for link in links.values():
        if names and link["ifname"] not in names:
            continue
        if not names and (not link["up"] or not netlink.is_ethernet(link)):
            continue
        addresses = [address for address in link["addresses"] if address[0] in families]
        if addresses:
            chosen.append((link, addresses))
    return chosen


def announceable_within(names, family, netns, wait, test):
    """
    What announce sends for (:func:`announceable`), the named interfaces
    checked (each Ethernet, up, with an address of the family): with
    ``wait`` (seconds), the links are read again every second until there
    is something, then an error if there is still nothing. Test mode does
    not wait, and says what a live run would wait for.
    """
    deadline = time.monotonic() + (0 if test else wait)
    while True:
        try:
            with netlink.Socket(netns) as sock:
                links = netlink.read_links(sock, addresses=True)
            arguments.ethernet(names, family, links, netns, need_up=True)
            chosen = announceable(links, names, arguments.families(family))
            if chosen or not wait:
                return chosen
            waited = "" if test else f" after {wait:g} s"
            problem = errors.RunError(f"nothing to announce{waited}: no interface up with an address")
        except arguments.ArgumentError as err:
            if not wait:
                raise
            problem = err if test else errors.RunError(f"after {wait:g} s: {err}")
        if time.monotonic() >= deadline:
            raise problem
        time.sleep(1)


def own_addresses(links, names, families):
    """
    {address: MAC} of the links' addresses that another machine could
    reuse (global scope, private ones too: not link-local, loopback or
    multicast), on the named (else every) Ethernet link.
    """
    owned = {}
    for link in links.values():
        if (names and link["ifname"] not in names) or not netlink.is_ethernet(link):
            continue
        for found, address, _ in link["addresses"]:
            ip = ipaddress.ip_address(address)
            if found in families and not (ip.is_link_local or ip.is_loopback or ip.is_multicast):
                owned[address] = link["mac"].hex(":")
    return owned


class _SockaddrLL(ctypes.Structure):
    """struct sockaddr_ll: bind(2) a packet socket by interface index."""

    _fields_ = [
        ("family", ctypes.c_ushort),
        ("protocol", ctypes.c_ushort),
        ("ifindex", ctypes.c_int),
        ("hatype", ctypes.c_ushort),
        ("pkttype", ctypes.c_ubyte),
        ("halen", ctypes.c_ubyte),
        ("addr", ctypes.c_ubyte * 8),
    ]


LIBC = ctypes.CDLL(None, use_errno=True)


def bind_link(sock, ifindex, proto):
    """Bind a packet socket to a link by its index (a name may not be UTF-8), for ``proto`` (an ETH_P_ number)."""
    address = _SockaddrLL(family=socket.AF_PACKET, protocol=socket.htons(proto), ifindex=ifindex)
    if LIBC.bind(sock.fileno(), ctypes.byref(address), ctypes.sizeof(address)):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def packet_socket(netns, link, family):
    """A non-blocking AF_PACKET socket bound to the link (by index), for ARP (AF_INET) or IPv6 frames."""
    proto = ETH_P_ARP if family == socket.AF_INET else ETH_P_IPV6
    try:
        sock = netlink.socket_in(netns or None, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        try:
            bind_link(sock, link["index"], proto)
        except OSError:
            sock.close()
            raise
        try:  # Linux 4.20: our own frames are not read back
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass
        sock.setblocking(False)
    except OSError as err:
        raise PacketError(err.errno, link["ifname"], "cannot open a packet socket") from err
    return sock


def _icmpv6(src, dst, message):
    """An IPv6 header and the ICMPv6 message with its checksum filled in."""
    pseudo = src + dst + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6) + message
    if len(pseudo) % 2:
        pseudo += b"\0"
    total = sum(array.array("H", pseudo))  # native order; folded and swapped below
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = socket.htons(~total & 0xFFFF)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    return IPV6_HEADER.pack(6 << 28, len(message), IPPROTO_ICMPV6, 255, src, dst) + message


def question(mac, source, family, dst, to=None):
    """
    The frame that asks who has ``dst``, from this host's ``source`` address
    and ``mac``, exactly as the kernel asks: to the MAC ``to`` alone (the
    kernel's unicast reachability probe), or with ``to=None`` to the whole
    segment (its address resolution: an ARP broadcast, an IPv6 solicitation
    to the address's solicited-node group).
    """
    if family == socket.AF_INET:
        arp = ARP_PACKET.pack(
            1, ETH_P_IP, 6, 4, ARPOP_REQUEST, mac, socket.inet_aton(source), bytes(6), socket.inet_aton(dst)
        )
        return ETHERNET.pack(to or BROADCAST, mac, ETH_P_ARP) + arp
    target = socket.inet_pton(socket.AF_INET6, dst)
    group = SOLICITED_NODES[:13] + target[13:]
    solicitation = ND_MESSAGE.pack(ND_NEIGHBOR_SOLICIT, 0, 0, 0, target) + bytes([ND_OPT_SOURCE_LLADDR, 1]) + mac
    own = socket.inet_pton(socket.AF_INET6, source)
    if to:
        return ETHERNET.pack(to, mac, ETH_P_IPV6) + _icmpv6(own, target, solicitation)
    return ETHERNET.pack(b"\x33\x33" + group[12:], mac, ETH_P_IPV6) + _icmpv6(own, group, solicitation)


def announcement(mac, family, address, reply=False):
    """
    A gratuitous ARP request (with ``reply``: a gratuitous reply, whose
    target MAC is ours, as ``arping -A`` sends it), or an unsolicited
    neighbour advertisement with the override flag.
    """
    if family == socket.AF_INET:
        own = socket.inet_aton(address)
        op, target = (ARPOP_REPLY, mac) if reply else (ARPOP_REQUEST, bytes(6))
        return ETHERNET.pack(BROADCAST, mac, ETH_P_ARP) + ARP_PACKET.pack(1, ETH_P_IP, 6, 4, op, mac, own, target, own)
    own = socket.inet_pton(socket.AF_INET6, address)
    advert = ND_MESSAGE.pack(ND_NEIGHBOR_ADVERT, 0, 0, NA_OVERRIDE, own) + bytes([ND_OPT_TARGET_LLADDR, 1]) + mac
    return ETHERNET.pack(b"\x33\x33\x00\x00\x00\x01", mac, ETH_P_IPV6) + _icmpv6(own, ALL_NODES, advert)


def answers_in(sock, family, mac):
    """Yield (address, MAC) of the answers waiting on a link's packet socket (``mac``: the link's own)."""
    while True:
        try:
            frame = sock.recv(2048)
        except BlockingIOError:
            return
        if frame[6:12] == mac:
            continue  # our own frame, on kernels that read them back
        if family == socket.AF_INET:
            if len(frame) < ETHERNET.size + ARP_PACKET.size:
                continue
            fields = ARP_PACKET.unpack_from(frame, ETHERNET.size)
            if fields[4] == ARPOP_REPLY:
                yield socket.inet_ntoa(fields[6]), fields[5].hex(":")
            continue
        start = ETHERNET.size + IPV6_HEADER.size
        if len(frame) < start + ND_MESSAGE.size or frame[ETHERNET.size + 6] != IPPROTO_ICMPV6:
            continue
        kind, _, _, _, target = ND_MESSAGE.unpack_from(frame, start)
        if kind != ND_NEIGHBOR_ADVERT:
            continue
        answered = option_mac(frame, start + ND_MESSAGE.size, ND_OPT_TARGET_LLADDR, frame[6:12])
        yield socket.inet_ntop(socket.AF_INET6, target), answered.hex(":")


def option_mac(frame, offset, wanted, default):
    """
    The MAC of the first link-layer address option of type ``wanted``
    (source or target) among a neighbour discovery message's options, which
    start at ``offset`` (RFC 4861 4.6.1: type, length in units of 8 bytes,
    then, on Ethernet, the MAC in one unit); ``default`` if there is none.
    """
    while offset + 8 <= len(frame) and frame[offset + 1]:
        if frame[offset] == wanted and frame[offset + 1] == 1:
            return frame[offset + 2 : offset + 8]
        offset += 8 * frame[offset + 1]
    return default


def collect_answers(entries, links, netns, timeout, rate, whole_segment):
    """
    Ask about every entry's address at once, ``rate`` questions a second:
    the whole segment (``whole_segment``), else each entry's cached MAC
    alone. Answers are collected for ``timeout`` seconds after the last
    question (all of them, so that a second MAC claiming an address is
    seen); a run that asked only cached MACs ends as soon as each has
    answered. Returns {(ifindex, dst): [MACs, in the order they answered]}.
    """
    if not entries:
        return {}
    sockets, questions = {}, []
    ifname = None
    try:
        for entry in entries:
            family = netlink.FAMILIES[entry["family"]]
            link = links[entry["ifindex"]]
            key = (link["index"], family)
            if key not in sockets:
                sockets[key] = packet_socket(netns, link, family)
            to = None if whole_segment else bytes.fromhex(entry["lladdr"].replace(":", ""))
            source = source_address(link, family, entry["dst"])
            questions.append((sockets[key], link["ifname"], question(link["mac"], source, family, entry["dst"], to)))
        waiting = {(entry["ifindex"], entry["dst"]) for entry in entries}
        readers = {sock.fileno(): (index, family, sock) for (index, family), sock in sockets.items()}
        answers, sent, deadline = {}, 0, None
        start = time.monotonic()
        while True:
            now = time.monotonic()
            while sent < len(questions) and start + sent / rate <= now:
                sock, ifname, frame = questions[sent]
                sock.send(frame)
                sent += 1
            if sent == len(questions):
                deadline = deadline or now + timeout
                if (not whole_segment and not waiting) or now >= deadline:
                    break
                wait = deadline - now
            else:
                wait = start + sent / rate - now
            ifname = None
            for fileno in select.select(list(readers), [], [], max(wait, 0))[0]:
                index, family, sock = readers[fileno]
                ifname = links[index]["ifname"]
                for dst, mac in answers_in(sock, family, links[index]["mac"]):
                    key = (index, dst)
                    if key in waiting or key in answers:
                        macs = answers.setdefault(key, [])
                        if mac not in macs:
                            macs.append(mac)
                        waiting.discard(key)
    except PacketError:
        raise
    except OSError as err:
        raise PacketError(err.errno, ifname, "asking the segment") from err
    finally:
        for sock in sockets.values():
            sock.close()
    return answers


def ask_like_the_kernel(entries, links, netns, timeout, rate, repair, sweep=False):
    """
    Ask about ``entries`` as the kernel confirms its own (RFC 1122 2.3.2.1,
    RFC 4861 7.3.3): each cached MAC alone first (a unicast question, which
    no other host receives). With ``repair``, the entries whose cached MAC
    did not answer are then asked of the whole segment, which finds who
    holds the address now; an entry whose MAC answers costs no broadcast.
    With ``sweep``, every entry is asked of the whole segment at once: the
    only way to hear a second MAC behind a cached one that answers. A
    routing daemon's entry is only ever asked of its cached MAC
    (policy.asked_of_the_segment). Returns ``{(ifindex, dst): [MACs]}``, as
    :func:`collect_answers`.
    """
    segment = [entry for entry in entries if policy.asked_of_the_segment(entry)]
    if sweep:
        alone = [entry for entry in entries if not policy.asked_of_the_segment(entry)]
        answers = collect_answers(alone, links, netns, timeout, rate, whole_segment=False)
        answers.update(collect_answers(segment, links, netns, timeout, rate, whole_segment=True))
        return answers
    answers = collect_answers(entries, links, netns, timeout, rate, whole_segment=False)
    if repair:
        silent = [
            entry for entry in segment if entry["lladdr"] not in answers.get((entry["ifindex"], entry["dst"]), [])
        ]
        answers.update(collect_answers(silent, links, netns, timeout, rate, whole_segment=True))
    return answers


def announcements(mac, family, address, mode):
    """The frames of one announcement of ``address`` in ``mode`` (IPv6: the advertisement, in every mode)."""
    if family == socket.AF_INET6:
        return [announcement(mac, family, address)]
    replies = {"request": (False,), "reply": (True,), "both": (False, True)}[mode]
    return [announcement(mac, family, address, reply) for reply in replies]


def announce(chosen, netns, count=1, interval=0.0, mode="request"):
    """
    Announce each (link, [(family, address, prefix)]) of ``chosen`` out of
    its link, one packet socket per link: ``count`` times, ``interval``
    seconds apart, in ``mode`` (:func:`announcements`). Yields (ifname,
    address) as each address's first announcement leaves, so that the caller
    knows what went out before an error.
    """
    sockets = {}
    try:
        for round_ in range(count):
            if round_:
                time.sleep(interval)
            for link, addresses in chosen:
                if link["index"] not in sockets:
                    sockets[link["index"]] = packet_socket(netns, link, addresses[0][0])
                for family, address, _ in addresses:
                    try:
                        for frame in announcements(link["mac"], family, address, mode):
                            sockets[link["index"]].send(frame)
                    except OSError as err:
                        raise PacketError(err.errno, link["ifname"], "sending announcements") from err
                    if not round_:
                        yield link["ifname"], address
    finally:
        for sock in sockets.values():
            sock.close()
