"""
One measured call of the arp module, in a process of its own, for bench/measure.py.

    python bench/child.py flush|list NAMESPACE INTERFACE
    python bench/child.py audit NAMESPACE INTERFACE MINIONS
    python bench/child.py watch NAMESPACE INTERFACE SECONDS

Loads salt/_modules/arp.py as a plain Python module (what it imports: salt.exceptions,
pyroute2), times one call of arp.flush_stale or arp.list on the namespace's
table, and prints JSON: the call's wall time, the number of entries it returned,
and the process's peak RSS before and after the call.

``audit`` (for bench/fleet.py) times the audit's two steps on the table that
bench/measure.build made: the runner's merge of MINIONS minions' synthetic
claims of 10 addresses each (salt/_runners/arp_hygiene.py), then arp.forget
in test mode with every address that one minion alone claims; then the
fix (the same call, live: the wrong entries deleted).

``watch`` (for bench/watch.py) runs arp.watch on the interface for SECONDS
and prints the CPU seconds (user and system) that the call took, its wall
time and what it saw, asked and repaired.
"""

import importlib.util
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_arp():
    spec = importlib.util.spec_from_file_location("arp", os.path.join(HERE, "..", "salt", "_modules", "arp.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__opts__ = {"test": False}
    return module


def peak_rss_mb():
    """This process's peak RSS. VmHWM, not getrusage: ru_maxrss also counts the
    parent's memory that the fork copied before the exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def load_runner():
    path = os.path.join(HERE, "..", "salt", "_runners", "arp_hygiene.py")
    spec = importlib.util.spec_from_file_location("arp_hygiene_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def audit(netns, interface, minions):
    """The audit's merge and forget on the table: 1 claim in 100 wrong, 10 addresses claimed twice."""
    import ipaddress  # pylint: disable=import-outside-toplevel

    arp, runner = load_arp(), load_runner()
    first = int(ipaddress.IPv4Address("198.18.0.2"))  # bench/measure.build's first entry
    claims = {}
    for number in range(10 * minions):
        mac = f"02:00:00:{number >> 16 & 255:02x}:{number >> 8 & 255:02x}:{number & 255:02x}"
        if number % 100 == 0:
            mac = "02:00:00:ff:ff:ff"  # the table holds another MAC: a wrong entry
        claims.setdefault(f"minion{number // 10}", {})[str(ipaddress.IPv4Address(first + number))] = mac
    for number in range(5, 100, 10):  # conflicts: a second minion claims these
        claims.setdefault("minion-twin", {})[str(ipaddress.IPv4Address(first + number))] = "02:00:00:ee:ee:ee"
    before = peak_rss_mb()
    start = time.perf_counter()
    owners, conflicts = runner._owners(claims)  # pylint: disable=protected-access
    lladdr = {address: mac for address, (_, mac) in owners.items()}
    merged = time.perf_counter()
    result = arp.forget(sorted(lladdr), lladdr=lladdr, interface=interface, netns=netns, test=True)
    done = time.perf_counter()
    fixed = arp.forget(sorted(lladdr), lladdr=lladdr, interface=interface, netns=netns, test=False)
    fix_done = time.perf_counter()
    return {
        "matched": sum(len(entries) for entries in result["kept"].values())
        + len(result["would_delete"].get(interface, {})),
        "minions": len(claims),
        "addresses": len(lladdr) + len(conflicts),
        "wrong": len(result["would_delete"].get(interface, {})),
        "conflicts": len(conflicts),
        "seconds": done - start,
        "merge_seconds": merged - start,
        "forget_seconds": done - merged,
        "fixed": len(fixed["deleted"].get(interface, {})),
        "fix_seconds": fix_done - done,
        "rss_mb": peak_rss_mb(),
        "rss_before_mb": before,
    }


def watch(netns, interface, seconds):
    """One arp.watch call: its CPU seconds (this process's, over the call), wall time and report."""
    arp = load_arp()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = arp.watch(netns=netns, interface=interface, seconds=seconds, test=False)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counts = {key: sum(map(len, value.values())) for key, value in result.items() if isinstance(value, dict)}
    return {"cpu_seconds": cpu, "seconds": wall, "seen": result["seen"], "limited": result["limited"], **counts}


def main(what, netns, interface, extra=None):
    if what == "audit":
        print(json.dumps(audit(netns, interface, int(extra))))
        return
    if what == "watch":
        print(json.dumps(watch(netns, interface, float(extra))))
        return
    arp = load_arp()
    before = peak_rss_mb()
    start = time.perf_counter()
    if what == "flush":
        result = arp.flush_stale(netns=netns, interface=interface, test=False)
        count = sum(map(len, result["deleted"].values()))
    else:
        count = len(arp.list_(netns=netns, interface=interface))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "entries": count, "rss_mb": peak_rss_mb(), "rss_before_mb": before}))


if __name__ == "__main__":
    main(*sys.argv[1:])
