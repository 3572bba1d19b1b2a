"""
Throwaway network labs in namespaces, for the tests and the demo.

Every namespace made here is named ``arph-<role>-<pid>-<n>`` and is deleted when
its ``Lab`` closes, whatever happened inside. Addresses come from the
documentation ranges only (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32).

Run ``python lab.py demo`` (as root, with the module's dependencies
installed) for the demo: it reproduces the black hole and fixes it with
``salt-call --local arp.flush_stale``.
"""

import itertools
import json
import os
import subprocess
import sys
import time

PREFIX = "arph-"
_counter = itertools.count(1)

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

    def __init__(self):
        self.namespaces = []
        self.processes = []

    def namespace(self, role):
        namespace = Namespace(role)
        self.namespaces.append(namespace)
        return namespace

    def close(self):
        for process in self.processes:
            process.kill()
            process.wait()
        for namespace in self.namespaces:
            namespace.delete()
        self.namespaces.clear()
        self.processes.clear()

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
        send = "import socket,sys\nfor a in sys.argv[1:]:\n s=socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x',(a,9))"
        ns.exec(sys.executable, "-c", send, *delayed)


# ------------------------------------------------------------ the black hole

DB_IP, WORKER_IP, PORT = "192.0.2.10", "192.0.2.20", 27017
DB_IP6, WORKER_IP6 = "2001:db8:1::10", "2001:db8:1::20"
OLD_MAC, NEW_MAC, DB_MAC = "02:00:00:00:20:01", "02:00:00:00:20:02", "02:00:00:00:10:01"

SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen(16)
print("listening", flush=True)
while True:
    s.accept()[0].close()
""" % PORT

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError as err:
    print(err)
    sys.exit(1)
"""


class Segment:
    """
    An Ethernet segment: a bridge in a switch namespace, and hosts, each a
    namespace whose eth0 is plugged into the bridge.
    """

    def __init__(self, lab):
        self.lab = lab
        self.switch = lab.namespace("switch")
        self.switch.batch(["link add br0 type bridge", "link set br0 up"])

    def host(self, role, address, mac, address6=None):
        """A namespace on the segment with ``address``/24 (and ``address6``/64) on eth0."""
        ns = self.lab.namespace(role)
        port = f"p{ns.name.rsplit('-', 2)[-1]}{role[0]}"
        self.switch.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
        self.switch.batch([f"link set {port} master br0", f"link set {port} up"])
        lines = [f"link set eth0 address {mac}", f"addr add {address}/24 dev eth0"]
        if address6:
            lines.append(f"addr add {address6}/64 dev eth0 nodad")
        ns.batch([*lines, "link set eth0 up", "link set lo up"])
        return ns

    def serve(self, ns):
        """A TCP server on PORT in ``ns``, stopped when the lab closes."""
        server = ns.popen(sys.executable, "-c", SERVER)
        self.lab.processes.append(server)
        server.stdout.readline()
        return server

    @staticmethod
    def reach(ns, address, timeout=2):
        """A TCP connect from ``ns`` to ``address``:PORT; True if it succeeds."""
        result = ns.exec(sys.executable, "-c", CONNECT, address, str(PORT), str(timeout), check=False)
        return result.returncode == 0

    @staticmethod
    def neighbour(ns, address):
        """The entry of ``ns`` for ``address``, as ``ip -j neigh`` shows it, or None."""
        return next((e for e in ns.neighbours() if e["dst"] == address), None)


class BlackHole(Segment):
    """
    A database namespace and worker namespaces on one bridge. The old worker
    had WORKER_IP with OLD_MAC; it is gone, a new worker has the same IP with
    NEW_MAC, and the database still maps WORKER_IP to OLD_MAC (state stale).
    The new worker holds a static entry for the database, as hosts on a
    cloud fabric do, so the database never sees an ARP request from it.

    A connect from the database then goes to OLD_MAC and fails. (The kernel
    then moves the entry to delay, probes OLD_MAC and, some 8 s later, asks
    the whole segment again; a cloud fabric that answers ARP for absent
    hosts keeps it wrong. A failed check therefore spoils its lab: build a
    second one to show the fix.)
    """

    def __init__(self, lab):
        super().__init__(lab)
        self.db = self.host("db", DB_IP, DB_MAC)
        old = self.host("worker", WORKER_IP, OLD_MAC)
        # The old worker talks to the database: the database learns OLD_MAC.
        server = self.serve(old)
        assert self.connect(timeout=5), "the old worker is not reachable from the database"
        # The old worker is destroyed (its last process too, or the kernel
        # keeps the namespace). The database's entry ages to stale, which
        # the kernel does after a minute of silence; here at once.
        server.kill()
        server.wait()
        old.delete()
        self.db.ip("neigh", "change", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", "stale")
        self.worker = self.host("worker", WORKER_IP, NEW_MAC)
        self.worker.ip("neigh", "replace", DB_IP, "dev", "eth0", "lladdr", DB_MAC, "nud", "permanent")
        self.serve(self.worker)

    def connect(self, timeout=2):
        """A TCP connect from the database to the worker's port; True if it succeeds."""
        return self.reach(self.db, WORKER_IP, timeout)

    def entry(self):
        """The database's entry for WORKER_IP, as ``ip -j neigh`` shows it."""
        return self.neighbour(self.db, WORKER_IP)


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


def demo():
    """The black hole and its fix, told step by step. Returns the exit status."""
    import tempfile

    def say(text):
        print(f"\n== {text}", flush=True)

    def show_entry(hole):
        entry = hole.entry()
        print(f"   database's entry for {WORKER_IP}: {entry and (entry.get('lladdr'), entry['state'])}")

    with tempfile.TemporaryDirectory(prefix="arp-hygiene-demo-") as tmp, Lab() as lab:
        config = salt_config(tmp)
        say("Without arp-hygiene: an old worker had 192.0.2.20; it is gone, a new one has the same IP")
        hole = BlackHole(lab)
        print(f"   old worker MAC {OLD_MAC}, new worker MAC {NEW_MAC}")
        show_entry(hole)
        say(f"Health check: TCP connect from the database to {WORKER_IP}:{PORT}, 2 s timeout")
        failed = not hole.connect()
        print("   connect FAILED: the database sends to the old MAC, a NIC that no longer exists" if failed else "   connect succeeded?!")
        lab.close()

        say("With arp-hygiene: the same story, and the flush that cron runs on the database")
        hole = BlackHole(lab)
        show_entry(hole)
        command = ["--out=yaml", "arp.flush_stale", f"netns={hole.db.name}"]
        print("   salt-call --local " + " ".join(command))
        result = salt_call(config, *command)
        print("   " + (result.stdout + result.stderr).strip().replace("\n", "\n   "))
        show_entry(hole)
        say(f"Health check again: TCP connect to {WORKER_IP}:{PORT}, 2 s timeout")
        fixed = hole.connect()
        print("   connect succeeded: the database asked the segment and learned the new MAC" if fixed else "   connect FAILED")
        show_entry(hole)
    left = [name for name in run("ip", "netns", "list").stdout.split() if name.startswith(f"{PREFIX}")]
    say("Lab removed." if not left else f"Lab NOT removed: {' '.join(left)}")
    ok = failed and result.returncode == 0 and fixed
    say("Demo passed: black hole reproduced, and fixed by arp.flush_stale." if ok else "Demo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] != ["demo"]:
        sys.exit("usage: python lab.py demo")
    sys.exit(demo())
