"""
One measured call of the arp module, in a process of its own, for bench/measure.py.

    python bench/child.py flush|list NAMESPACE INTERFACE

Loads salt/_modules/arp.py as a plain Python module (what it imports: salt.exceptions,
pyroute2), times one call of arp.flush_stale or arp.list on the namespace's
table, and prints JSON: the call's wall time, the number of entries it returned,
and the process's peak RSS before and after the call.
"""

import importlib.util
import json
import os
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


def main(what, netns, interface):
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
