"""
Throwaway network labs in namespaces, for the tests and the demo.

Every namespace made here is named ``arph-<role>-<pid>-<n>`` and is deleted when
its ``Lab`` closes, whatever happened inside. Addresses come from the
documentation and benchmark ranges only (192.0.2.0/24, 198.51.100.0/24,
198.18.0.0/15, 2001:db8::/32).

Run ``python -m tests.support.lab demo`` (``./run demo``; as root, with the module's dependencies
installed) for the demo: it reproduces the black hole, then shows each fix
working through ``salt-call --local``: ``arp.flush_stale`` for a stale entry,
``arp.verify fix=True`` for a wrong reachable one, ``arp.announce`` from the
new worker.
"""

import contextlib
import fcntl
import itertools
import json
import os
import subprocess
import sys
import time

PREFIX = "arph-"
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
        send = (
            "import socket,sys\nfor a in sys.argv[1:]:\n"
            " s=socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x',(a,9))"
        )
        ns.exec(sys.executable, "-c", send, *delayed)


# ------------------------------------------------------------ the black hole

DB_IP, WORKER_IP, PORT = "192.0.2.10", "192.0.2.20", 27017
DB_IP6, WORKER_IP6 = "2001:db8:1::10", "2001:db8:1::20"
OLD_MAC, NEW_MAC, DB_MAC = "02:00:00:00:20:01", "02:00:00:00:20:02", "02:00:00:00:10:01"


def server_program(family="AF_INET", address="0.0.0.0", port=PORT):
    """A TCP server that accepts and closes every connection, as a program for ``python -c``."""
    return f"""
import socket
s = socket.socket(socket.{family})
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{address}", {port}))
s.listen(16)
print("listening", flush=True)
while True:
    s.accept()[0].close()
"""


SERVER = server_program()

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError as err:
    print(err)
    sys.exit(1)
"""


# Frames seen on an interface (not those it sends), for the tests' checks of
# what reaches the wire: hex strings, one a frame, printed as JSON at the end.
CAPTURE = """
import json, select, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
frames, end = [], time.monotonic() + float(sys.argv[2])
while (left := end - time.monotonic()) > 0:
    if select.select([s], [], [], left)[0]:
        frame, where = s.recvfrom(65535)
        if where[2] != socket.PACKET_OUTGOING:
            frames.append([time.monotonic(), frame.hex()])
print(json.dumps(frames), flush=True)
"""

# The start of RESPONDER and FABRIC: a raw ARP socket on the interface
# argv[1], the ARP requests it hears (not its own), and an answer to one.
ARP_REQUESTS = """
import json, socket, struct, sys, time
arp = struct.Struct("!HHBBH6s4s6s4s")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0x0806))

def requests():
    print("ready", flush=True)
    while True:
        frame, where = s.recvfrom(2048)
        if where[2] == socket.PACKET_OUTGOING or len(frame) < 42:
            continue
        op, sha, spa, tpa = (lambda f: (f[4], f[5], f[6], f[8]))(arp.unpack_from(frame, 14))
        if op == 1:
            yield sha, spa, tpa

def answer(sha, spa, mac, address):
    s.send(sha + mac + b"\\x08\\x06" + arp.pack(1, 0x0800, 6, 4, 2, mac, address, sha, spa))
"""

# A host that answers ARP requests for an address it does not configure
# (its kernel stays out of it), with its own MAC, after a delay: the second
# claimant of an address conflict, fast or slow.
RESPONDER = f"""{ARP_REQUESTS}
address, delay = socket.inet_aton(sys.argv[2]), float(sys.argv[4])
mac = bytes.fromhex(sys.argv[3].replace(":", ""))
for sha, spa, tpa in requests():
    if tpa == address:
        time.sleep(delay)
        answer(sha, spa, mac, address)
"""


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
    ns.exec(sys.executable, "-c", SEND_UDP, "203.0.113.77", str(packets))


SEND_UDP = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for _ in range(int(sys.argv[2])):
        s.sendto(b"x" * 100, (sys.argv[1], 9))
"""


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
        self.process = ns.popen(sys.executable, "-c", CAPTURE, ifname, str(seconds))
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


class Segment:
    """
    An Ethernet segment: a bridge in a switch namespace, and hosts, each a
    namespace whose eth0 is plugged into the bridge. Without ``ipv6``, IPv6
    is off in every namespace of the segment: each interface with IPv6 adds
    multicast entries to the kernel's one table for all namespaces (see
    TABLES_LOCK), some 6 per host.
    """

    def __init__(self, lab, ipv6=True):
        self.lab = lab
        self.ipv6 = ipv6
        self.switch = self._namespace("switch")
        self.switch.batch(["link add br0 type bridge", "link set br0 up"])
        self.ports = {}  # host namespace name -> its port on the bridge

    def _namespace(self, role):
        ns = self.lab.namespace(role)
        if not self.ipv6:
            ns.sysctl(**{"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
        return ns

    def sent_by(self, ns, seconds=3.0):
        """A Capture of every frame that ``ns`` sends onto the segment (read on its bridge port)."""
        return Capture(self.lab, self.switch, self.ports[ns.name], seconds)

    def host(self, role, address, mac, address6=None):
        """A namespace on the segment with ``address``/24 (and ``address6``/64) on eth0."""
        ns = self._namespace(role)
        port = f"p{ns.name.rsplit('-', 2)[-1]}{role[0]}"
        self.switch.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
        self.switch.batch([f"link set {port} master br0", f"link set {port} up"])
        self.ports[ns.name] = port
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

    def responder(self, ns, address, mac, delay=0.0):
        """A user-space ARP responder in ``ns`` that claims ``address`` with ``mac`` after ``delay`` seconds."""
        process = ns.popen(sys.executable, "-c", RESPONDER, "eth0", address, mac, str(delay))
        self.lab.processes.append(process)
        assert process.stdout.readline().strip() == "ready"
        return process

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
    The incident: a database and workers on one segment, where (as on a cloud
    network) workers hold a static entry for the database, so the database
    never sees their ARP requests. The old worker had WORKER_IP with OLD_MAC
    and talked to the database, which learned OLD_MAC; the old worker is gone
    and a new one has WORKER_IP with NEW_MAC. The database still maps
    WORKER_IP to OLD_MAC (``state``: stale, as after a minute of silence, or
    reachable, as when unrelated traffic keeps confirming it).

    The health check from the new worker then fails: its SYN reaches the
    database, whose SYN-ACK goes to OLD_MAC, a NIC that no longer exists.
    (With a stale entry the kernel then probes OLD_MAC and, some 8 s later,
    asks the whole segment; a cloud fabric that answers ARP for absent hosts
    keeps it wrong. A failed check therefore spoils its lab: build a second
    one to show a fix.)
    """

    def __init__(self, lab, state="stale"):
        super().__init__(lab)
        self.db = self.host("db", DB_IP, DB_MAC, DB_IP6)
        self.serve(self.db)
        old = self.host("worker", WORKER_IP, OLD_MAC, WORKER_IP6)
        old.ip("neigh", "replace", DB_IP, "dev", "eth0", "lladdr", DB_MAC, "nud", "permanent")
        # The old worker talks to the database: the database learns OLD_MAC.
        assert self.reach(old, DB_IP, timeout=5), "the database is not reachable from the old worker"
        old.delete()
        self.db.ip("neigh", "change", WORKER_IP, "dev", "eth0", "lladdr", OLD_MAC, "nud", state)
        self.worker = self.host("worker", WORKER_IP, NEW_MAC, WORKER_IP6)
        self.worker.ip("neigh", "replace", DB_IP, "dev", "eth0", "lladdr", DB_MAC, "nud", "permanent")

    def connect(self, timeout=2):
        """The health check: a TCP connect from the new worker to the database's port; True if it succeeds."""
        return self.reach(self.worker, DB_IP, timeout)

    def entry(self):
        """The database's entry for WORKER_IP, as ``ip -j neigh`` shows it."""
        return self.neighbour(self.db, WORKER_IP)


class Fleet(Segment):
    """
    The incident at the scale of a fleet: a database and ``workers`` new
    workers on one segment, each with a static entry for the database (a
    cloud network), where the first ``reused`` workers have an address that
    the database still maps to a dead MAC. The database's NUD timers are
    stretched, as the incident's black holes outlived the kernel's own
    probing: base_reachable_time and delay_first_probe_time of an hour.
    ``learn()`` makes the database learn the others' MACs (they connect
    first), ``age()`` turns half of those entries stale, as a minute of
    silence does, and ``reuse()`` plants the old MACs, half stale and half
    reachable.
    """

    BASE = 100  # worker n has 192.0.2.<BASE + n>

    def __init__(self, lab, workers=30, reused=10):
        super().__init__(lab, ipv6=False)
        self.db = self.host("db", DB_IP, DB_MAC)
        self.db.sysctl(
            **{
                "net.ipv4.neigh.eth0.base_reachable_time_ms": 3600000,
                "net.ipv4.neigh.eth0.delay_first_probe_time": 3600,
                # No SYN-ACK sent again after a failed health check: it would
                # make the database ask for the worker's MAC at some later
                # second, and the tests count who asks what, when.
                "net.ipv4.tcp_synack_retries": 0,
            }
        )
        self.serve(self.db)
        self.workers = {}  # address -> (namespace, MAC)
        for number in range(1, workers + 1):
            address, mac = f"192.0.2.{self.BASE + number}", f"02:00:00:15:00:{number:02x}"
            ns = self.host("worker", address, mac)
            ns.ip("neigh", "replace", DB_IP, "dev", "eth0", "lladdr", DB_MAC, "nud", "permanent")
            self.workers[address] = (ns, mac)
        self.reused = list(self.workers)[:reused]
        self.others = list(self.workers)[reused:]

    @staticmethod
    def old_mac(address):
        return f"02:00:00:0d:00:{int(address.rsplit('.', 1)[1]) - Fleet.BASE:02x}"

    def learn(self):
        """The workers that do not reuse an address connect first: the database learns their MACs."""
        assert all(self.health_checks(self.others).values()), "a worker could not reach the database"
        self.age()

    def age(self):
        """Half of the correct entries turn stale (with stretched timers, only a test can age them)."""
        self.db.batch(
            [
                f"neigh change {address} dev eth0 lladdr {self.workers[address][1]} nud stale"
                for address in self.others[1::2]
            ]
        )

    def reuse(self):
        """The database maps each reused address to its old, dead MAC: half stale, half reachable."""
        self.db.batch(
            [
                f"neigh replace {address} dev eth0 lladdr {self.old_mac(address)} nud {('stale', 'reachable')[n % 2]}"
                for n, address in enumerate(self.reused)
            ]
        )

    def health_checks(self, addresses=None):
        """{worker address: whether its 2 s TCP connect to the database succeeds}, all at once."""
        from concurrent.futures import ThreadPoolExecutor

        addresses = list(self.workers) if addresses is None else addresses
        with ThreadPoolExecutor(max(len(addresses), 1)) as pool:
            results = pool.map(lambda address: self.reach(self.workers[address][0], DB_IP), addresses)
        return dict(zip(addresses, results, strict=True))

    def entries(self):
        """The database's entries for the workers: {address: (MAC or None, state)}."""
        return {
            entry["dst"]: (entry.get("lladdr"), entry["state"][0].lower())
            for entry in self.db.neighbours()
            if entry["dst"] in self.workers
        }

    def addresses_kept(self):
        """Whether every worker still has its address, and it alone, on eth0."""
        for address, (ns, _) in self.workers.items():
            info = json.loads(ns.ip("-j", "-4", "addr", "show", "dev", "eth0").stdout)
            if [a["local"] for a in info[0]["addr_info"]] != [address]:
                return False
        return True


# A cloud fabric's ARP service: answers every ARP request that reaches the
# bridge for an address the fabric knows (a JSON file {address: MAC}, read at
# each request), with the owner's MAC, as a VPC does; hosts never hear each
# other's broadcasts.
FABRIC = f"""{ARP_REQUESTS}
for sha, spa, tpa in requests():
    with open(sys.argv[2]) as known:
        mac = json.load(known).get(socket.inet_ntoa(tpa))
    if mac and spa != tpa:
        answer(sha, spa, bytes.fromhex(mac.replace(":", "")), tpa)
"""


class CloudFabric(Segment):
    """
    A segment that behaves like the incident's cloud network (an AWS VPC):
    the bridge carries no ARP broadcast between hosts (nftables' bridge
    family drops them: requests, gratuitous ARP), and the fabric itself
    answers every ARP request with the MAC of the address's current owner.
    So a database never hears a new worker's ARP or its announcements, and
    verify's questions to a dead MAC go unanswered. IPv4 only.

    ``db`` serves PORT with the database's NUD timers stretched (an hour), so
    a wrong entry stays as the test plants it; ``worker()`` adds a host that
    holds a static entry for the database, and tells the fabric its addresses.
    """

    RULES = """
table bridge fabric {
    chain forward {
        type filter hook forward priority 0; policy accept;
        ether type arp ether daddr ff:ff:ff:ff:ff:ff drop
    }
}
"""

    def __init__(self, lab):
        super().__init__(lab, ipv6=False)
        self.switch.exec("nft", "-f", "-", input=self.RULES)
        self.known = os.path.join("/tmp", f"{self.switch.name}-fabric.json")
        self.owners = {}
        self._write()
        lab.files.append(self.known)
        fabric = self.switch.popen(sys.executable, "-c", FABRIC, "br0", self.known)
        lab.processes.append(fabric)
        assert fabric.stdout.readline().strip() == "ready"
        self.db = self.host("db", DB_IP, DB_MAC)
        self.db.sysctl(
            **{
                "net.ipv4.neigh.eth0.base_reachable_time_ms": 3600000,
                "net.ipv4.neigh.eth0.delay_first_probe_time": 3600,
            }
        )
        self.serve(self.db)

    def _write(self):
        with open(self.known + ".new", "w", encoding="utf-8") as out:
            json.dump(self.owners, out)
        os.replace(self.known + ".new", self.known)

    def worker(self, role, addresses, mac):
        """A worker with ``addresses`` (the first is its primary) and ``mac``, known to the fabric."""
        ns = self.host(role, addresses[0], mac)
        ns.batch([f"addr add {address}/24 dev eth0" for address in addresses[1:]])
        ns.ip("neigh", "replace", DB_IP, "dev", "eth0", "lladdr", DB_MAC, "nud", "permanent")
        self.owners.update(dict.fromkeys(addresses, mac))
        self._write()
        return ns

    def plant(self, address, mac, state="reachable"):
        """The database maps ``address`` to ``mac`` in ``state``."""
        self.db.ip("neigh", "replace", address, "dev", "eth0", "lladdr", mac, "nud", state)


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
    """The incident and its fixes, told step by step. Returns the exit status."""
    import tempfile

    results = []

    def say(text):
        print(f"\n== {text}", flush=True)

    def tell(text):
        print(f"   {text}", flush=True)

    def show_entry(hole):
        entry = hole.entry()
        tell(
            f"database's entry for {WORKER_IP}: " + (f"{entry.get('lladdr')} {entry['state'][0]}" if entry else "none")
        )

    def check(hole, expected):
        tell(f"health check from the new worker: TCP connect to {DB_IP}:{PORT}, 2 s timeout (nc -vz -w 2)")
        passed = hole.connect()
        results.append(passed == expected)
        if passed:
            tell("connect succeeded")
        else:
            tell("connect FAILED: the database's SYN-ACK goes to the old MAC, a NIC that no longer exists")
        return passed

    def salt(config, *command):
        tell("salt-call --local --out=yaml " + " ".join(command))
        result = salt_call(config, "--out=yaml", *command)
        tell((result.stdout + result.stderr).strip().replace("\n", "\n   "))
        results.append(result.returncode == 0)

    with tempfile.TemporaryDirectory(prefix="arp-hygiene-demo-") as tmp, Lab() as lab:
        config = salt_config(tmp)
        say(f"The incident: an old worker had {WORKER_IP}; it is gone, and a new worker has the same IP")
        tell(f"old worker MAC {OLD_MAC}, new worker MAC {NEW_MAC}, database {DB_IP}")
        tell("the workers hold a static entry for the database, as on a cloud network: the database never")
        tell("sees their ARP requests, so nothing tells it that the MAC changed")
        hole = BlackHole(lab)
        show_entry(hole)
        check(hole, expected=False)
        lab.close()

        say("Fix 1, a stale entry: arp.flush_stale deletes the stale entries, and only those")
        hole = BlackHole(lab)
        show_entry(hole)
        salt(config, "arp.flush_stale", f"netns={hole.db.name}")
        show_entry(hole)
        check(hole, expected=True)
        tell("the database asked the segment and learned the new MAC:")
        show_entry(hole)
        lab.close()

        say("Fix 2, a wrong entry that is reachable (unrelated traffic keeps confirming it)")
        hole = BlackHole(lab, state="reachable")
        show_entry(hole)
        check(hole, expected=False)
        tell("arp.flush_stale rightly leaves reachable entries alone:")
        salt(config, "arp.flush_stale", f"netns={hole.db.name}")
        tell("arp.verify asks the segment who owns each cached address; fix=True repairs what is wrong")
        tell("(the formula's default job, every 5 minutes, heals both kinds):")
        salt(config, "arp.verify", "fix=True", f"netns={hole.db.name}")
        show_entry(hole)
        check(hole, expected=True)
        lab.close()

        say("Fix 3, from the other side: the new worker announces its MAC when it starts (arp.announce)")
        hole = BlackHole(lab)
        show_entry(hole)
        check(hole, expected=False)
        salt(config, "arp.announce", "family=inet", f"netns={hole.worker.name}")
        time.sleep(0.2)  # the database's kernel takes the announcement
        show_entry(hole)
        check(hole, expected=True)
    # This demo's namespaces (PREFIX<role>-<pid>-<n>): a test suite may run others meanwhile.
    mine = f"-{os.getpid()}-"
    left = [name for name in run("ip", "netns", "list").stdout.split() if name.startswith(PREFIX) and mine in name]
    say("Lab removed." if not left else f"Lab NOT removed: {' '.join(left)}")
    ok = all(results) and not left
    say("Demo passed: the black hole reproduced, and each fix shown working." if ok else "Demo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] != ["demo"]:
        sys.exit("usage: python -m tests.support.lab demo")
    sys.exit(demo())
