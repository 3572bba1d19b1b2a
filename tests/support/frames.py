"""What the verify and announce tests read off a segment: tables by address, and the questions on the wire."""

import ipaddress
import json

from tests.support import lab

NOBODY, NOBODY_REACHABLE = "192.0.2.99", "192.0.2.98"


def table(ns):
    """A namespace's table as ``ip -j neigh show nud all`` reports it, by address; multicast left out."""
    return {entry["dst"]: entry for entry in ns.neighbours() if not entry["dst"].startswith("ff")}


def unicast_json(ns):
    """The entries of ``ip -j neigh show nud all`` for unicast addresses, each as the JSON text ip printed."""
    return [
        json.dumps(entry)
        for entry in json.loads(ns.ip("-j", "neigh", "show", "nud", "all").stdout)
        if not entry["dst"].startswith("ff")
    ]


def questions(frames, targets, kinds=(1,), icmp=(135,)):
    """
    The frames that ask (ARP ``kinds``, ICMPv6 ``icmp`` types) about one of
    ``targets``: by default ARP requests and neighbour solicitations.
    """
    asked = []
    for frame in frames:
        fields = lab.arp_fields(frame)
        if fields and fields[0] in kinds and fields[4] in targets:
            asked.append(frame)
        elif frame[12:14] == b"\x86\xdd" and len(frame) >= 78 and frame[54] in icmp:
            if ipaddress.ip_address(frame[62:78]).compressed in targets:
                asked.append(frame)
    return asked


def macs(ns):
    return {dst: entry.get("lladdr") for dst, entry in table(ns).items()}


def cache(ns, address, lladdr, state, *flags, dev="eth0"):
    ns.ip("neigh", "replace", address, "dev", dev, "lladdr", lladdr, "nud", state, *flags)
