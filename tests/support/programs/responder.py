"""
A host that answers ARP requests for an address it does not configure (its
kernel stays out of it), with its own MAC, after a delay: the second
claimant of an address conflict, fast or slow.
responder.py IFNAME ADDRESS MAC DELAY
"""

import socket
import sys
import time

from arp_requests import answer, requests

address, delay = socket.inet_aton(sys.argv[2]), float(sys.argv[4])
mac = bytes.fromhex(sys.argv[3].replace(":", ""))
for sha, spa, tpa in requests():
    if tpa == address:
        time.sleep(delay)
        answer(sha, spa, mac, address)
