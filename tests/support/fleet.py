"""
A fleet of workers for the reactor's heal at scale (bench/fleet.py and
tests/integration/test_fleet.py): database tables that map every worker's
address to a dead MAC, and synthetic workers on a real master (the netlink
listener that sees each entry go: tests/support/deletes.py).

Synthetic, and only that: a synthetic worker is an accepted key (a public
key file in the master's pki_dir), a grains-cache entry of a real minion's
size, and an answer to the master's ``arp.addresses`` jobs for its id, fired
on the master's event bus (as the master fires a minion's return) after a
delay measured on real minions; its start event is fired on the master's bus
in the shape a minion's has. What that leaves out: the ZeroMQ fan-out of the
publications to real minions, their authentication, and the minion-side
work of the answer (the delay stands for it).
"""

import copy
import datetime
import heapq
import ipaddress
import json
import multiprocessing
import os
import random
import time

import salt.cache
import salt.payload
import salt.utils.event

# The workers' addresses: 198.18.0.0/15, from 198.18.1.0 on (198.18.0.1 is each table's own).
FIRST = int(ipaddress.IPv4Address("198.18.1.0"))
NETWORK = "198.18.0.0/15"
DB_ADDRESS = "198.18.0.1"


def worker_id(number):
    return f"fleet-w{number:05d}"


def worker_address(number):
    return str(ipaddress.IPv4Address(FIRST + number))


# The audit's addresses (audit_claims): above every storm worker's, below the real workers'.
AUDIT_FIRST = int(ipaddress.IPv4Address("198.18.32.0"))


def audit_claims(number, each):
    """Worker ``number``'s ``each`` addresses in an audit, all on its MAC."""
    first = AUDIT_FIRST + number * each
    return {str(ipaddress.IPv4Address(first + k)): worker_mac(number) for k in range(each)}


def worker_mac(number):
    return f"02:00:01:{number >> 16 & 255:02x}:{number >> 8 & 255:02x}:{number & 255:02x}"


def dead_mac(number):
    """The MAC of the machine that had worker ``number``'s address before it."""
    return f"02:00:02:{number >> 16 & 255:02x}:{number >> 8 & 255:02x}:{number & 255:02x}"


def stamp(event):
    """The wall-clock time of an event of the master's bus (its _stamp)."""
    when = datetime.datetime.fromisoformat(event["_stamp"])
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


# ------------------------------------------------------------ the databases' tables


def database_table(netlab, number):
    """A lab namespace whose a0 (timers frozen: only a delete removes an entry) will hold the workers' entries."""
    ns = netlab.namespace(f"fleetdb{number}")
    ns.batch(["link add a0 type veth peer name a1"])
    ns.freeze_timers("a0")
    ns.batch(["link set a0 up", "link set a1 up", f"addr add {DB_ADDRESS}/15 dev a0"])
    return ns


def worker_namespace(netlab, name, number):
    """A lab namespace that holds worker ``number``'s address on its eth0 (a real worker minion's, by its pillar)."""
    ns = netlab.namespace(name)
    ns.batch(
        [
            "link add eth0 type veth peer name eth1",
            f"link set eth0 address {worker_mac(number)} up",
            "link set eth1 up",
            f"addr add {worker_address(number)}/15 dev eth0",
        ]
    )
    return ns


def network_grains(addresses, mac):
    """The network grains of a worker whose eth0 holds ``addresses`` (IPv4) on ``mac``, as core grains name them."""
    return {
        "ipv4": ["127.0.0.1", *addresses],
        "ip4_interfaces": {"lo": ["127.0.0.1"], "eth0": list(addresses)},
        "ip6_interfaces": {"lo": ["::1"], "eth0": []},
        "hwaddr_interfaces": {"lo": "00:00:00:00:00:00", "eth0": mac},
    }


def namespace_grains(ns):
    """
    The network grains of a minion that runs in lab namespace ``ns`` (its
    links' MACs and addresses, as Salt's core grains name them): a worker
    minion of the tests runs in the host's namespace, its addresses are in
    its lab namespace (its pillar's announce netns).
    """
    grains = {"ipv4": [], "ip4_interfaces": {}, "ip6_interfaces": {}, "hwaddr_interfaces": {}}
    for link in json.loads(ns.ip("-j", "addr", "show").stdout):
        name = link["ifname"]
        grains["hwaddr_interfaces"][name] = link.get("address", "00:00:00:00:00:00")
        for family, key in (("inet", "ip4_interfaces"), ("inet6", "ip6_interfaces")):
            found = [info["local"] for info in link.get("addr_info", []) if info["family"] == family]
            grains[key][name] = found
            if family == "inet":
                grains["ipv4"].extend(found)
    return grains


def plant(tables, numbers):
    """Each table maps each worker's address to its dead MAC (reachable): the black holes."""
    lines = [f"neigh replace {worker_address(n)} dev a0 lladdr {dead_mac(n)} nud reachable" for n in numbers]
    for ns in tables:
        ns.batch(lines)


def held(ns, numbers):
    """The workers (numbers) whose address ``ns`` still maps to the dead MAC."""
    found = {entry["dst"]: entry.get("lladdr") for entry in ns.neighbours()}
    return [n for n in numbers if found.get(worker_address(n)) == dead_mac(n)]


# ------------------------------------------------------------ synthetic workers


class Synthetic:
    """
    Synthetic workers on ``master`` (its configuration): ``enrol`` accepts
    their keys and caches their grains; a responder process of its own (a
    Python of its own, as the workers' machines would be) answers the
    master's ``arp.addresses`` jobs for every enrolled worker that is not
    silent, ``delay`` seconds after the job's publication, and writes down
    what the bus carried; ``start`` fires a worker's start event on the
    master's bus.
    """

    def __init__(self, master, public_key, grains, delay, records):
        self.config, self.public_key, self.grains, self._delay = master.config, public_key, grains, delay
        self.answering, self.silent = {}, set()  # {id: number}, {ids}
        self.cached = {}  # {id: grains}
        self.cache = salt.cache.factory(self.config)
        self.records = records
        open(records, "w", encoding="utf-8").close()  # pylint: disable=consider-using-with
        self.sender = salt.utils.event.get_master_event(self.config, self.config["sock_dir"], listen=False)
        context = multiprocessing.get_context("spawn")
        self.control = context.Queue()
        self.process = context.Process(target=respond, args=(master.config_file, self.control, records), daemon=True)
        self.process.start()
        self._tell()
        end = time.monotonic() + 60
        while time.monotonic() < end and not self.load().get("ready"):
            time.sleep(0.1)
        assert self.load().get("ready"), "the responder did not start within 60 s"

    @property
    def delay(self):
        return self._delay

    @delay.setter
    def delay(self, seconds):
        self._delay = seconds
        self._tell()

    def _tell(self):
        self.control.put((dict(self.answering), self._delay))

    def load(self):
        """
        What the responder wrote down: ``published`` [(stamp, jid, fun,
        minions, arg)] of every job, ``returned`` [(stamp, jid, minion)] of
        the other minions' returns, ``started`` {minion: its latest start
        event's stamp}, ``answered`` {minion: when its latest answer was
        fired}, ``runs`` [(stamp, tag, data)] of the runner's events
        (salt/run/) and the engine's (arp_hygiene/).
        """
        found = {"published": [], "returned": [], "started": {}, "answered": {}, "runs": [], "sizes": {}}
        with open(self.records, encoding="utf-8") as lines:
            for line in lines:
                if not line.endswith("\n"):
                    break  # being written
                kind, *record = json.loads(line)
                if kind in ("started", "answered"):
                    found[kind][record[0]] = record[1]
                elif kind == "ready":
                    found["ready"] = True
                elif kind == "size":
                    jid, what, size, trimmed = record
                    found["sizes"].setdefault(jid, {})[what] = (size, trimmed)
                else:
                    found[kind].append(tuple(record))
        self.__dict__.update(found)
        return found

    def enrol(self, numbers, silent=(), each=None, only=False):
        """
        Accept the keys of workers ``numbers`` and cache their grains; each
        answers with its storm address, or with ``each`` audit addresses
        (audit_claims); ``silent`` ones never answer. ``only``: the other
        synthetic workers' keys are deleted.
        """
        cache = salt.cache.factory(self.config)
        accepted = os.path.join(self.config["pki_dir"], "minions")
        if only:
            keep = {worker_id(number) for number in numbers}
            for minion in (set(self.answering) | self.silent) - keep:
                os.remove(os.path.join(accepted, minion))
                self.answering.pop(minion, None)
                self.silent.discard(minion)
        for number in numbers:
            minion = worker_id(number)
            with open(os.path.join(accepted, minion), "w", encoding="utf-8") as key:
                key.write(self.public_key)
            self.cached[minion] = grains = copy.deepcopy(self.grains)
            grains.update(id=minion, roles=["worker"], fqdn=minion, host=minion, nodename=minion)
            owned = audit_claims(number, each) if each else {worker_address(number): worker_mac(number)}
            grains.update(network_grains(list(owned), worker_mac(number)))
            store_grains(cache, minion, grains)
            if number in silent:
                self.silent.add(minion)
                self.answering.pop(minion, None)
            else:
                self.silent.discard(minion)
                self.answering[minion] = (
                    audit_claims(number, each) if each else {worker_address(number): worker_mac(number)}
                )
        self._tell()

    def start(self, number):
        """
        Cache worker ``number``'s grains and fire its start event on the
        master's bus, as the master does for a minion's pillar request and
        its start event, which follows.
        """
        minion = worker_id(number)
        store_grains(self.cache, minion, self.cached[minion])
        tag = f"salt/minion/{minion}/start"
        load = {"id": minion, "cmd": "_minion_event", "pretag": None, "tag": tag}
        load["data"] = f"Minion {minion} started at {time.asctime()}"
        self.sender.fire_event(load, tag)

    def close(self):
        self.control.put(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        self.sender.destroy()


def respond(config_file, control, records):
    """The responder process (Synthetic): answers, and writes down every event of note as a JSON line."""
    import salt.config  # pylint: disable=import-outside-toplevel

    config = salt.config.master_config(config_file)
    bus = salt.utils.event.get_master_event(config, config["sock_dir"], listen=True)
    sender = salt.utils.event.get_master_event(config, config["sock_dir"], listen=False)
    out = open(records, "a", encoding="utf-8")  # pylint: disable=consider-using-with
    answering, delay = control.get()
    due = []  # heap of (time, jid, minion)

    def write(*record):
        out.write(json.dumps(record, default=str) + "\n")

    write("ready")
    out.flush()
    try:
        while True:
            while not control.empty():
                told = control.get()
                if told is None:
                    return
                answering, delay = told
            wait = 0.01 if not due else max(0.001, min(0.01, due[0][0] - time.monotonic()))
            event = bus.get_event(wait=wait, full=True)
            tag, data = (event["tag"], event["data"]) if event else ("", {})
            if tag.startswith("salt/minion/") and tag.endswith("/start"):
                write("started", tag.split("/")[2], stamp(data))
            elif tag.startswith(("salt/run/", "arp_hygiene/")):
                write("runs", stamp(data), tag, data)
            elif tag.startswith("salt/job/") and "/ret/" in tag and data.get("id") not in answering:
                write("returned", stamp(data), data.get("jid"), data.get("id"))
                write("size", data.get("jid"), data.get("id"), *measured(data))
            elif tag.startswith("salt/job/") and tag.endswith("/new"):
                write("published", stamp(data), data.get("jid"), data.get("fun"), data.get("minions"), data.get("arg"))
                write("size", data.get("jid"), "new", *measured(data))
                if data.get("fun") == "arp.addresses":
                    when = time.monotonic() + delay
                    for minion in data.get("minions") or ():
                        if minion in answering:
                            heapq.heappush(due, (when, data["jid"], minion))
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, jid, minion = heapq.heappop(due)
                ret = {
                    "cmd": "_return",
                    "id": minion,
                    "jid": jid,
                    "fun": "arp.addresses",
                    "fun_args": [{"settings": "arp_hygiene:announce"}],
                    "return": answering[minion],
                    "retcode": 0,
                    "success": True,
                }
                sender.fire_event(ret, f"salt/job/{jid}/ret/{minion}")
                write("answered", minion, time.time())
            if not due:
                out.flush()
    finally:
        out.close()
        bus.destroy()
        sender.destroy()


def measured(data):
    """(bytes, trimmed) of an event's data as the bus carried it: its msgpack size, and whether Salt cut it."""
    packed = salt.payload.dumps(data)
    return len(packed), b"VALUE_TRIMMED" in packed


def store_grains(cache, minion, grains):
    """The master's grains cache entry for ``minion``: Salt 3008's bank grains, or earlier ones' minions/<id>."""
    if hasattr(cache, "fetch") and _new_banks():
        cache.store("grains", minion, grains)
    else:
        cache.store(f"minions/{minion}", "data", {"grains": grains, "pillar": {}})


def _new_banks():
    import salt.version  # pylint: disable=import-outside-toplevel

    return salt.version.__saltstack_version__.major >= 3008


# ------------------------------------------------------------ a storm


def schedule(starts, spread_s, pattern, seed=0):
    """The start times (seconds from the storm's start) of ``starts`` starts: at once, evenly spread, or at random."""
    if pattern == "at once" or spread_s == 0:
        return [0.0] * starts
    if pattern == "spread":
        return [spread_s * n / starts for n in range(starts)]
    chance = random.Random(seed)
    return sorted(chance.uniform(0, spread_s) for _ in range(starts))


def silent_ones(numbers, share):
    """Every how-many-th of ``numbers`` stays silent for a ``share`` (0 to 1) of them."""
    if not share:
        return set()
    step = round(1 / share)
    return {number for index, number in enumerate(numbers) if index % step == step // 2}


def percentiles(values):
    """p50, p95, p99 and max (nearest rank) of ``values``; None each when there are none."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def rank(share):
        return ordered[max(0, -(-len(ordered) * share // 100) - 1)]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1]}


def heals(started, addresses, deletes, tables):
    """
    Per answering worker: seconds from its start event's stamp to the delete
    of its address's entry in the first table and in the last, and the
    workers for which some table's delete was not seen. ``started``:
    {worker: stamp}; ``addresses``: {worker: address}; ``deletes``:
    {(table, address): time}.
    """
    first, every, unseen = {}, {}, []
    for worker, when in started.items():
        seen = [deletes.get((table, addresses[worker])) for table in tables]
        if None in seen:
            unseen.append(worker)
        found = [moment - when for moment in seen if moment is not None]
        if found:
            first[worker] = min(found)
        if found and len(found) == len(tables):
            every[worker] = max(found)
    return first, every, sorted(unseen)
