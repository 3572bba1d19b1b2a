"""Ethernet frames built by hand for the watcher's tests: ARP, IPv4 and IPv6 with TCP or ICMPv6."""

import socket
import struct


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


def ethernet(dst, src, kind, payload):
    """A frame from MAC ``src`` to ``dst`` (bytes), padded to Ethernet's minimum."""
    return (dst + src + struct.pack("!H", kind) + payload).ljust(60, b"\0")


def ipv4(src, dst, protocol, payload, ihl=5, fragment=0):
    """An IPv4 packet (``src``, ``dst``: strings) with ``ihl`` words of header and the fragment field as given."""
    options = bytes(4 * (ihl - 5))
    addresses = socket.inet_aton(src), socket.inet_aton(dst)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 1, fragment, 64,
                         protocol, 0, *addresses) + options  # fmt: skip
    # A bridge that hands frames to netfilter drops IPv4 headers whose checksum is wrong.
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:] + payload


def ipv6(src, dst, next_header, payload):
    """An IPv6 packet (``src`` may be ``::``)."""
    addresses = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 255, *addresses) + payload


def tcp(flags, port=5432):
    """A TCP header with ``flags`` (0x02 SYN, 0x10 ACK) to ``port``."""
    return struct.pack("!HHIIBBHHH", 40000, port, 1, 0, 0x50, flags, 65535, 0, 0)


def neighbour_discovery(kind, target, option_kind, option_mac):
    """An NS (135) or NA (136) for ``target`` with one link-layer option."""
    return (
        struct.pack("!BBHI16s", kind, 0, 0, 0, socket.inet_pton(socket.AF_INET6, target))
        + bytes([option_kind, 1])
        + mac_bytes(option_mac)
    )


def arp_request(sender_mac, sender_ip, target_ip):
    return struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_bytes(sender_mac), socket.inet_aton(sender_ip), bytes(6),
        socket.inet_aton(target_ip),
    )  # fmt: skip
