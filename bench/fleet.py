"""
The heal at scale, the reactor's heal time and the audit, for the Scale and
Performance pages.

    ./run bench fleet [--restarts N] [--storms-only | --more-storms | --audit-only] [--sizes 10,100,1000]
                      [--patterns "at once,spread,random"] [--silent 0,0.01,0.1]
                      [--databases 1,5,20] [--database-multiprocessing true,false]
                      [--real-workers 10]
                      [--audits 1000x1,1000x10,5000x1,5000x10]

Storms (tests/integration/test_fleet.py, a real master running the drop-in
that arp_hygiene.master writes with the engine, real database minions on
lab tables, real worker minions restarted in each storm, synthetic workers
whose start events and answers are fired on the master's bus; what that
leaves out: tests/support/fleet.py): for every databases count and the
database minions' Salt option multiprocessing (on, Salt's default: a
process for each job; off: a thread), each storm
of the matrix sizes x patterns (all at once; spread evenly or at random
over 60 s) x silent shares. Per storm: heal time from the start event's
stamp to the delete seen by a netlink listener in every database table
(p50, p95, p99, max), the reactor lag (start to the question), jobs, lost
heals, test.ping round trips, the master's CPU seconds and peak RSS.

Heal time of one worker: the reactor's integration test
(tests/integration/test_reactor.py) restarts the worker N times (default
12); each time, from the master's start event (its _stamp) to the
database's entry for the worker's address no longer holding the dead MAC.
Beside it, what a cron schedule of interval_minutes leaves: the black hole
lasts until the next run, interval / 2 on average and the interval at worst.

Audits (the same test's, -k audit): salt-run arp_hygiene.audit through the
real master and one database minion over MINIONS synthetic workers of
ADDRESSES each (the table holds every address, 1 in 100 on a dead MAC):
seconds in all and per step (to the question's publication, to the last
answer, to the forward, the database's forget, to the runner's return), the
bytes of the forward's publication and of the database's return as the bus
carried them, against max_event_size.

The audit of one table (audit_table): one database table of 10,000 entries (a lab namespace),
checked against 1,000 minions' synthetic claims of 10 addresses each (1 in
100 with another MAC than the table's, 10 addresses claimed twice): the
runner's merge of the claims and the minion's arp.forget in test mode, in a
process of its own (bench/child.py audit): seconds and peak RSS; then the
fix (the wrong entries deleted).

Writes bench/fleet.json, bench/heal.png and bench/storms.png."""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.measure import HERE, RaisedGcThresh, build, machine, write_json  # noqa: E402
from tests.support import lab  # noqa: E402

REACTOR_TESTS = "tests/integration/test_reactor.py"
FLEET_TESTS = "tests/integration/test_fleet.py"
SPREAD_S = 60
CRON_MINUTES = (1, 5)
AUDIT_ENTRIES, AUDIT_MINIONS = 10000, 1000
CLIP_S = 3.0  # the storms chart's axis, in seconds


def percentile(values, share):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * share // 100) - 1)]


def pytest_environ(**settings):
    """
    The environment of a pytest run of the bench, and its TMPDIR, made now
    and removed after: salt-factories roots its daemons' directories there
    (in /tmp by default, where a run left them).
    """
    tmp = tempfile.TemporaryDirectory(prefix="arp-hygiene-bench-")
    return dict(os.environ, **settings, TMPDIR=tmp.name), tmp


def heal_times(restarts):
    with tempfile.NamedTemporaryFile(prefix="arp-hygiene-heal-", suffix=".json") as out:
        env, tmp = pytest_environ(ARP_HYGIENE_HEAL_RESTARTS=str(restarts), ARP_HYGIENE_HEAL_RESULTS=out.name)
        with tmp:
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


def fleet_run(settings, key, expected, what, select=()):
    """
    The figures that tests/integration/test_fleet.py (``select``: its pytest
    -k) writes under ``key`` of its results file, run with ``settings`` (its
    ARP_HYGIENE_FLEET_* environment); exits when fewer than ``expected``
    came, and prints the test's verdict when its assertions failed (the
    figures still stand).
    """
    with tempfile.NamedTemporaryFile(prefix=f"arp-hygiene-{what}-", suffix=".json") as out:
        env, tmp = pytest_environ(**settings, ARP_HYGIENE_FLEET_RESULTS=out.name)
        with tmp:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", FLEET_TESTS, *select],
                env=env,
                cwd=os.path.dirname(HERE),
                capture_output=True,
                text=True,
            )
        with open(out.name, encoding="utf-8") as results:
            text = results.read()
    figures = json.loads(text).get(key, []) if text else []
    if len(figures) < expected:
        sys.exit(f"bench: the {what} failed:\n" + done.stdout[-4000:] + done.stderr[-2000:])
    if done.returncode != 0:
        failed = [line for line in done.stdout.splitlines() if line.startswith("E ")][:3]
        print(f"bench: one of the {what} failed the test's assertions:\n" + "\n".join(failed), file=sys.stderr)
    return figures


def storms(databases, multiprocessing, real_workers, matrix):
    """
    The figures of each storm of ``matrix`` (test_fleet's specs), with ``databases`` database
    minions whose Salt option ``multiprocessing`` is ``multiprocessing`` ("true" or "false").
    """
    settings = {
        "ARP_HYGIENE_FLEET_DATABASE_MULTIPROCESSING": multiprocessing,
        "ARP_HYGIENE_FLEET_STORMS": json.dumps(matrix),
        "ARP_HYGIENE_FLEET_DATABASES": str(databases),
        "ARP_HYGIENE_FLEET_REAL_WORKERS": str(real_workers),
        "ARP_HYGIENE_FLEET_NICE_WORKERS": "true",
    }
    # Each database table maps every worker's address (the kernel's limit, gc_thresh3, is
    # one for all namespaces: 1,024 by default, below five tables of 1,000 workers).
    largest = max((spec["starts"] for spec in matrix), default=0) + real_workers
    with RaisedGcThresh(2 * (databases + 1) * largest):
        figures = fleet_run(settings, "storms", len(matrix), "storms")
    return [
        {key: value for key, value in storm.items() if key not in ("timeline", "database_log")} for storm in figures
    ]


def matrix(sizes, patterns, silent):
    """test_fleet's storm specs: every size, pattern and silent share."""
    return [
        {"starts": n, "spread_s": 0 if pattern == "at once" else SPREAD_S, "pattern": pattern, "silent": share}
        for n in sizes
        for pattern in patterns
        for share in silent
    ]


def storms_chart(found, path):
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(found)))
    labels = [
        f"{s['starts']:,} {s['pattern']}, {s['silent']} silent, {s['databases']} db"
        + ("" if s.get("database_multiprocessing", True) else ", threads")
        for s in found
    ]
    # The axis ends at CLIP_S: a storm beyond it (twenty databases on 2 cores) has its figures written at the edge.
    p95s, maxes = [s["heal_s"]["p95"] for s in found], [s["heal_s"]["max"] for s in found]
    ax.barh(labels, [min(p95, CLIP_S) for p95 in p95s], color="#2a7", label="heal p95")
    ax.scatter([min(high, CLIP_S) for high in maxes], range(len(found)), color="black", marker="|", label="max")
    for row, (p95, high) in enumerate(zip(p95s, maxes, strict=True)):
        if high > CLIP_S:
            ax.text(CLIP_S * 0.98, row, f"p95 {p95:.1f} s, max {high:.1f} s", ha="right", va="center", fontsize=8)
    ax.set_xlim(0, CLIP_S)
    ax.axvline(1.0, color="#c84", linestyle="--", label="target p95 1 s")
    ax.set_xlabel("seconds from a start event to the delete in every database table")
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def audit_spec(text):
    """An --audits item, MINIONSxADDRESSES ("5000x10"), as test_fleet's audit spec."""
    minions, addresses_each = (int(part) for part in text.split("x"))
    return {"minions": minions, "addresses_each": addresses_each}


def audits(specs, real_workers):
    """The figures of each audit of ``specs`` (test_fleet's: minions x addresses each), one database minion."""
    biggest = max(spec["minions"] * spec["addresses_each"] for spec in specs)
    settings = {
        "ARP_HYGIENE_FLEET_STORMS": "[]",
        "ARP_HYGIENE_FLEET_AUDITS": json.dumps(specs),
        "ARP_HYGIENE_FLEET_DATABASES": "1",
        "ARP_HYGIENE_FLEET_REAL_WORKERS": str(real_workers),
        "ARP_HYGIENE_FLEET_NICE_WORKERS": "true",
    }
    with RaisedGcThresh(2 * biggest):
        return fleet_run(settings, "audit", len(specs), "audits", ("-k", "audit"))


def audit_table():
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
    parser.add_argument("--audit-only", action="store_true", help="measure the audit; keep fleet.json's others")
    parser.add_argument("--storms-only", action="store_true", help="run the storms; keep fleet.json's others")
    parser.add_argument(
        "--more-storms", action="store_true", help="as --storms-only, and keep fleet.json's storms too: add these"
    )
    parser.add_argument("--sizes", default="10,100,1000", help="starts per storm (default 10,100,1000)")
    parser.add_argument("--patterns", default="at once,spread,random", help="when the starts come (over 60 s)")
    parser.add_argument("--silent", default="0,0.01,0.1", help="shares of the workers that never answer")
    parser.add_argument("--databases", default="1,5,20", help="database minions (one test run each)")
    parser.add_argument(
        "--database-multiprocessing",
        default="true",
        help="the database minions' Salt option multiprocessing: true, false, or both (one test run each)",
    )
    parser.add_argument("--real-workers", type=int, default=10, help="real worker minions restarted in each storm")
    parser.add_argument(
        "--audits", default="1000x1,1000x10,5000x1,5000x10", help="audits: synthetic minions x addresses each"
    )
    args = parser.parse_args()
    args.storms_only = args.storms_only or args.more_storms
    if not set(args.database_multiprocessing.split(",")) <= {"true", "false"}:
        parser.error(f"--database-multiprocessing takes true, false or both, not {args.database_multiprocessing!r}")
    before = {}
    if args.audit_only or args.storms_only:
        with open(os.path.join(HERE, "fleet.json"), encoding="utf-8") as stream:
            before = json.load(stream)
    if args.audit_only:
        found = before.get("storms", [])
    else:
        specs = matrix(
            [int(n) for n in args.sizes.split(",")],
            args.patterns.split(","),
            [float(share) for share in args.silent.split(",")],
        )
        found = before.get("storms", []) if args.more_storms else []
        found += [
            storm
            for databases in args.databases.split(",")
            for multiprocessing in args.database_multiprocessing.split(",")
            for storm in storms(int(databases), multiprocessing, args.real_workers, specs)
        ]
    times = before["heal"]["seconds"] if before else heal_times(args.restarts)
    if args.storms_only:
        audit, table = before["audit"], before["audit_table"]
    else:
        specs = [audit_spec(each) for each in args.audits.split(",")]
        audit, table = audits(specs, args.real_workers), audit_table()
    # The command lines that ran the storms, in order: an --audit-only run keeps them,
    # --more-storms adds its own, a run of the storms replaces them.
    commands = before.get("storms_commands", []) if args.audit_only or args.more_storms else []
    if not args.audit_only:
        commands = [*commands, shlex.join(["./run", "bench", "fleet", *sys.argv[1:]])]
    report = {
        "machine": machine(),
        "storms_commands": commands,
        "storms": found,
        "heal": {
            "restarts": len(times),
            "seconds": times,
            "p50": statistics.median(times),
            "p95": percentile(times, 95),
            "cron": {f"{m} min": {"mean": m * 30, "worst": m * 60} for m in CRON_MINUTES},
        },
        "audit": audit,
        "audit_table": table,
    }
    write_json("fleet.json", report)
    chart(times, os.path.join(HERE, "heal.png"))
    if found:
        storms_chart(found, os.path.join(HERE, "storms.png"))
    for storm in found:
        heal = storm["heal_s"]
        print(
            f"{storm['starts']:>5} starts {storm['pattern']:>7}, {storm['silent']:>3} silent, "
            f"{storm['databases']:>2} db: "
            f"heal p50 {heal['p50']:.2f} s, p95 {heal['p95']:.2f} s, max {heal['max']:.2f} s; lost {storm['lost']}; "
            f"{storm['jobs']} jobs; master {storm['master_cpu_s']:.1f} CPU-s, {storm['master_rss_mb']:.0f} MB"
        )
    heal = report["heal"]
    print(
        f"heal time over {heal['restarts']} worker restarts: p50 {heal['p50']:.2f} s, p95 {heal['p95']:.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}); cron every 5 min: 150 s mean, 300 s worst"
    )
    for each in audit:
        print(
            f"audit over {each['minions']:,} minions x {each['addresses_each']} addresses: {each['seconds']:.2f} s "
            f"(steps {each['steps_s']}); forward {each['publish_bytes']:,} bytes, the database's return "
            f"{each['return_bytes']:,} bytes (max_event_size {each['max_event_size']:,}; trimmed: "
            f"{each['publish_trimmed'] or each['return_trimmed']}); failed {each['failed']}"
        )
    print(
        f"audit of one table of {table['table']:,} entries ({table['matched']:,} for claimed addresses) "
        f"against {table['minions']:,} minions' {table['addresses']:,} addresses: "
        f"{table['seconds']:.2f} s (merge {table['merge_seconds']:.3f} s, forget {table['forget_seconds']:.2f} s), "
        f"{table['wrong']} wrong entries found, {table['conflicts']} conflicts; fix: {table['fixed']} deleted in "
        f"{table['fix_seconds']:.2f} s; peak RSS {table['rss_mb']:.0f} MB"
    )
    print("Wrote bench/fleet.json, bench/heal.png and bench/storms.png")


if __name__ == "__main__":
    main()
