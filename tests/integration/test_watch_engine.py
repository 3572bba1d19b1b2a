"""
The watcher's engine (salt/_engines/arp_watch.py, issue 35) in a real minion
daemon, started from the minion's configuration: the incident's database
caches the new worker's address on a dead MAC (reachable); the worker's
first SYN heals it, the handshake completes at the SYN's retransmission, and
the repair reaches the master's bus as an event. Its interface appears only
after the minion started: the rounds before fail, and the engine goes on.
"""

import time

import salt.utils.event

from tests.support import lab, segments

REPAIRED = "arp_hygiene/watch/repaired"


def connect(ns, address, port, timeout):
    """A TCP connect from ``ns``: (connected, seconds from the first SYN)."""
    began = time.monotonic()
    done = ns.exec(*lab.CONNECT, address, str(port), str(timeout), check=False)
    return done.returncode == 0, time.monotonic() - began


def test_the_engine_heals_the_black_hole_at_the_first_syn_and_tells_the_master(master, netlab, tmp_path):
    hole = segments.BlackHole(netlab, state="reachable")
    settings = {"interface": "db0", "family": "inet", "netns": hole.db.name, "round_seconds": 5, "retry_seconds": 1}
    settings["metrics_dir"] = str(tmp_path)
    engine = {"arp_watch": settings}
    minion = master.salt_minion_daemon("arp-watch-db", overrides={"engines": [engine]})
    with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=True) as bus:
        bus.subscribe(REPAIRED)
        bus.connect_pub()
        with minion.started():
            time.sleep(2)  # rounds that fail: no db0 yet
            hole.db.batch(["link set eth0 down", "link set eth0 name db0", "link set db0 up"])
            hole.db.ip("neigh", "replace", lab.WORKER_IP, "dev", "db0", "lladdr", lab.OLD_MAC, "nud", "reachable")
            time.sleep(2)  # the engine's first round: its sockets open
            connected, took = connect(hole.worker, lab.DB_IP, lab.PORT, 3)
            event = bus.get_event(wait=10, tag=REPAIRED, full=True)
            # The round's metrics, written before its event (the next round's replace them).
            written = (tmp_path / "arp_hygiene_watch.prom").read_text()
    print(f"engine: handshake {took:.2f} s after the first SYN; {event}")
    assert connected and took < 1.5, took
    assert event is not None, "no repair event reached the master"
    assert event["data"]["id"] == minion.id, event
    assert event["data"]["data"]["replaced"] == {"db0": {lab.WORKER_IP: {"old": lab.OLD_MAC, "new": lab.NEW_MAC}}}
    assert hole.neighbour(hole.db, lab.WORKER_IP)["lladdr"] == lab.NEW_MAC
    assert 'arp_hygiene_last_run_entries{interface="db0",outcome="replaced",task="watch"} 1' in written, written
