"""send_udp.py ADDRESS COUNT: COUNT UDP datagrams of 100 bytes to ADDRESS, port 9 (discard)."""

import socket
import sys

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for _ in range(int(sys.argv[2])):
        s.sendto(b"x" * 100, (sys.argv[1], 9))
