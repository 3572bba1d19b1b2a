"""nudge.py ADDRESS...: one UDP datagram to port 9 of each address (IPv4 or IPv6), so that its entry is used."""

import socket
import sys

for address in sys.argv[1:]:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", (address, 9))
