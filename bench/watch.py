"""
What the watcher costs (arp.watch, the engine arp_watch's rounds): its CPU
share of one core while the database's interface carries traffic, next to
the same watch on a quiet interface.

    ./run bench watch [--seconds 20]

A lab segment (tests/support/segments.Segment): the database, and a sender whose
entry the database holds with its right MAC (reachable, timers frozen). For
each load, arp.watch runs on the database's eth0 in a process of its own
(bench/child.py watch: the CPU seconds of the call, user and system), while
the sender (bench/traffic.py, in its namespace) puts on the wire:

- quiet: nothing;
- unrelated traffic: 10,000 UDP datagrams a second, which the watcher's
  classic BPF filter keeps in the kernel;
- new connections: 1,000 TCP SYNs a second from the sender's address (a new
  source port each), which reach the watcher: each is judged against the
  entry, which holds the sender's MAC, so nothing is asked.

Writes bench/watch.json and prints the docs' table.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench.measure import machine, markdown_table, write_json  # noqa: E402
from tests.support import lab, segments  # noqa: E402

DB_IP, SENDER_IP, SENDER_MAC = "198.18.0.1", "198.18.0.2", "02:00:00:18:00:02"
LOADS = (("quiet", None, 0), ("unrelated traffic (UDP)", "udp", 10000), ("new connections (TCP SYN)", "syn", 1000))


def one_load(db, sender, name, kind, per_second, seconds):
    """The watcher's figures under one load."""
    child = [sys.executable, os.path.join(HERE, "child.py"), "watch", db.name, "eth0", str(seconds)]
    # pylint: disable-next=consider-using-with  (waited for below, whatever happens)
    watcher = subprocess.Popen(child, stdout=subprocess.PIPE, text=True)
    traffic = None
    try:
        if kind:
            program = [sys.executable, os.path.join(HERE, "traffic.py"), kind, str(per_second), str(seconds)]
            traffic = sender.popen(*program, SENDER_IP, SENDER_MAC, DB_IP, lab.DB_MAC)
        out, _ = watcher.communicate(timeout=seconds + 60)
        sent = int(traffic.communicate(timeout=seconds + 60)[0]) if traffic else 0
    finally:
        for process in (watcher, traffic):
            if process and process.poll() is None:
                process.kill()
                process.wait()
    if watcher.returncode != 0:
        sys.exit(f"bench: the watcher failed under {name}")
    found = json.loads(out)
    return {
        "load": name,
        "per_second": per_second,
        "sent": sent,
        "seconds": round(found["seconds"], 2),
        "cpu_seconds": round(found["cpu_seconds"], 3),
        "core_share": round(found["cpu_seconds"] / found["seconds"], 4),
        "seen": found["seen"],
        "asked": found.get("asked", 0),
        "changed": found.get("replaced", 0) + found.get("deleted", 0),
    }


def table(runs):
    header = ["load", "frames sent a second", "watcher's CPU, share of one core", "frames it read", "asked", "changed"]
    rows = [
        [
            run["load"],
            f"{run['per_second']:,}",
            f"{100 * run['core_share']:.2f}%",
            f"{run['seen']:,}",
            str(run["asked"]),
            str(run["changed"]),
        ]
        for run in runs
    ]
    return markdown_table(header, ["---", "---:", "---:", "---:", "---:", "---:"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    options = parser.parse_args()
    runs = []
    with lab.Lab(share=False) as netlab:
        segment = segments.Segment(netlab, ipv6=False)
        db = segment.host("db", DB_IP, lab.DB_MAC)
        sender = segment.host("sender", SENDER_IP, SENDER_MAC)
        db.freeze_timers("eth0")
        db.ip("neigh", "replace", SENDER_IP, "dev", "eth0", "lladdr", SENDER_MAC, "nud", "reachable")
        for name, kind, per_second in LOADS:
            runs.append(one_load(db, sender, name, kind, per_second, options.seconds))
            print(json.dumps(runs[-1]), flush=True)
        entry = segment.neighbour(db, SENDER_IP)
        assert entry["lladdr"] == SENDER_MAC, f"the sender's entry changed: {entry}"
    command = " ".join(["./run", "bench", "watch", *sys.argv[1:]])
    write_json("watch.json", {"machine": machine(), "command": command, "runs": runs}, indent=2)
    print(table(runs))


if __name__ == "__main__":
    main()
