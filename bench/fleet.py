"""
The reactor's heal time and the audit at scale, for README's Performance.

    ./run bench fleet [--restarts N]

Heal time: the reactor's integration test (tests/integration/test_reactor.py,
a real master, database minion and worker minion on a lab network that carries
no ARP broadcast) restarts the worker N times (default 12); each time, from
the master's start event (its _stamp) to the database's entry for the worker's
address no longer holding the dead MAC. Beside it, what a cron schedule of
interval_minutes leaves: the black hole lasts until the next run, interval / 2
on average and the interval at worst.

The audit at scale: one database table of 10,000 entries (a lab namespace),
checked against 1,000 minions' synthetic claims of 10 addresses each (1 in
100 with another MAC than the table's, 10 addresses claimed twice): the
runner's merge of the claims and the minion's arp.forget in test mode, in a
process of its own (bench/child.py audit): seconds and peak RSS; then the
fix (the wrong entries deleted).

Writes bench/fleet.json and bench/heal.png.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.measure import HERE, RaisedGcThresh, build  # noqa: E402
from tests.support import lab  # noqa: E402

REACTOR_TESTS = "tests/integration/test_reactor.py"
CRON_MINUTES = (1, 5)
AUDIT_ENTRIES, AUDIT_MINIONS = 10000, 1000


def percentile(values, share):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * share // 100) - 1)]


def heal_times(restarts):
    with tempfile.NamedTemporaryFile(prefix="arp-hygiene-heal-", suffix=".json") as out:
        env = dict(os.environ, ARP_HYGIENE_HEAL_RESTARTS=str(restarts), ARP_HYGIENE_HEAL_RESULTS=out.name)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", REACTOR_TESTS, "-k", "heals_its_black_hole"],
            env=env,
            cwd=os.path.dirname(HERE),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit("bench: the heal-time run failed:\n" + done.stdout[-4000:] + done.stderr[-2000:])
        with open(out.name, encoding="utf-8") as results:
            return json.load(results)


def audit_scale():
    with lab.tables_to_ourselves(), RaisedGcThresh(2 * AUDIT_ENTRIES), lab.Lab() as netlab:
        ns = build(netlab, AUDIT_ENTRIES)
        result = subprocess.run(
            [sys.executable, os.path.join(HERE, "child.py"), "audit", ns.name, "a0", str(AUDIT_MINIONS)],
            capture_output=True,
            text=True,
            check=True,
        )
    return {"table": AUDIT_ENTRIES, **json.loads(result.stdout)}


def chart(times, path):
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = ["reactor: median, min-max"] + [f"cron every {m} min: mean" for m in CRON_MINUTES]
    labels += [f"cron every {m} min: worst" for m in CRON_MINUTES]
    values = [statistics.median(times)] + [m * 30 for m in CRON_MINUTES] + [m * 60 for m in CRON_MINUTES]
    ax.barh(labels, values, color=["#2a7"] + ["#c84"] * 4)
    ax.errorbar(
        [statistics.median(times)],
        [0],
        xerr=[[statistics.median(times) - min(times)], [max(times) - statistics.median(times)]],
        fmt="none",
        color="black",
        capsize=3,
    )
    ax.set_xscale("log")
    ax.set_xlabel("seconds a reused address stays a black hole (log scale)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=12)
    parser.add_argument("--audit-only", action="store_true", help="measure the audit; keep fleet.json's heal times")
    args = parser.parse_args()
    if args.audit_only:
        with open(os.path.join(HERE, "fleet.json"), encoding="utf-8") as before:
            times = json.load(before)["heal"]["seconds"]
    else:
        times = heal_times(args.restarts)
    audit = audit_scale()
    report = {
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "heal": {
            "restarts": len(times),
            "seconds": times,
            "p50": statistics.median(times),
            "p95": percentile(times, 95),
            "cron": {f"{m} min": {"mean": m * 30, "worst": m * 60} for m in CRON_MINUTES},
        },
        "audit": audit,
    }
    with open(os.path.join(HERE, "fleet.json"), "w", encoding="utf-8") as out:
        json.dump(report, out, indent=1)
    chart(times, os.path.join(HERE, "heal.png"))
    heal = report["heal"]
    print(
        f"heal time over {heal['restarts']} worker restarts: p50 {heal['p50']:.2f} s, p95 {heal['p95']:.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}); cron every 5 min: 150 s mean, 300 s worst"
    )
    print(
        f"audit: a table of {audit['table']:,} entries ({audit['matched']:,} for claimed addresses) "
        f"against {audit['minions']:,} minions' {audit['addresses']:,} addresses: "
        f"{audit['seconds']:.2f} s (merge {audit['merge_seconds']:.3f} s, forget {audit['forget_seconds']:.2f} s), "
        f"{audit['wrong']} wrong entries found, {audit['conflicts']} conflicts; fix: {audit['fixed']} deleted in "
        f"{audit['fix_seconds']:.2f} s; peak RSS {audit['rss_mb']:.0f} MB"
    )
    print("Wrote bench/fleet.json and bench/heal.png")


if __name__ == "__main__":
    main()
