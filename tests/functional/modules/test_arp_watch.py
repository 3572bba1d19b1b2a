"""
arp.watch (issue 35, work in progress) on the real kernel: the incident, where
the database caches a worker's address on a dead MAC (reachable) and the new
worker connects. With the watcher running the handshake completes at the
first SYN retransmission; without it, never within the test's time.
"""

import threading
import time

import pytest

from tests.support import lab

pytestmark = pytest.mark.once


def test_the_first_syn_heals_the_black_hole_and_the_handshake_completes_at_its_retransmission(arp, netlab):
    hole = lab.BlackHole(netlab, state="reachable")
    assert not hole.connect(timeout=3), "the black hole is not one"
    hole.db.ip("neigh", "replace", lab.WORKER_IP, "dev", "eth0", "lladdr", lab.OLD_MAC, "nud", "reachable")
    result = {}
    watching = threading.Thread(
        target=lambda: result.update(arp.watch(interface="eth0", netns=hole.db.name, seconds=4, test=False))
    )
    watching.start()
    time.sleep(0.5)  # its sockets open
    began = time.monotonic()
    connected = hole.connect(timeout=3)
    took = time.monotonic() - began
    watching.join()
    print(f"handshake {took:.2f} s after the first SYN; {result}")
    assert connected and took < 1.5, (took, result)
    assert result["contradicted"] == {"eth0": {lab.WORKER_IP: {"cached": lab.OLD_MAC, "claimed": lab.NEW_MAC}}}
    assert result["asked"] == {"eth0": {lab.WORKER_IP: lab.OLD_MAC}}
    assert result["replaced"] == {"eth0": {lab.WORKER_IP: {"old": lab.OLD_MAC, "new": lab.NEW_MAC}}}, result
    assert hole.entry()["lladdr"] == lab.NEW_MAC
