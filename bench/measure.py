"""
Benchmark: flush and list neighbour tables of 1,000, 10,000 and 100,000 STALE
entries, against iproute2 measured in the same run.

    ./run bench          (or: python bench/measure.py [--rounds N] [--sizes 1000,10000])

Every table is built fresh in a throwaway namespace (198.18.0.0/15, one veth
end, timers frozen), and the methods take turns round by round, so that a
noisy machine slows them alike; each ratio is taken within its round. Writes
bench/results.json and bench/results.png and prints the table README.md shows.

The neighbour table limits gc_thresh1/2/3 are global (the root namespace's
sysctls rule every namespace): the run raises them above the largest table,
so that the kernel collects nothing mid-measurement, and puts the old values
back when it ends, failed or not.
"""

import argparse
import ipaddress
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.support import lab  # noqa: E402  (the namespace lab the tests and the demo use)

GC_THRESH = "/proc/sys/net/ipv4/neigh/default/gc_thresh{}"
FIELD_PIPELINE = "ip neigh | awk '{print $1}' | xargs -IX arp -v -i a0 -d X"
SALT_CALL = os.path.join(os.path.dirname(sys.executable), "salt-call")

# Method names, as the table and chart show them; each ratio's reference.
IP_FLUSH = "ip neigh flush nud stale"
PIPELINE = "field pipeline (ip | awk | xargs arp -d)"
ARP_FLUSH = "arp.flush_stale (in-process)"
IP_SHOW = "ip neigh show"
ARP_LIST = "arp.list (in-process)"
CALL_PING = "salt-call --local test.ping"
CALL_FLUSH = "salt-call --local arp.flush_stale"
REFERENCE = {PIPELINE: IP_FLUSH, ARP_FLUSH: IP_FLUSH, ARP_LIST: IP_SHOW, CALL_FLUSH: CALL_PING}


def machine():
    """The machine a run was measured on, as every results file of the bench records it."""
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}


def write_json(name, report, indent=1):
    """Write bench/``name`` (JSON)."""
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as out:
        json.dump(report, out, indent=indent)
        out.write("\n")


def markdown_table(header, alignments, rows):
    """A Markdown table: ``header`` cells, ``alignments`` ("---", "---:"), then ``rows`` of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(alignments) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def timed(command):
    """Wall seconds of a command run to its end."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: `arp -v` writes a lot
        start = time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=errors)
        seconds = time.perf_counter() - start
        if result.returncode:
            errors.seek(0)
            raise RuntimeError(f"{command} failed: {errors.read().decode()[-2000:]}")
    return seconds


def peak_rss(command):
    """
    Peak RSS (MB) of a command, as GNU time reports it. Not our own wait4():
    a child's ru_maxrss starts from this (large) process's RSS at the fork;
    /usr/bin/time is small when it forks the command.
    """
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *command], stdout=subprocess.DEVNULL, check=True)
        return int(out.read().split()[-1]) / 1024


def build(netlab, size):
    """A namespace whose a0 holds ``size`` STALE entries with distinct MACs."""
    ns = netlab.namespace("bench")
    ns.batch(["link add a0 type veth peer name a1"])
    ns.freeze_timers("a0")
    ns.batch(["link set a0 up", "link set a1 up", "addr add 198.18.0.1/15 dev a0"])
    first = int(ipaddress.IPv4Address("198.18.0.2"))
    lines = []
    for number in range(size):
        mac = f"02:00:00:{number >> 16 & 255:02x}:{number >> 8 & 255:02x}:{number & 255:02x}"
        lines.append(f"neigh add {ipaddress.IPv4Address(first + number)} dev a0 lladdr {mac} nud stale")
    ns.batch(lines)
    return ns


def count_stale(ns):
    return len(ns.ip("neigh", "show", "dev", "a0", "nud", "stale").stdout.splitlines())


def child(what, ns):
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "child.py"), what, ns.name, "a0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def one_round(size, config_dir, with_rss):
    """
    {method: (seconds, peak RSS MB or None)} for one round at one size, each
    flush on a fresh table. iproute2's RSS is taken (``with_rss``) in runs of
    its own, under /usr/bin/time, so that the timed runs stay bare.
    """
    measured = {}
    with lab.Lab() as netlab:
        ns = build(netlab, size)
        assert count_stale(ns) == size, "the kernel did not keep every entry"
        measured[IP_FLUSH] = timed(["ip", "-n", ns.name, "neigh", "flush", "nud", "stale", "dev", "a0"]), None
        assert count_stale(ns) == 0
        ns.delete()
        if with_rss:
            ns = build(netlab, size)
            measured[IP_FLUSH] = (
                measured[IP_FLUSH][0],
                peak_rss(["ip", "-n", ns.name, "neigh", "flush", "nud", "stale", "dev", "a0"]),
            )
            ns.delete()

        if size <= 10_000:
            ns = build(netlab, size)
            measured[PIPELINE] = timed(["ip", "netns", "exec", ns.name, "sh", "-c", FIELD_PIPELINE]), None
            assert count_stale(ns) == 0
            ns.delete()

        ns = build(netlab, size)
        done = child("flush", ns)
        assert done["entries"] == size and count_stale(ns) == 0, done
        measured[ARP_FLUSH] = done["seconds"], done["rss_mb"]
        ns.delete()

        ns = build(netlab, size)
        show = ["ip", "-n", ns.name, "neigh", "show", "dev", "a0"]
        measured[IP_SHOW] = timed(show), peak_rss(show) if with_rss else None
        listed = child("list", ns)
        assert listed["entries"] == size, listed
        measured[ARP_LIST] = listed["seconds"], listed["rss_mb"]
        ns.delete()

        if size == 1_000:
            ns = build(netlab, size)
            base = [SALT_CALL, "--local", "--config-dir", config_dir, "--out=json"]
            measured[CALL_PING] = timed([*base, "test.ping"]), None
            measured[CALL_FLUSH] = timed([*base, "arp.flush_stale", f"netns={ns.name}", "interface=a0"]), None
            assert count_stale(ns) == 0
    return measured


class RaisedGcThresh:
    """gc_thresh1/2/3 raised to ``value`` while the block runs, then put back."""

    def __init__(self, value):
        self.value = value
        self.before = None

    def __enter__(self):
        # SIGTERM too must leave through __exit__; but a process forked
        # meanwhile (pyroute2 opens a namespace's socket in a forked child,
        # which it may end with SIGTERM) inherits the handler, and must die
        # at once, never unwinding into __exit__ in the lab's namespace.
        self.pid = os.getpid()
        signal.signal(signal.SIGTERM, self._terminated)
        self.before = [int(open(GC_THRESH.format(n)).read()) for n in (1, 2, 3)]
        for n in (3, 2, 1):
            with open(GC_THRESH.format(n), "w") as knob:
                knob.write(str(max(self.value, self.before[n - 1])))
        return self

    def _terminated(self, *_):
        if os.getpid() != self.pid:
            os._exit(128 + signal.SIGTERM)
        sys.exit("bench: terminated")

    def __exit__(self, *exc):
        if os.getpid() != self.pid:  # a forked child that got out some other way: not its to put back
            return
        for n in (1, 2, 3):
            with open(GC_THRESH.format(n), "w") as knob:
                knob.write(str(self.before[n - 1]))
        self.restored = [int(open(GC_THRESH.format(n)).read()) for n in (1, 2, 3)] == self.before


def summary(samples, ratios):
    out = {}
    for method, values in samples.items():
        seconds = [value[0] for value in values]
        rss = [value[1] for value in values if value[1] is not None]
        row = {"seconds": seconds, "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)}
        if rss:
            row["peak_rss_mb"] = max(rss)
        if method in ratios:
            row["ratio"] = ratios[method]
            row["ratio_median"] = statistics.median(ratios[method])
        out[method] = row
    return out


def cell(text):
    """Text for a markdown table cell: its pipes escaped."""
    return text.replace("|", "\\|")


def table(results):
    lines = [
        "| entries | method | median | min-max | ratio (median, min-max per round) | peak RSS |",
        "|---:|---|---:|---:|---|---:|",
    ]
    for size, methods in results.items():
        for method, row in methods.items():
            ratio = ""
            if "ratio" in row:
                ratio = (
                    f"{row['ratio_median']:.2f}x {REFERENCE[method]} ({min(row['ratio']):.2f}-{max(row['ratio']):.2f})"
                )
            rss = f"{row['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in row else ""
            lines.append(
                f"| {int(size):,} | {cell(method)} | {row['median']:.3f} s "
                f"| {row['min']:.3f}-{row['max']:.3f} s | {ratio} | {rss} |"
            )
    return "\n".join(lines)


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [IP_FLUSH, ARP_FLUSH, PIPELINE, IP_SHOW, ARP_LIST]
    sizes = list(results)
    figure, axes = plt.subplots(figsize=(10, 5.5))
    width = 0.8 / len(methods)
    for number, method in enumerate(methods):
        xs = [index + number * width for index, size in enumerate(sizes) if method in results[size]]
        ys = [results[size][method]["median"] for size in sizes if method in results[size]]
        bars = axes.bar(xs, ys, width, label=method)
        axes.bar_label(bars, labels=[f"{y:.3g}" for y in ys], fontsize=7, rotation=90, padding=2)
    axes.set_yscale("log")
    axes.set_ylim(top=axes.get_ylim()[1] * 3)  # room for the labels of the tallest bars
    axes.set_xticks([index + width * (len(methods) - 1) / 2 for index in range(len(sizes))])
    axes.set_xticklabels([f"{int(size):,} STALE entries" for size in sizes])
    axes.set_ylabel("wall seconds, median (log scale)")
    axes.set_title("Flushing and listing a neighbour table: arp-hygiene vs iproute2 and the field's pipeline")
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    samples = {size: {} for size in sizes}
    ratios = {size: {} for size in sizes}
    # Tables this large change what the kernel collects in every namespace:
    # wait until no test has a lab, and keep it so (tests/support/lab.py).
    with (
        lab.tables_to_ourselves(),
        tempfile.TemporaryDirectory(prefix="arp-hygiene-bench-") as tmp,
        RaisedGcThresh(2 * max(sizes)) as gc,
    ):
        config_dir = lab.salt_config(tmp)
        for number in range(1, args.rounds + 1):
            for size in sizes:
                measured = one_round(size, config_dir, with_rss=number == 1)
                for method, value in measured.items():
                    samples[size].setdefault(method, []).append(value)
                for method, reference in REFERENCE.items():
                    if method in measured:
                        ratios[size].setdefault(method, []).append(measured[method][0] / measured[reference][0])
                print(
                    f"round {number}/{args.rounds}, {size:,} entries: "
                    + ", ".join(f"{method} {value[0]:.3f} s" for method, value in measured.items()),
                    flush=True,
                )
    results = {str(size): summary(samples[size], ratios[size]) for size in sizes}
    report = {
        "machine": machine(),
        "rounds": args.rounds,
        "gc_thresh": {
            "before": gc.before,
            "during": [max(gc.value, old) for old in gc.before],
            "restored": gc.restored,
        },
        "results": results,
    }
    write_json("results.json", report)
    chart(results, os.path.join(HERE, "results.png"))
    print()
    print(
        f"Kernel {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.rounds} rounds, methods in turn on fresh tables. gc_thresh1/2/3 raised from "
        f"{'/'.join(map(str, gc.before))} to {'/'.join(str(max(gc.value, old)) for old in gc.before)} "
        f"for the run, {'restored' if gc.restored else 'NOT restored'} after it."
    )
    print()
    print(table(results))
    print("\nWrote bench/results.json and bench/results.png")


if __name__ == "__main__":
    main()
