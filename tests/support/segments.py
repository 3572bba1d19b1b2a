"""
The lab's Ethernet segments: a bridge and the hosts on it, the incident's
black hole, a fleet of workers, and a cloud-like fabric (see lab.py for the
namespaces they are made of).
"""

import json
import os

from tests.support.lab import (
    CONNECT,
    DB_IP,
    DB_IP6,
    DB_MAC,
    NEW_MAC,
    OLD_MAC,
    PORT,
    SERVER,
    WORKER_IP,
    WORKER_IP6,
    Capture,
    program,
)


class Segment:
    """
    An Ethernet segment: a bridge in a switch namespace, and hosts, each a
    namespace whose eth0 is plugged into the bridge. Without ``ipv6``, IPv6
    is off in every namespace of the segment: each interface with IPv6 adds
    multicast entries to the kernel's one table for all namespaces (see
    lab.TABLES_LOCK), some 6 per host.
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

    def unplug(self, ns):
        """
        Take ``ns`` off the segment, then delete it. Its port goes first, and
        with it (a veth pair) ``ns``'s eth0, at once: the kernel dismantles a
        deleted namespace's devices later, and on a busy host ``ns`` would
        still answer on the segment meanwhile.
        """
        self.switch.ip("link", "delete", self.ports.pop(ns.name))
        ns.delete()

    def serve(self, ns):
        """A TCP server on PORT in ``ns``, stopped when the lab closes."""
        server = ns.popen(*SERVER)
        self.lab.processes.append(server)
        server.stdout.readline()
        return server

    def responder(self, ns, address, mac, delay=0.0):
        """A user-space ARP responder in ``ns`` that claims ``address`` with ``mac`` after ``delay`` seconds."""
        process = ns.popen(*program("responder", "eth0", address, mac, delay))
        self.lab.processes.append(process)
        assert process.stdout.readline().strip() == "ready"
        return process

    @staticmethod
    def reach(ns, address, timeout=2):
        """A TCP connect from ``ns`` to ``address``:PORT; True if it succeeds."""
        result = ns.exec(*CONNECT, address, str(PORT), str(timeout), check=False)
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
        self.unplug(old)
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
        fabric = self.switch.popen(*program("fabric", "br0", self.known))
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
