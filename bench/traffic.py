"""
Frames at a steady rate onto a lab host's eth0, for bench/watch.py (run
inside the sending host's namespace).

    python bench/traffic.py udp|syn PER_SECOND SECONDS SRC_IP SRC_MAC DST_IP DST_MAC

``udp``: datagrams to port 9 (discard), which the watcher's filter keeps in
the kernel; ``syn``: TCP SYNs from SRC_IP (a new connection each: ports
count up), which reach the watcher. Sends in batches every 10 ms, and
prints how many frames it sent.
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import ethernet  # noqa: E402

TICK = 0.01


def frame(kind, number, src_ip, src_mac, dst_ip, dst_mac):
    if kind == "udp":
        payload = struct.pack("!HHHH", 40000 + number % 20000, 9, 8 + 4, 0) + b"load"
        packet = ethernet.ipv4(src_ip, dst_ip, 17, payload)
    else:
        segment = bytearray(ethernet.tcp(0x02, 5433))
        segment[0:2] = struct.pack("!H", 1024 + number % 60000)  # a new source port: a new connection
        packet = ethernet.ipv4(src_ip, dst_ip, 6, bytes(segment))
    return ethernet.ethernet(ethernet.mac_bytes(dst_mac), ethernet.mac_bytes(src_mac), 0x0800, packet)


def main():
    kind, per_second, seconds, src_ip, src_mac, dst_ip, dst_mac = sys.argv[1:]
    per_second, seconds = int(per_second), float(seconds)
    frames = [frame(kind, n, src_ip, src_mac, dst_ip, dst_mac) for n in range(max(1, per_second))]
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    raw.bind(("eth0", 0))
    sent, began = 0, time.monotonic()
    while (now := time.monotonic()) < began + seconds:
        due = int((now - began) * per_second)
        while sent < due:
            raw.send(frames[sent % len(frames)])
            sent += 1
        time.sleep(TICK)
    raw.close()
    print(sent, flush=True)


if __name__ == "__main__":
    main()
