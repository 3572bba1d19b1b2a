"""
What responder.py and fabric.py share: a raw ARP socket on the interface
argv[1], the ARP requests it hears (not its own), and an answer to one.
"""

import socket
import struct
import sys

ARP = struct.Struct("!HHBBH6s4s6s4s")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0x0806))


def requests():
    """(sha, spa, tpa) of each ARP request heard; prints "ready" first."""
    print("ready", flush=True)
    while True:
        frame, where = s.recvfrom(2048)
        if where[2] == socket.PACKET_OUTGOING or len(frame) < 42:
            continue
        fields = ARP.unpack_from(frame, 14)
        if fields[4] == 1:
            yield fields[5], fields[6], fields[8]


def answer(sha, spa, mac, address):
    s.send(sha + mac + b"\x08\x06" + ARP.pack(1, 0x0800, 6, 4, 2, mac, address, sha, spa))
