"""
Throwaway network labs in namespaces, for the tests, the benchmarks and the
demo (demo/incident.py).

Every namespace made here is named ``arph-<role>-<pid>-<n>`` and is deleted when
its ``Lab`` closes, whatever happened inside. Addresses come from the
documentation and benchmark ranges only (192.0.2.0/24, 198.51.100.0/24,
198.18.0.0/15, 2001:db8::/32).

The programs the labs run in their namespaces are files of programs/; the
Ethernet segments built of these namespaces are in segments.py.
"""

import contextlib
import fcntl
import itertools
import json
import os
import subprocess
import sys

PREFIX = "arph-"
# The programs the lab runs in its namespaces (servers, checks, responders, captures).
PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
_counter = itertools.count(1)

# The kernel keeps one neighbour table per address family for all namespaces
# together and collects its garbage over all of them: once it holds
# gc_thresh1 (128) entries, FAILED entries and entries unused for a minute go
# from every namespace; above gc_thresh2 (512) non-permanent entries, any
# entry not updated in the last 5 s. A process that fills tables that far
# (the large-table tests, the benchmark) holds this lock alone while it does;
# every lab shares it, and ./run test runs no more than four processes that
# make labs at once (a lab holds some 30 entries a family at most; 60 were
# seen at once in all, five processes went over 128). So no test ever finds
# the entries it put in place collected because another process's tables
# were crowded (the integration suite runs beside the functional ones).
# ./run test keeps the lock files in a directory of its own (removed after the run),
# and runs the tests that take the lock alone (marked `alone`: tests/conftest.py)
# when its four processes have ended, so that none waits there.
TABLES_LOCK = os.environ.get("ARP_HYGIENE_TABLES_LOCK", "/tmp/arp-hygiene-neighbour-tables.lock")
# Who waits for the tables alone goes first: while it waits, no lab takes the
# shared lock anew (each takes this one on its way in), so it waits for the
# labs open now, not for a moment when none is (with three processes making
# labs, there may be none for minutes).
TURNSTILE = TABLES_LOCK + ".turnstile"
_alone = False


@contextlib.contextmanager
def tables_to_ourselves():
    """Wait until no other process has a lab, and keep it so while the block runs."""
    global _alone
    if _alone:
        yield
        return
    with open(TABLES_LOCK, "a") as lock:
        with open(TURNSTILE, "a") as turnstile:
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_EX)
        _alone = True
        try:
            yield
        finally:
            _alone = False


@contextlib.contextmanager
def sharing_tables():
    """The shared lock on TABLES_LOCK while the block runs: for a lab that outlives one test (Lab(share=False))."""
    lock = _share_tables()
    try:
        yield
    finally:
        if lock:
            lock.close()


class _SharedLock:
    """The shared lock on TABLES_LOCK, held until closed."""

    held = 0  # by this process now

    def __init__(self):
        self.file = open(TABLES_LOCK, "a")
        if _SharedLock.held:
            # This process holds it already: a writer waiting at the
            # turnstile waits for this process, which must not wait for it.
            fcntl.flock(self.file, fcntl.LOCK_SH)
        else:
            with open(TURNSTILE, "a") as turnstile:
                fcntl.flock(turnstile, fcntl.LOCK_EX)
                fcntl.flock(self.file, fcntl.LOCK_SH)
        _SharedLock.held += 1

    def close(self):
        if not self.file.closed:
            self.file.close()
            _SharedLock.held -= 1


def _share_tables():
    """The shared lock on TABLES_LOCK (None when this process holds it alone): released when closed."""
    if _alone:
        return None
    return _SharedLock()


# Per-interface neighbour timers that keep entries in the state a test puts
# them in: nothing turns stale, nothing is probed again within the hour.
FROZEN_TIMERS = {
    "base_reachable_time_ms": 3600000,
    "delay_first_probe_time": 3600,
    "retrans_time_ms": 3600000,
}


def run(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


class Namespace:
    """A network namespace that this process created."""

    def __init__(self, role):
        self.name = f"{PREFIX}{role}-{os.getpid()}-{next(_counter)}"
        run("ip", "netns", "add", self.name)

    def ip(self, *args, **kwargs):
        return run("ip", "-n", self.name, *args, **kwargs)

    def batch(self, lines):
        """Run many ``ip`` commands in one process."""
        return run("ip", "-n", self.name, "-batch", "-", input="\n".join(lines) + "\n")

    def exec(self, *args, **kwargs):
        return run("ip", "netns", "exec", self.name, *args, **kwargs)

    def popen(self, *args):
        return subprocess.Popen(("ip", "netns", "exec", self.name, *args), stdout=subprocess.PIPE, text=True)

    def sysctl(self, **values):
        self.exec("sysctl", "-q", "-w", *(f"{key}={value}" for key, value in values.items()))

    def freeze_timers(self, ifname):
        for family in ("ipv4", "ipv6"):
            self.sysctl(**{f"net.{family}.neigh.{ifname}.{key}": value for key, value in FROZEN_TIMERS.items()})

    def neighbours(self):
        """The table as ``ip -j neigh show nud all`` reports it."""
        return json.loads(self.ip("-j", "neigh", "show", "nud", "all").stdout or "[]")

    def delete(self):
        run("ip", "netns", "delete", self.name, check=False)


class Lab:
    """Namespaces and processes that are all removed on close, even after a failure."""

    def __init__(self, share=True):
        self.namespaces = []
        self.processes = []
        self.files = []
        self.tables_lock = None
        # share=False: the user takes the shared lock itself (sharing_tables),
        # for each test of a lab that serves many, so that a process that
        # fills tables between them is not kept waiting for all of them.
        self.share = share

    def namespace(self, role):
        # Taken with the first namespace, again after close() (the demo reuses its lab).
        if self.tables_lock is None and self.share:
            self.tables_lock = _share_tables()
        namespace = Namespace(role)
        self.namespaces.append(namespace)
        return namespace

    def close(self):
        for process in self.processes:
            process.kill()
            process.wait()
        for namespace in self.namespaces:
            namespace.delete()
        for path in self.files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self.namespaces.clear()
        self.processes.clear()
        self.files.clear()
        if self.tables_lock:
            self.tables_lock.close()
            self.tables_lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def table(lab):
    """
    A namespace with two veth pairs (a0-a1, b0-b1, both ends inside) whose
    timers are frozen, ready for entries in any NUD state on a0 and b0.
    """
    ns = lab.namespace("table")
    sides = (("a", "192.0.2", "2001:db8:a:"), ("b", "198.51.100", "2001:db8:b:"))
    ns.batch([f"link add {side}0 type veth peer name {side}1" for side, _, _ in sides])
    lines = []
    for side, net4, net6 in sides:
        ns.freeze_timers(f"{side}0")  # before link up, so nothing ages meanwhile
        lines += [
            f"link set {side}0 up",
            f"link set {side}1 up",
            f"addr add {net4}.1/24 dev {side}0",
            f"addr add {net6}:1/64 dev {side}0 nodad",
        ]
    ns.batch(lines)
    return ns


def add_entries(ns, entries):
    """
    Create neighbour entries for real. ``entries``: dicts with dst, ifname,
    state, optional lladdr and flags (e.g. ["extern_learn"], ["router"]).
    State ``delay`` is reached the kernel's way: a stale entry that is sent to.
    """
    lines, delayed = [], []
    for entry in entries:
        state = "stale" if entry["state"] == "delay" else entry["state"]
        line = f"neigh replace {entry['dst']} dev {entry['ifname']} nud {state}"
        if entry.get("lladdr"):
            line += f" lladdr {entry['lladdr']}"
        line += "".join(f" {flag}" for flag in entry.get("flags", ()))
        lines.append(line)
        if entry["state"] == "delay":
            delayed.append(entry["dst"])
    if lines:
        ns.batch(lines)
    if delayed:
        ns.exec(*program("nudge", *delayed))


# ------------------------------------------------------------ the black hole

DB_IP, WORKER_IP, PORT = "192.0.2.10", "192.0.2.20", 27017
DB_IP6, WORKER_IP6 = "2001:db8:1::10", "2001:db8:1::20"
OLD_MAC, NEW_MAC, DB_MAC = "02:00:00:00:20:01", "02:00:00:00:20:02", "02:00:00:00:10:01"


def program(name, *args):
    """The command line of one of the lab's programs (tests/support/programs/NAME.py), with ``args``."""
    return [sys.executable, os.path.join(PROGRAMS, f"{name}.py"), *map(str, args)]


# The TCP server of the database (accepts and closes every connection), and the health check.
SERVER = program("server")
CONNECT = program("connect")


def kernel_counter(family, name):
    """The kernel's counter ``name`` of the family's neighbour table (/proc/net/stat), summed over the CPUs."""
    path = {"inet": "/proc/net/stat/arp_cache", "inet6": "/proc/net/stat/ndisc_cache"}[family]
    with open(path, encoding="ascii") as stat:
        names, *cpus = [line.split() for line in stat if line.strip()]
    return sum(int(cpu[names.index(name)], 16) for cpu in cpus)


def discard_unresolved(ns, packets):
    """
    Have ``ns``'s kernel discard ``packets - 1`` packets for want of a
    neighbour: a veth pair of its own (d0, d1), a queue of unresolved packets
    that holds one (its sysctl, the namespace's own), and ``packets`` UDP
    datagrams to an address nobody on d0 has.
    """
    ns.batch(
        ["link add d0 type veth peer name d1", "addr add 203.0.113.1/24 dev d0", "link set d0 up", "link set d1 up"]
    )
    ns.sysctl(**{"net.ipv4.neigh.d0.unres_qlen_bytes": 1})
    ns.exec(*program("send_udp", "203.0.113.77", packets))


def arp_fields(frame):
    """(op, sha, spa, tha, tpa) of an Ethernet ARP frame as text, or None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    op = int.from_bytes(frame[20:22], "big")
    sha, spa, tha, tpa = frame[22:28], frame[28:32], frame[32:38], frame[38:42]
    return op, sha.hex(":"), ".".join(map(str, spa)), tha.hex(":"), ".".join(map(str, tpa))


class Capture:
    """Frames that reach ``ifname`` of ``ns`` for ``seconds``: start it, act, then read ``frames()``."""

    def __init__(self, lab, ns, ifname="eth0", seconds=3.0):
        self.process = ns.popen(*program("capture", ifname, seconds))
        lab.processes.append(self.process)
        assert self.process.stdout.readline().strip() == "ready"

    def frames(self):
        """The frames, as bytes, once the capture has ended."""
        return [frame for _, frame in self.timed()]

    def timed(self):
        """(seconds, frame) of each frame once the capture has ended: when it arrived, on a monotonic clock."""
        out = self.process.stdout.read()
        self.process.wait()
        return [(when, bytes.fromhex(frame)) for when, frame in json.loads(out.splitlines()[-1])]


# ------------------------------------------------------------ masterless Salt


def salt_call(config_dir, *args, prefix=(), **kwargs):
    """
    Run this virtualenv's ``salt-call --local``; it finds the modules of this
    checkout through the package's ``salt.loader`` entry point.
    """
    command = [*prefix, os.path.join(os.path.dirname(sys.executable), "salt-call")]
    command += ["--local", "--config-dir", config_dir, *args]
    return run(*command, check=False, **kwargs)


def salt_config(directory):
    """A masterless minion config in ``directory`` that keeps every Salt file there."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "minion"), "w", encoding="utf-8") as config:
        config.write(f"root_dir: {directory}\nfile_client: local\nlog_level: warning\nid: arp-hygiene-lab\n")
    return directory
