"""
A cloud fabric's ARP service: answers every ARP request that reaches the
bridge for an address the fabric knows (a JSON file {address: MAC}, read at
each request), with the owner's MAC, as a VPC does; hosts never hear each
other's broadcasts. fabric.py BRIDGE KNOWN_FILE
"""

import json
import socket
import sys

from arp_requests import answer, requests

for sha, spa, tpa in requests():
    with open(sys.argv[2], encoding="utf-8") as known:
        mac = json.load(known).get(socket.inet_ntoa(tpa))
    if mac and spa != tpa:
        answer(sha, spa, bytes.fromhex(mac.replace(":", "")), tpa)
