"""
The heal at a minion's start in a storm of starts (tests/support/fleet.py):
a real master with the drop-in that arp_hygiene.master writes with pillar
master:engine (event bus, the master engine arp_hygiene, the runner), real
database minions whose tables are lab namespaces, real worker minions
restarted inside the storm, and synthetic workers (accepted keys,
grains-cache entries, answers fired on the master's bus) whose start events
the test fires on the master's bus.

In ./run test: one storm of 25 starts at once, one silent, one database and
one real worker: every answering worker healed in every table, every start
reacted to, the silent one named, a few jobs for the 25; and the audit
(arp_hygiene.audit) over 12 synthetic workers of 2 addresses each, which
names exactly the planted wrong entry. Small, because ./run test runs this
beside three other processes that make labs, and the kernel's neighbour
tables are shared: above gc_thresh1 (128 entries in all) it collects the
failed and stale entries other tests put in place (a storm of 100 and an
audit of 100 workers of 2 addresses took a beacon test's failed entries).
./run bench fleet runs the storms and audits of bench/fleet.py through the
same tests (ARP_HYGIENE_FLEET_*), with the tables to itself."""

import collections
import contextlib
import json
import os
import statistics
import sys
import threading
import time

import psutil
import pytest
import salt.client
import salt.payload
import salt.runner
import salt.utils.event
import yaml

from tests.integration.test_reactor import engine_drop_in, master_sls  # noqa: F401  pylint: disable=unused-import
from tests.support import REPO, deletes, fleet, lab

DATABASES = int(os.environ.get("ARP_HYGIENE_FLEET_DATABASES", "1"))
# Salt's minion option multiprocessing on the database minions (True, Salt's default: a
# process forked for each job, which imports pyroute2 again; False: a thread of the minion,
# which keeps it imported; Salt runs the arp module's files again for every job either way).
# bench/fleet.py measures both; the smoke run in ./run test proves the heal with threads (the
# reactor's tests, with processes).
DATABASE_MULTIPROCESSING = os.environ.get("ARP_HYGIENE_FLEET_DATABASE_MULTIPROCESSING", "false") == "true"
# One real worker in ./run test's smoke run (its start under the other suites' load is most of the
# module's time); bench/fleet.py passes its own number (10).
REAL_WORKERS = int(os.environ.get("ARP_HYGIENE_FLEET_REAL_WORKERS", "1"))
SMOKE = [{"starts": 25, "spread_s": 0, "pattern": "at once", "silent": 0.04}]
STORMS = json.loads(os.environ.get("ARP_HYGIENE_FLEET_STORMS") or json.dumps(SMOKE))
AUDIT_SMOKE = [{"minions": 12, "addresses_each": 2}]
AUDITS = json.loads(os.environ.get("ARP_HYGIENE_FLEET_AUDITS") or json.dumps(AUDIT_SMOKE))
NICE_WORKERS = os.environ.get("ARP_HYGIENE_FLEET_NICE_WORKERS") == "true"  # bench/fleet.py's
# Salt's default level of the log file: salt-factories writes debug, which
# costs a master under a storm of events some of its CPU, a fleet's not.
QUIET_LOG = {"log_level_logfile": "warning"}
# The minions keep the bytecode of the modules they load, as a minion does on a
# fleet: salt-factories sets PYTHONDONTWRITEBYTECODE for its daemons, and each
# job compiled the arp module's files again (14% of a database minion's job
# samples in a profile of a five-database storm). Python takes an empty value
# as unset.
WRITE_BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}
RESULTS = os.environ.get("ARP_HYGIENE_FLEET_RESULTS")  # bench/fleet.py reads the storms' figures from here
# The real workers' numbers (tests/support/fleet.py's addresses and MACs), above any synthetic worker's.
REAL = 100000
TIMEOUT = 15  # the drop-in's arp_hygiene:timeout
CALIBRATION_ROUNDS = 3


@pytest.fixture(scope="module")
def tables(can_make_namespaces):
    # The bench fills the kernel's tables far: it has them to itself (its
    # parent raised gc_thresh); the smoke test's hundred entries a table share them.
    hold = lab.tables_to_ourselves() if RESULTS else lab.sharing_tables()
    with hold, lab.Lab(share=False) as netlab:
        made = [fleet.database_table(netlab, n) for n in range(DATABASES)]
        workers = [fleet.worker_namespace(netlab, f"fleetreal{n}", REAL + n) for n in range(REAL_WORKERS)]
        yield made, workers


@pytest.fixture(scope="module")
def master(salt_factories, engine_drop_in, tmp_path_factory):  # noqa: F811
    pillar = tmp_path_factory.mktemp("fleet-pillar")
    (pillar / "top.sls").write_text(yaml.safe_dump({"base": {"fleet-db-*": ["db"], "fleet-real-*": ["worker"]}}))
    (pillar / "db.sls").write_text(
        "arp_hygiene:\n  flush:\n    netns: {{ grains['lab_netns'] }}\n    network: " + fleet.NETWORK + "\n"
    )
    (pillar / "worker.sls").write_text(
        "arp_hygiene:\n  announce:\n    netns: {{ grains['lab_netns'] }}\n    family: inet\n"
    )
    factory = salt_factories.salt_master_daemon(
        "arp-fleet-master",
        overrides={
            **engine_drop_in,
            "file_roots": {"base": [os.path.join(REPO, "salt")]},
            "pillar_roots": {"base": [str(pillar)]},
            **QUIET_LOG,
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def databases(master, tables):
    started = []
    with contextlib.ExitStack() as stack:
        for n, ns in enumerate(tables[0]):
            grains = {"roles": ["database"], "lab_netns": ns.name}
            overrides = {"grains": grains, "multiprocessing": DATABASE_MULTIPROCESSING, **QUIET_LOG}
            factory = master.salt_minion_daemon(f"fleet-db-{n}", overrides=overrides)
            factory.environ.update(WRITE_BYTECODE)
            stack.enter_context(factory.started())
            started.append(factory)
        yield started


@pytest.fixture(scope="module")
def real_workers(master, tables, databases, tmp_path_factory):
    # On a fleet the workers are other machines: in bench/fleet.py's storms
    # they run at the lowest CPU priority, so that their starts (some 2 CPU-s
    # each) take only what the master and the databases leave. In ./run
    # test's smoke run, beside the other suites' lanes, a worker so started
    # waited a minute and more for the CPU: it runs at the suite's priority.
    nice = tmp_path_factory.mktemp("fleet-nice") / "python"
    nice.write_text(f'#!/bin/sh\nexec nice -n 19 {sys.executable} "$@"\n')
    nice.chmod(0o755)
    workers = []
    for n, ns in enumerate(tables[1]):
        grains = {"roles": ["worker"], "lab_netns": ns.name, **fleet.namespace_grains(ns)}
        worker = master.salt_minion_daemon(f"fleet-real-{n}", overrides={"grains": grains, **QUIET_LOG})
        worker.environ.update(WRITE_BYTECODE)
        if NICE_WORKERS:
            worker.python_executable = str(nice)
        workers.append(worker)
    return workers


@pytest.fixture(scope="module")
def synthetic(master, databases, real_workers, tmp_path_factory):
    """
    The synthetic workers, enrolled; their answers come as long after a job's
    publication as the real workers' did (the median of CALIBRATION_ROUNDS
    jobs to each).
    """
    first = databases[0]
    with open(os.path.join(master.config["pki_dir"], "minions", first.id), encoding="utf-8") as key:
        public_key = key.read()
    grains = salt.cache.factory(master.config).fetch("grains", first.id) or {}
    workers = fleet.Synthetic(master, public_key, grains, 0, str(tmp_path_factory.mktemp("fleet") / "bus.jsonl"))
    try:
        client = salt.client.LocalClient(mopts=master.config.copy())
        with contextlib.ExitStack() as stack:
            for worker in real_workers:
                stack.enter_context(worker.started())
            ids = [worker.id for worker in real_workers]
            time.sleep(3)  # the engine's heals of their starts, before
            before = len(workers.load()["published"])
            # Each asked alone: on a fleet each is a machine of its own, not
            # one of ten minions forking their jobs on two cores at once.
            for _ in range(CALIBRATION_ROUNDS):
                for minion in ids:
                    answer = client.cmd(minion, "arp.addresses", kwarg={"settings": "arp_hygiene:announce"})
                    assert list(answer) == [minion], answer
        time.sleep(0.5)
        workers.load()
        published = {jid: when for when, jid, fun, *_ in workers.published[before:] if fun == "arp.addresses"}
        delays = [when - published[jid] for when, jid, minion in workers.returned if jid in published]
        assert len(delays) == CALIBRATION_ROUNDS * len(ids), (workers.published, workers.returned)
        workers.delay = statistics.median(delays)
        workers.enrol(range(max((storm["starts"] for storm in STORMS), default=0)))
        yield workers
    finally:
        workers.close()


class Storm:
    """
    One storm: ``starts`` synthetic workers' start events fired on the
    master's bus over ``spread_s`` seconds (``pattern``: at once, spread
    evenly, at random), a ``silent`` share of them never answering, and the
    real workers restarted among them; then every table's deletes, the
    reactor's runner calls, the jobs, test.ping's round trips and the
    master's CPU and memory, read off.
    """

    def __init__(self, spec, tables, master, databases, real_workers, synthetic):
        self.spec, self.master, self.databases, self.real_workers = spec, master, databases, real_workers
        self.tables, self.worker_tables = tables
        self.synthetic = synthetic
        self.numbers = list(range(spec["starts"]))
        self.silent = fleet.silent_ones(self.numbers, spec["silent"])
        self.silent_ids = {fleet.worker_id(n) for n in self.silent}
        self.pings, self.rss = [], []
        self.done = threading.Event()

    def run(self, tmp_path):
        spec = self.spec
        for worker in self.real_workers:
            if worker.is_running():
                worker.terminate()
        self.synthetic.enrol(self.numbers, self.silent)
        reals = [REAL + n for n in range(len(self.real_workers))]
        fleet.plant(self.tables, self.numbers + reals)
        tmp_path.mkdir(exist_ok=True)
        listener = deletes.Listener(self.tables, str(tmp_path / "deletes.txt"))
        master = psutil.Process(self.master.pid)
        databases = [psutil.Process(database.pid) for database in self.databases]
        cpu_before = cpu_seconds(master)
        databases_before = sum(cpu_seconds(database) for database in databases)
        watchers = [
            threading.Thread(target=self._ping, daemon=True),
            threading.Thread(target=self._sample, daemon=True),
        ]
        try:
            for watcher in watchers:
                watcher.start()
            begun = time.time()
            times = fleet.schedule(spec["starts"], spec["spread_s"], spec["pattern"])
            restarts = [
                threading.Thread(
                    target=self._restart, args=(worker, begun + times[len(times) * n // len(self.real_workers)])
                )
                for n, worker in enumerate(self.real_workers)
            ]
            for restart in restarts:
                restart.start()
            for number, at in zip(self.numbers, times, strict=True):
                time.sleep(max(0.0, begun + at - time.time()))
                self.synthetic.start(number)
            for restart in restarts:
                restart.join()
            answering = [n for n in self.numbers if n not in self.silent] + reals
            end = time.time() + TIMEOUT + 30
            while time.time() < end and any(fleet.held(ns, answering) for ns in self.tables):
                time.sleep(0.5)
            time.sleep(TIMEOUT + 2)  # the silent ones' deadline, and the heal's return
            self.cpu = cpu_seconds(master) - cpu_before
            self.databases_cpu = sum(cpu_seconds(database) for database in databases) - databases_before
            # The kernel's word on what was healed: the answering workers whose address a table still maps
            # to the dead MAC (the listener's deletes give the times).
            self.held_by_table = {ns.name: fleet.held(ns, answering) for ns in self.tables}
            self.still_held = {n for held in self.held_by_table.values() for n in held}
        finally:
            self.done.set()
            for watcher in watchers:
                watcher.join()
            listener.close()
        self.deletes, self.overflows = listener.deletes()
        self.begun = begun
        self.answering = {fleet.worker_id(n): fleet.worker_address(n) for n in answering if n < REAL}
        self.answering |= {w.id: fleet.worker_address(REAL + n) for n, w in enumerate(self.real_workers)}
        return self.figures()

    def _restart(self, worker, at):
        time.sleep(max(0.0, at - time.time()))
        worker.start()

    def _ping(self):
        client = salt.client.LocalClient(mopts=self.master.config.copy())
        while not self.done.wait(0.5):
            sent = time.monotonic()
            answer = client.cmd(self.databases[0].id, "test.ping", timeout=30, tgt_type="list")
            self.pings.append(time.monotonic() - sent if answer else None)

    def _sample(self):
        master = psutil.Process(self.master.pid)
        while not self.done.wait(0.5):
            with contextlib.suppress(psutil.Error):
                processes = [master, *master.children(recursive=True)]
                self.rss.append(sum(process.memory_info().rss for process in processes))

    def figures(self):
        spec, synthetic = self.spec, self.synthetic
        synthetic.load()
        started = {minion: synthetic.started.get(minion) for minion in self.answering}
        missing = sorted(minion for minion, when in started.items() if when is None or when < self.begun - 1)
        assert not missing, f"no start event seen for {missing}"
        names = [ns.name for ns in self.tables]
        first, every, unseen = fleet.heals(started, self.answering, self.deletes, names)
        ids = {REAL + n: w.id for n, w in enumerate(self.real_workers)}
        lost = sorted(ids.get(n) or fleet.worker_id(n) for n in self.still_held)
        # Healed in every table, as the tables say at the end, but some delete not seen by the listener.
        unseen = sorted(set(unseen) - set(lost))
        # The heals' returns: the runner's (a reactor's call) or the engine's event.
        served, silent_named, failed, again = 0, set(), {}, collections.Counter()
        for when, tag, data in synthetic.runs:
            answer = data.get("return") if tag.startswith("salt/run/") else data
            if when >= self.begun - 1 and isinstance(answer, dict) and "jobs" in answer:
                served += 1
                silent_named |= set(answer.get("silent", []))
                failed |= answer.get("failed") or {}
                again.update(answer.get("forwarded_again", []))
        unexpected = {key: why for key, why in failed.items() if key not in self.silent_ids}
        asked, forwarded = {}, {}
        for when, _, fun, minions, arg in synthetic.published:
            if when >= self.begun - 1 and fun == "arp.addresses":
                for minion in minions or ():
                    asked.setdefault(minion, when)
            if when >= self.begun - 1 and fun == "arp.forget":
                for address in (arg or [{}])[-1].get("addresses", ()):
                    forwarded.setdefault(address, when)
        # From the start to the forward of its address (from its grains, or its answer), from the
        # question to the answer, and from the forward to the last table's delete.
        to_forward = [
            forwarded[a] - synthetic.started[m]
            for m, a in self.answering.items()
            if a in forwarded and m in synthetic.started
        ]
        to_answer = [synthetic.answered[m] - asked[m] for m in self.answering if m in asked and m in synthetic.answered]
        to_delete = [
            max(self.deletes[(name, a)] for name in names) - forwarded[a]
            for m, a in self.answering.items()
            if a in forwarded and all((name, a) in self.deletes for name in names)
        ]
        starts = {fleet.worker_id(n) for n in self.numbers} | {w.id for w in self.real_workers}
        addresses = {fleet.worker_id(n): fleet.worker_address(n) for n in self.numbers}
        addresses |= {w.id: fleet.worker_address(REAL + n) for n, w in enumerate(self.real_workers)}
        # The lag: from a start event's stamp to the heal's first job for that minion (the
        # forward of what its grains say, or the question).
        reacted = {m: min((t for t in (asked.get(m), forwarded.get(addresses[m])) if t), default=None) for m in starts}
        reacted = {m: t for m, t in reacted.items() if t is not None}
        lag = [reacted[m] - synthetic.started[m] for m in reacted if m in synthetic.started]
        called = reacted
        jobs = [fun for when, _, fun, *_ in synthetic.published if when >= self.begun - 1]
        heal_jobs = jobs.count("arp.addresses") + jobs.count("arp.forget")
        pings = [p for p in self.pings if p is not None]
        # Each heal job: when, its function, its minions and the addresses it forwards (a
        # forward's keyword arguments come last; saltutil.find_job's argument is a jid).
        timeline = [
            (round(when - self.begun, 3), fun, len(minions or ()), len((arg or [{}])[-1].get("addresses", ())))
            for when, _, fun, minions, arg in synthetic.published
            if when >= self.begun - 1 and fun in ("arp.addresses", "arp.forget")
        ]
        return {
            "timeline": timeline[:20],
            "delay_s": synthetic.delay,
            "starts": spec["starts"],
            "spread_s": spec["spread_s"],
            "pattern": spec["pattern"],
            "silent": len(self.silent),
            "databases": len(self.tables),
            "database_multiprocessing": DATABASE_MULTIPROCESSING,
            "real_workers": len(self.real_workers),
            "heal_s": fleet.percentiles(list(every.values())),
            "heal_first_s": fleet.percentiles(list(first.values())),
            "lost": len(lost),
            "lost_workers": lost[:20],
            "unseen": len(unseen),
            "listener_overflows": len(self.overflows),
            "reactor_lag_s": fleet.percentiles(lag),
            "start_to_forward_s": fleet.percentiles(to_forward),
            "ask_to_answer_s": fleet.percentiles(to_answer),
            "forward_to_delete_s": fleet.percentiles(to_delete),
            "reactions_missing": sorted(starts - set(called))[:20],
            "reactions_missing_count": len(starts - set(called)),
            "heals_served": served,
            # What the heals' returns name as failed, but the silent workers (a few, and how many);
            # the kinds count every failure, the silent workers' included.
            "heal_failed": dict(sorted(unexpected.items())[:10]),
            "heal_failed_count": len(unexpected),
            "heal_failed_kinds": dict(collections.Counter(v.split(":")[0] for v in failed.values())),
            # The databases that did not answer a forward in time and were sent it again: in how many heals.
            "forwarded_again": dict(sorted(again.items())),
            "held_by_table": {name: len(held) for name, held in self.held_by_table.items() if held},
            "database_log": database_warnings(self.databases),
            "silent_named": sorted(silent_named),
            "jobs": heal_jobs,
            "jobs_by_function": {"arp.addresses": jobs.count("arp.addresses"), "arp.forget": jobs.count("arp.forget")},
            "jobs_per_100_heals": round(100 * heal_jobs / max(1, len(every)), 1),
            "ping_s": fleet.percentiles(pings) | {"unanswered": self.pings.count(None)},
            "master_cpu_s": round(self.cpu, 2),
            "master_rss_mb": round(max(self.rss, default=0) / 2**20, 1),
            # All the database minions' processes together (on a fleet, each on a machine of its own).
            "databases_cpu_s": round(self.databases_cpu, 2),
        }


def database_warnings(databases):
    """The first lines the database minions' logs hold (at level warning and above), per minion."""
    found = {}
    for database in databases:
        path = database.config.get("log_file")
        if path and os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as log:
                lines = [line.strip() for line in log if "[WARNING" in line or "[ERROR" in line]
            if lines:
                found[database.id] = [len(lines), *lines[:3]]
    return found


def cpu_seconds(process):
    """User and system CPU seconds of ``process`` and its children (those alive now)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def test_a_storm_of_starts_heals_every_answering_worker_in_a_few_jobs_and_names_the_silent(
    tables, master, databases, real_workers, synthetic, tmp_path
):
    results = []
    for n, spec in enumerate(STORMS):
        figures = Storm(spec, tables, master, databases, real_workers, synthetic).run(tmp_path / f"storm{n}")
        print(json.dumps(figures))
        results.append(figures)
        if RESULTS:
            with open(RESULTS, "w", encoding="utf-8") as out:
                json.dump({"delay_s": synthetic.delay, "storms": results}, out, indent=1)
        assert figures["lost"] == 0, figures
        # Every heal time measured: the listener saw each delete.
        assert figures["unseen"] == 0 and figures["listener_overflows"] == 0, figures
        assert figures["reactions_missing_count"] == 0, figures
        silent = sorted(fleet.worker_id(n) for n in fleet.silent_ones(list(range(spec["starts"])), spec["silent"]))
        assert figures["silent_named"] == silent, figures
        if spec["pattern"] == "at once":
            # Each forward carries the answers that came meanwhile: a few jobs, not one a start
            # (a real worker's start, which comes when its minion is up, may be served alone).
            assert figures["jobs"] <= spec["starts"] // 5 + 2 * REAL_WORKERS, figures


class Audit:
    """
    One audit (``salt-run arp_hygiene.audit minions='fleet-w*'``, the
    runner in this process): ``minions`` synthetic workers of
    ``addresses_each`` addresses each (the only synthetic keys then), every
    database table holding each address, 1 in 100 on a dead MAC. Figures:
    the steps' times (from the bus: the question's publication, the last
    answer, the forward's publication, the database's return), and the
    bytes each job carried on the bus against the master's max_event_size.
    """

    def __init__(self, spec, tables, master, synthetic):
        self.spec, self.tables, self.master, self.synthetic = spec, tables, master, synthetic

    def run(self):
        minions, each = self.spec["minions"], self.spec["addresses_each"]
        numbers = list(range(minions))
        self.synthetic.enrol(numbers, each=each, only=True)
        claims = {fleet.worker_id(n): fleet.audit_claims(n, each) for n in numbers}
        self.wrong = {
            a for n, owned in enumerate(claims.values()) for k, a in enumerate(owned) if (n * each + k) % 100 == 0
        }
        lines = [
            f"neigh replace {address} dev a0 lladdr {fleet.dead_mac(0) if address in self.wrong else mac} nud reachable"
            for owned in claims.values()
            for address, mac in owned.items()
        ]
        for ns in self.tables:
            ns.batch(["neigh flush dev a0", *lines])
        runner = salt.runner.RunnerClient(self.master.config.copy())
        try:
            begun = time.time()
            self.ret = runner.cmd("arp_hygiene.audit", kwarg={"minions": "fleet-w*"}, print_event=False)
            self.seconds = time.time() - begun
        finally:
            runner.destroy()
        time.sleep(1)  # the last events, written down
        return self.figures(begun)

    def figures(self, begun):
        synthetic = self.synthetic
        synthetic.load()
        jobs = {fun: (when, jid) for when, jid, fun, *_ in synthetic.published if when >= begun}
        asked, question = jobs["arp.addresses"]
        forwarded, forward = jobs["arp.forget"]
        answers = [synthetic.answered[m] for m in synthetic.answering if synthetic.answered.get(m, 0) >= begun]
        returns = [when for when, jid, _ in synthetic.returned if jid == forward]
        sizes = synthetic.sizes
        return {
            "minions": self.spec["minions"],
            "addresses_each": self.spec["addresses_each"],
            "seconds": round(self.seconds, 2),
            "steps_s": {
                "to_question": round(asked - begun, 3),
                "to_last_answer": round(max(answers) - asked, 3),
                "to_forward": round(forwarded - max(answers), 3),
                "forget": round(max(returns) - forwarded, 3),
                "to_runner_return": round(begun + self.seconds - max(returns), 3),
            },
            "publish_bytes": sizes[forward]["new"][0],
            "publish_trimmed": sizes[forward]["new"][1],
            "question_bytes": sizes[question]["new"][0],
            "answers_bytes": sum(len(salt.payload.dumps(owned)) for owned in synthetic.answering.values()),
            "return_bytes": max(size for what, (size, _) in sizes[forward].items() if what != "new"),
            "return_trimmed": any(trimmed for what, (_, trimmed) in sizes[forward].items() if what != "new"),
            "max_event_size": self.master.config.get("max_event_size"),
            "checked": self.ret.get("checked"),
            "failed": self.ret.get("failed"),
        }


def test_the_audit_over_the_synthetic_fleet_names_exactly_the_planted_wrong_entries(
    tables, master, databases, synthetic
):
    results = []
    for spec in sorted(AUDITS, key=lambda spec: spec["minions"]):
        audit = Audit(spec, tables[0], master, synthetic)
        figures = audit.run()
        print(json.dumps(figures))
        results.append(figures)
        if RESULTS:
            with open(RESULTS, encoding="utf-8") as found:
                before = json.load(found) if os.path.getsize(RESULTS) else {}
            with open(RESULTS, "w", encoding="utf-8") as out:
                json.dump({**before, "audit": results}, out, indent=1)
        ret = audit.ret
        assert ret["failed"] == {} and ret["unheard"] == {} and ret["conflicts"] == {}, figures
        assert ret["checked"] == {
            "owners": spec["minions"],
            "addresses": spec["minions"] * spec["addresses_each"],
            "targets": len(databases),
        }, figures
        found = {
            address
            for tables_wrong in ret["wrong"].values()
            for entries in tables_wrong.values()
            for address in entries
        }
        assert set(ret["wrong"]) == {db.id for db in databases} and found == audit.wrong, figures
