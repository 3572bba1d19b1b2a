"""
Frames seen on an interface (not those it sends): capture.py IFNAME SECONDS
prints "ready", then after SECONDS a JSON list of [time, frame as hex].
"""

import json
import select
import socket
import sys
import time

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
frames, end = [], time.monotonic() + float(sys.argv[2])
while (left := end - time.monotonic()) > 0:
    if select.select([s], [], [], left)[0]:
        frame, where = s.recvfrom(65535)
        if where[2] != socket.PACKET_OUTGOING:
            frames.append([time.monotonic(), frame.hex()])
print(json.dumps(frames), flush=True)
