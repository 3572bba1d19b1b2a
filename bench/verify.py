"""
What verify puts on the wire: the questions a database sends in one
``arp.verify fix=True`` run (the formula's default job, every 5 minutes), for
tables of 100 and 1,000 neighbours with 0, 1% and 10% of them wrong, asked
as the kernel asks (each cached MAC alone first; the segment only for those
that do not answer) and as a sweep (``sweep=True``: every entry of the
segment, verify's only way before 0.2). Each run's seconds beside.

    ./run bench verify [--sizes 100,1000] [--rate 200]

A lab segment (tests/support/segments.Segment): the database, and one host that
owns every neighbour's address (198.18.0.0/15) and answers for it as any
Linux host does. Correct entries are permanent (verify asks about them as
about any entry with a MAC, and the kernel's garbage collection leaves them
out of its thresholds); wrong ones are stale, holding a MAC nobody has, and
put back before each run. Frames are counted on the database's port of the
bridge: ARP requests from its MAC, broadcast or to one MAC. No sysctl of
the host changes. Writes bench/verify.json and prints the docs' table.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench.child import load_arp  # noqa: E402
from bench.measure import machine, markdown_table, write_json  # noqa: E402
from tests.support import lab, segments  # noqa: E402

OWNER_MAC, DEAD_MAC = "02:00:00:18:00:01", "02:00:00:18:ff:ff"
SHARES = (0, 0.01, 0.10)
WAYS = {"as the kernel asks (default)": False, "sweep=True": True}


def addresses(size):
    """``size`` neighbours' addresses: not x.y.z.0 nor .255 (the owner's own /24 makes 198.18.0.255 broadcast)."""
    return [f"198.18.{n >> 8}.{n & 255}" for n in range(3, 3 + 2 * size) if 0 < n & 255 < 255][:size]


def segment(netlab, size):
    """(segment, db) with ``size`` neighbours that one owner host answers for."""
    seg = segments.Segment(netlab, ipv6=False)
    db = seg.host("db", "198.18.0.1", lab.DB_MAC)
    owner = seg.host("owner", "198.18.0.2", OWNER_MAC)
    owner.batch([f"addr add {address}/15 dev eth0" for address in addresses(size)])
    return seg, db


def cache(db, size, wrong):
    """Every neighbour cached: the first ``wrong`` with a dead MAC (stale), the others right (permanent)."""
    lines = []
    for number, address in enumerate(addresses(size)):
        if number < wrong:
            lines.append(f"neigh replace {address} dev eth0 lladdr {DEAD_MAC} nud stale")
        else:
            lines.append(f"neigh replace {address} dev eth0 lladdr {OWNER_MAC} nud permanent")
    db.batch(lines)


def one_run(arp, seg, db, size, share, sweep, rate):
    wrong = round(size * share)
    cache(db, size, wrong)
    wire = seg.sent_by(db, seconds=size / rate * 2 + 6)
    start = time.monotonic()
    result = arp.verify(netns=db.name, fix=True, sweep=sweep, rate=rate, timeout=1)
    seconds = time.monotonic() - start
    mac = bytes.fromhex(lab.DB_MAC.replace(":", ""))
    requests = [f for f in wire.frames() if f[6:12] == mac and (lab.arp_fields(f) or (None,))[0] == 1]
    broadcast = sum(1 for frame in requests if frame[0:6] == b"\xff" * 6)
    healed = sum(len(entries) for entries in result["replaced"].values())
    assert healed == wrong, (healed, wrong)
    return {
        "entries": size,
        "wrong": wrong,
        "way": "sweep" if sweep else "kernel",
        "unicast": len(requests) - broadcast,
        "broadcast": broadcast,
        "seconds": round(seconds, 2),
        "healed": healed,
    }


def table(runs):
    header = ["entries", "wrong", "asked", "unicast questions", "broadcast questions", "seconds"]
    rows = [
        [
            f"{run['entries']:,}",
            str(run["wrong"]),
            "sweep=True" if run["way"] == "sweep" else "as the kernel asks (default)",
            f"{run['unicast']:,}",
            f"{run['broadcast']:,}",
            f"{run['seconds']:.1f}",
        ]
        for run in runs
    ]
    return markdown_table(header, ["---:", "---:", "---", "---:", "---:", "---:"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--rate", type=float, default=200, help="verify's rate (the formula's default: 200)")
    options = parser.parse_args()
    arp = load_arp()
    runs = []
    with lab.tables_to_ourselves():
        for size in (int(text) for text in options.sizes.split(",")):
            with lab.Lab(share=False) as netlab:
                seg, db = segment(netlab, size)
                for share in SHARES:
                    for sweep in WAYS.values():
                        runs.append(one_run(arp, seg, db, size, share, sweep, options.rate))
                        print(json.dumps(runs[-1]), flush=True)
    write_json("verify.json", {"machine": machine(), "rate": options.rate, "runs": runs}, indent=2)
    print(table(runs))


if __name__ == "__main__":
    main()
