"""
The reactor and the runner (salt/arp_hygiene/reactor/start.sls,
salt/_runners/arp_hygiene.py) on a lab network that behaves like the
incident's cloud fabric (tests/support/segments.CloudFabric): no ARP broadcast or
gratuitous ARP between hosts, the fabric answers ARP itself. A master of its
own, configured by the master.d drop-in that arp_hygiene.master writes; a
database minion whose table is a lab namespace (its pillar flush:netns), and
worker minions whose addresses are lab namespaces' (their pillar
announce:netns).
"""

import datetime
import json
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import salt.utils.event
import yaml

from tests.support import REPO, fleet, lab, segments

DB = "arp-reactor-db"
OLD = "02:00:00:0a:00:01"  # the dead machine's MAC
# Worker B starts with four addresses: the database maps the first to the
# dead MAC (the black hole, reachable), the second to B's own MAC (right),
# the third permanently to the dead MAC (configuration), and the fourth to
# the dead MAC but its pillar excludes it (a gateway, say).
B_MAC = "02:00:00:0b:00:02"
HOLE, RIGHT, PERMANENT, EXCLUDED = "192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23"
UNRELATED = ("192.0.2.30", "02:00:00:0a:00:30")  # nobody's: stays as it is
# Worker minions started at once: enough to show that the starts are batched
# (a job per start would be BURST jobs), few enough for 2 cores beside the
# other suites (20 took 2.5 min and CPU the rest of the test command needed).
BURST = 10
HEAL_RESTARTS = int(os.environ.get("ARP_HYGIENE_HEAL_RESTARTS", "3"))
HEAL_RESULTS = os.environ.get("ARP_HYGIENE_HEAL_RESULTS")  # bench/heal.py reads the times from here


def burst_address(number):
    return f"192.0.2.{100 + number}", f"02:00:00:0c:00:{number:02x}"


# Their module-scoped lab shares the kernel's tables test by test (see lab.TABLES_LOCK).
pytestmark = pytest.mark.usefixtures("sharing_tables")


@pytest.fixture(scope="module")
def fabric(can_make_namespaces):
    # Each test plants the entries it checks: between two tests, a process
    # that fills tables may have the kernel collect them.
    with lab.Lab(share=False) as made:
        fabric = segments.CloudFabric(made)
        fabric.b = fabric.worker("b", [HOLE, RIGHT, PERMANENT, EXCLUDED], B_MAC)
        # Two more workers for the audit; they will both claim one address.
        fabric.audited = [fabric.worker(f"a{n}", [f"192.0.2.{40 + n}"], f"02:00:00:0d:00:{n:02x}") for n in (1, 2)]
        fabric.burst = [fabric.worker(f"w{n}", [burst_address(n)[0]], burst_address(n)[1]) for n in range(1, BURST + 1)]
        yield fabric


def master_sls(directory, master_pillar, *command):
    """salt-call --local of arp_hygiene.master (this checkout's formula) with pillar arp_hygiene:master."""
    config = lab.salt_config(str(directory / "config"))
    with open(os.path.join(config, "minion"), "a", encoding="utf-8") as minion:
        minion.write(f"file_roots:\n  base: [{os.path.join(REPO, 'salt')}]\n")
    pillar = {"arp_hygiene": {"master": master_pillar}}
    return lab.salt_call(config, "--out=json", *command, f"pillar={json.dumps(pillar)}")


RUNNER_SETTINGS = {"targets": "roles:database", "tgt_type": "grain", "timeout": 15, "batch_wait": 0.2}


def written_drop_in(directory, master_pillar):
    """The master.d drop-in that arp_hygiene.master writes with pillar arp_hygiene:master (and timeout 15)."""
    target = directory / "arp_hygiene.conf"
    done = master_sls(
        directory,
        {"config_file": str(target), "timeout": 15, **master_pillar},
        "state.sls_id",
        "arp_hygiene-master-file-serialize-config",
        "arp_hygiene.master",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return yaml.safe_load(target.read_text())


@pytest.fixture(scope="module")
def drop_in(tmp_path_factory):
    """The master.d drop-in as arp_hygiene.master writes it by default: the reactor."""
    written = written_drop_in(tmp_path_factory.mktemp("master-sls"), {})
    assert written == {
        "reactor": [{"salt/minion/*/start": ["salt://arp_hygiene/reactor/start.sls"]}],
        "arp_hygiene": RUNNER_SETTINGS,
    }
    return written


@pytest.fixture(scope="module")
def engine_drop_in(tmp_path_factory):
    """The drop-in that arp_hygiene.master writes with the engine instead of the reactor."""
    written = written_drop_in(tmp_path_factory.mktemp("master-sls"), {"reactor": False, "engine": True})
    assert written == {"engines": [{"arp_hygiene": {}}], "arp_hygiene": RUNNER_SETTINGS}
    return written


def test_the_healing_pages_drop_in_is_what_arp_hygiene_master_writes_by_default(tmp_path):
    with open(HEALING_PAGE, encoding="utf-8") as stream:
        shown = stream.read().split("# /etc/salt/master.d/arp_hygiene.conf (as arp_hygiene.master writes it)\n", 1)[1]
    target = tmp_path / "arp_hygiene.conf"
    done = master_sls(
        tmp_path,
        {"config_file": str(target)},
        "state.sls_id",
        "arp_hygiene-master-file-serialize-config",
        "arp_hygiene.master",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_text() == shown.split("```", 1)[0]


@pytest.mark.parametrize(
    "master_pillar, problem",
    [
        ({"tgt_type": "sql"}, 'pillar arp_hygiene:master:tgt_type is "sql"; allowed: glob, pcre'),
        ({"batch_wait": -1}, "pillar arp_hygiene:master:batch_wait is -1; allowed: a number of seconds from 0 to 600"),
        ({"targets": ""}, 'pillar arp_hygiene:master:targets is ""; allowed: a Salt target'),
        ({"reactors": True}, "pillar arp_hygiene:master:reactors is not a setting of the formula"),
        ({"engine": True}, "pillar arp_hygiene:master:engine is true; allowed: false while master:reactor is true"),
    ],
)
def test_a_bad_master_pillar_is_one_failed_state_and_writes_nothing(tmp_path, master_pillar, problem):
    target = tmp_path / "arp_hygiene.conf"
    done = master_sls(tmp_path, {"config_file": str(target), **master_pillar}, "state.apply", "arp_hygiene.master")
    assert done.returncode != 0
    (ret,) = json.loads(done.stdout)["local"].values()
    assert ret["result"] is False and problem in ret["comment"], ret
    assert not target.exists()


@pytest.fixture(scope="module")
def master(salt_factories, fabric, drop_in, tmp_path_factory):
    pillar = tmp_path_factory.mktemp("reactor-pillar")
    top = {"base": {DB: ["db"], "worker-*": ["worker"]}}
    (pillar / "top.sls").write_text(yaml.safe_dump(top))
    (pillar / "db.sls").write_text(
        yaml.safe_dump({"arp_hygiene": {"flush": {"netns": fabric.db.name, "exclude": [EXCLUDED]}}})
    )
    # Each worker's addresses are those of its namespace (its grain lab_netns).
    (pillar / "worker.sls").write_text(
        "arp_hygiene:\n  announce:\n    netns: {{ grains['lab_netns'] }}\n    family: inet\n"
    )
    factory = salt_factories.salt_master_daemon(
        "arp-reactor-master",
        overrides={
            **drop_in,
            "file_roots": {"base": [os.path.join(REPO, "salt")]},
            "pillar_roots": {"base": [str(pillar)]},
            # Salt's reactor makes its runner client again every
            # reactor_refresh_interval (60 s by default), and with it a fresh
            # copy of the runner: a start after a refresh begins a batch of
            # its own beside the running one (both heal; the healing page
            # says so). The tests that count which starts share a batch
            # need the one runner copy throughout: one refresh in an hour.
            "reactor_refresh_interval": 3600,
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def db_minion(master):
    factory = master.salt_minion_daemon(DB, overrides={"grains": {"roles": ["database"]}})
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def worker_minion(master):
    """worker_minion(name, ns): the factory of minion worker-<name>, whose addresses are ns's; one per name."""
    made = {}

    def factory(name, ns, **grains):
        # A second factory of one id would come with a key of its own, which the master refuses.
        if name not in made:
            grains = {"roles": ["worker"], "lab_netns": ns.name, **fleet.namespace_grains(ns), **grains}
            made[name] = master.salt_minion_daemon(f"worker-{name}", overrides={"grains": grains})
        return made[name]

    return factory


@pytest.fixture(scope="module")
def salt_run(master, db_minion):
    return master.salt_run_cli(timeout=60)


@pytest.fixture(scope="module")
def worker_b(worker_minion, db_minion, fabric):
    return worker_minion("b", fabric.b)


HEALING_PAGE = os.path.join(REPO, "docs", "guide", "healing.md")


def on_the_page():
    """{command: return data} of the healing page's salt-run examples (their YAML)."""
    with open(HEALING_PAGE, encoding="utf-8") as stream:
        block = stream.read().split("\n# salt-run ", 1)[1].split("```", 1)[0]
    found = {}
    for example in block.split("\n# salt-run "):
        command, _, output = example.partition("\n")
        found[f"salt-run {command}"] = yaml.safe_load(output)
    return found


def show(command, data):
    """The return of ``command`` is what docs/guide/healing.md shows for it (printed to paste when it is not)."""
    printed = f"# {command}\n" + yaml.safe_dump(data, default_flow_style=False)
    assert on_the_page().get(command) == data, "docs/guide/healing.md shows another return; this run's:\n" + printed


def entry(fabric, address):
    found = fabric.neighbour(fabric.db, address)
    return (found.get("lladdr"), found["state"][0].lower()) if found else None


def plant_b(fabric):
    """The database's entries for B's addresses, as B's start finds them."""
    fabric.plant(HOLE, OLD, "reachable")
    fabric.plant(RIGHT, B_MAC, "reachable")
    fabric.plant(PERMANENT, OLD, "permanent")
    fabric.plant(EXCLUDED, OLD, "reachable")
    fabric.plant(*UNRELATED, "stale")


def left_alone(fabric):
    return {
        RIGHT: entry(fabric, RIGHT),
        PERMANENT: entry(fabric, PERMANENT),
        EXCLUDED: entry(fabric, EXCLUDED),
        UNRELATED[0]: entry(fabric, UNRELATED[0]),
    }


LEFT_ALONE = {
    RIGHT: (B_MAC, "reachable"),
    PERMANENT: (OLD, "permanent"),
    EXCLUDED: (OLD, "reachable"),
    UNRELATED[0]: (UNRELATED[1], "stale"),
}


class StartEvents:
    """The master's event bus, listened to from the test: when the master fired each minion's start event."""

    def __init__(self, master):
        self.bus = salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=True)
        self.bus.subscribe("salt/minion/")
        self.bus.subscribe("salt/run/")
        self.bus.subscribe("salt/job/")

    def fired(self, minion_id, timeout=120):
        """The wall-clock time of the master's start event for ``minion_id`` (its _stamp)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            event = self.bus.get_event(wait=1, tag=f"salt/minion/{minion_id}/start", full=True)
            if event:
                stamp = datetime.datetime.fromisoformat(event["data"]["_stamp"])
                return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
        raise AssertionError(f"no start event from {minion_id} within {timeout} s")

    def served(self, minion_ids, timeout=60):
        """Wait until the reactor's forget calls have served every one of ``minion_ids``."""
        left, end = set(minion_ids), time.monotonic() + timeout
        while left and time.monotonic() < end:
            event = self.bus.get_event(wait=1, tag="salt/run/", full=True)
            data = event["data"] if event else {}
            if data.get("fun") == "runner.arp_hygiene.forget" and isinstance(data.get("return"), dict):
                left -= set(data["return"].get("addresses", {}))
        assert not left, f"the reactor did not serve {sorted(left)} within {timeout} s"

    def heals(self, minion_ids, timeout=30):
        """
        The jobs of each reactor heal that served ``minion_ids`` (the
        runner's return events), as ``[{"served": n, "jobs": {...}}]``.
        """
        left, heals, end = set(minion_ids), [], time.monotonic() + timeout
        while left and time.monotonic() < end:
            event = self.bus.get_event(wait=1, tag="salt/run/", full=True)
            data = event["data"] if event else {}
            answer = data.get("return")
            if data.get("fun") == "runner.arp_hygiene.forget" and isinstance(answer, dict) and "jobs" in answer:
                served = left & set(answer.get("addresses", {}))
                if served:
                    left -= served
                    heals.append({"served": len(served), "jobs": answer["jobs"]})
        return heals

    def heal_ended(self, minion_id, timeout=60, silent=False):
        """
        The runner's return event of the reactor's heal that asked
        ``minion_id`` (the call that served it; with ``silent``, the one that
        named it silent).
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            event = self.bus.get_event(wait=1, tag="salt/run/", full=True)
            data = event["data"] if event else {}
            answer = data.get("return")
            if data.get("fun") == "runner.arp_hygiene.forget" and isinstance(answer, dict):
                if minion_id in answer.get("silent", []) or (not silent and minion_id in answer.get("addresses", {})):
                    return event
        raise AssertionError(f"no heal that asked {minion_id} ended within {timeout} s")

    def published(self, function, since, timeout=60):
        """The publication event (salt/job/<jid>/new) of the first job of ``function`` published after ``since``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            event = self.bus.get_event(wait=1, tag="salt/job/", full=True)
            if event and event["tag"].endswith("/new") and event["data"].get("fun") == function:
                if stamp(event) >= since:
                    return event
        raise AssertionError(f"no {function} job published within {timeout} s")

    def close(self):
        self.bus.destroy()


def stamp(event):
    """The wall-clock time of an event (its _stamp)."""
    when = datetime.datetime.fromisoformat(event["data"]["_stamp"])
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


class Watch(threading.Thread):
    """Polls ``predicate`` every 10 ms from now on; ``when``: the wall-clock time it first held, or None."""

    def __init__(self, predicate, timeout):
        super().__init__(daemon=True)
        self.predicate, self.end, self.when = predicate, time.monotonic() + timeout, None
        self.start()

    def run(self):
        while time.monotonic() < self.end:
            if self.predicate():
                self.when = time.time()
                return
            time.sleep(0.01)


@pytest.fixture
def bus(master):
    """The master's event bus, for the test alone."""
    events = StartEvents(master)
    yield events
    events.close()


def wait_for(predicate, timeout, step=0.02):
    """Whether predicate() held within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_the_fabric_is_like_a_cloud_network_verify_finds_the_hole_and_announce_cannot_mend_it(
    fabric, db_minion, master, tmp_path
):
    plant_b(fabric)
    salt_cli = master.salt_cli(timeout=60)
    assert not fabric.reach(fabric.b, lab.DB_IP), "the black hole is not one"
    verified = salt_cli.run("arp.verify", f"netns={fabric.db.name}", "states=reachable", minion_tgt=DB)
    assert verified.returncode == 0, verified
    assert HOLE in verified.data["unanswered"]["eth0"], verified.data
    announced = lab.salt_call(
        lab.salt_config(str(tmp_path / "config")),
        "--out=json",
        "arp.announce",
        f"netns={fabric.b.name}",
    )
    assert announced.returncode == 0 and HOLE in json.loads(announced.stdout)["local"]["announced"]["eth0"]
    time.sleep(0.5)
    assert entry(fabric, HOLE) == (OLD, "reachable"), "the announcement reached the database: not a cloud fabric"


def test_a_worker_minion_start_heals_its_black_hole_within_seconds_and_leaves_the_rest(fabric, master, worker_b):
    events = StartEvents(master)
    heal_times = []
    try:
        for restart in range(HEAL_RESTARTS):
            plant_b(fabric)
            assert not fabric.reach(fabric.b, lab.DB_IP)
            plant_b(fabric)  # the failed connect made the entry delay
            watch = Watch(lambda: (entry(fabric, HOLE) or (None,))[0] != OLD, 120)
            with worker_b.started():
                fired = events.fired(worker_b.id)
                watch.join()
                assert watch.when is not None, (
                    f"restart {restart}: the black hole outlived its start: {entry(fabric, HOLE)}"
                )
                heal_times.append(watch.when - fired)
                assert heal_times[-1] > 0, "the entry went before the worker started"
                assert fabric.reach(fabric.b, lab.DB_IP), "B still cannot reach the database"
                assert entry(fabric, HOLE)[0] == B_MAC
                assert left_alone(fabric) == LEFT_ALONE
    finally:
        events.close()
    if HEAL_RESULTS:
        with open(HEAL_RESULTS, "w", encoding="utf-8") as out:
            json.dump(heal_times, out)
    print(f"heal times (s): {', '.join(f'{t:.2f}' for t in heal_times)}; median {statistics.median(heal_times):.2f}")


def start_and_heal(master, worker, timeout=60):
    """
    Start ``worker`` (then stop it): the jobs that the heal of its start
    published, in their order (``[(function, its keyword arguments)]``), and
    the heal's return.
    """
    jobs, end = [], time.monotonic() + timeout
    with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=True) as events:
        events.subscribe("salt/job/")
        events.subscribe("salt/run/")
        events.connect_pub()  # from now on, not from the first read
        with worker.started():
            while time.monotonic() < end:
                event = events.get_event(wait=1, full=True)
                tag, data = (event["tag"], event["data"]) if event else ("", {})
                if tag.startswith("salt/job/") and tag.endswith("/new") and data.get("fun", "").startswith("arp."):
                    jobs.append((data["fun"], (data.get("arg") or [{}])[-1]))
                answer = data.get("return")
                if data.get("fun") == "runner.arp_hygiene.forget" and isinstance(answer, dict) and "jobs" in answer:
                    if worker.id in answer.get("addresses", {}) or worker.id in answer.get("silent", []):
                        return jobs, answer
    raise AssertionError(f"no heal of {worker.id} ended within {timeout} s; jobs seen: {jobs}")


def test_a_workers_grains_are_forwarded_before_its_answer_which_corrects_stale_ones(
    fabric, master, db_minion, worker_minion
):
    # A minion sends its grains (asking for its pillar) before its start event:
    # the heal forwards what they say at once, and asks the worker after.
    worker_b = worker_minion("b", fabric.b)
    plant_b(fabric)
    jobs, ret = start_and_heal(master, worker_b)
    assert [fun for fun, _ in jobs] == ["arp.forget", "arp.addresses"], jobs
    owned = dict.fromkeys([HOLE, RIGHT, PERMANENT, EXCLUDED], B_MAC)
    assert jobs[0][1]["lladdr"] == owned, jobs
    assert ret["from_grains"] == [worker_b.id] and ret["jobs"] == {"arp.addresses": 1, "arp.forget": 1}, ret
    assert ret["addresses"] == {worker_b.id: owned} and ret["failed"] == {}, ret
    assert entry(fabric, HOLE) in (None, (B_MAC, "reachable")), entry(fabric, HOLE)
    assert left_alone(fabric) == LEFT_ALONE

    # Grains that still name the old machine's MAC (a grains cache copied
    # with an image): their forward keeps the black hole and throws the
    # correct entry away (one resolution, as a minion's lie costs); the
    # worker's answer has the black hole deleted.
    stale = worker_minion("b-stale", fabric.b, hwaddr_interfaces={"eth0": OLD})
    plant_b(fabric)
    try:
        jobs, ret = start_and_heal(master, stale)
    finally:
        # Its key goes with it: the audit below asks every accepted minion.
        assert master.salt_key_cli().run("-d", stale.id, "-y").returncode == 0
    assert [fun for fun, _ in jobs] == ["arp.forget", "arp.addresses", "arp.forget"], jobs
    forwarded = [arg["lladdr"] for fun, arg in jobs if fun == "arp.forget"]
    assert forwarded == [dict.fromkeys(owned, OLD), owned], jobs
    assert ret["from_grains"] == [stale.id] and ret["addresses"] == {stale.id: owned}, ret
    deleted = sorted(d for answer in ret["targets"].values() for e in answer["deleted"].values() for d in e)
    assert deleted == [HOLE, RIGHT], ret
    assert entry(fabric, HOLE) in (None, (B_MAC, "reachable")), entry(fabric, HOLE)


def test_the_runner_by_hand_in_test_mode_changes_nothing_then_forgets(fabric, worker_b, salt_run, bus):
    with worker_b.started():
        bus.served(["worker-b"])  # the start's own forget, before the test plants
        plant_b(fabric)
        planned = salt_run.run("arp_hygiene.forget", "minion=worker-b", "test=True")
        assert planned.returncode == 0, planned
        show("salt-run arp_hygiene.forget minion=worker-b test=True", planned.data)
        assert planned.data["targets"][DB]["would_delete"] == {"eth0": {HOLE: OLD}}
        assert planned.data["addresses"] == {"worker-b": dict.fromkeys([HOLE, RIGHT, PERMANENT, EXCLUDED], B_MAC)}
        assert entry(fabric, HOLE) == (OLD, "reachable")

        done = salt_run.run("arp_hygiene.forget", "minion=worker-b")
        assert done.returncode == 0, done
        show("salt-run arp_hygiene.forget minion=worker-b", done.data)
        assert done.data["targets"][DB]["deleted"] == {"eth0": {HOLE: OLD}}
        assert done.data["targets"][DB]["kept"] == {
            "eth0": {
                RIGHT: "holds the owner's MAC",
                PERMANENT: "permanent: configuration, never forgotten",
                EXCLUDED: "excluded",
            }
        }
        assert entry(fabric, HOLE) is None and left_alone(fabric) == LEFT_ALONE


def test_a_minion_that_lies_about_an_address_costs_one_resolution_never_a_redirect(
    fabric, worker_minion, salt_run, bus
):
    liar, lie = fabric.audited[0], RIGHT  # worker-a1 claims B's address
    plant_b(fabric)
    with worker_minion("a1", liar).started():
        bus.served(["worker-a1"])  # the start's own forget, before the lie
        liar.ip("addr", "add", f"{lie}/24", "dev", "eth0")
        try:
            ret = salt_run.run("arp_hygiene.forget", "minion=worker-a1")
        finally:
            liar.ip("addr", "del", f"{lie}/24", "dev", "eth0")
    assert ret.returncode == 0, ret
    assert ret.data["targets"][DB]["deleted"] == {"eth0": {lie: B_MAC}}
    assert entry(fabric, lie) is None, "the liar's MAC was written"
    # The database's next packet to the address asks the fabric, which knows its owner.
    fabric.reach(fabric.db, lie, timeout=1)
    assert entry(fabric, lie)[0] == B_MAC


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((), "minion is missing"),
        (("minion=worker-nobody",), "no accepted minion has the id 'worker-nobody'"),
        (("minion=worker-*",), "one minion's id, not a pattern"),
        (("minion=worker-b", "tgt=nothing-matches", "tgt_type=glob"), "no accepted minion matches the target"),
        (("minion=worker-b", "tgt_type=sql"), "tgt_type is 'sql'; allowed: glob,"),
        (("minion=worker-b", "test=maybe"), "test must be True or False"),
    ],
)
def test_bad_runner_input_gets_a_clear_error_and_changes_nothing(fabric, salt_run, worker_b, arguments, message):
    plant_b(fabric)
    ret = salt_run.run("arp_hygiene.forget", *arguments)
    assert ret.returncode == 1, ret
    assert message in ret.data["error"], ret.data
    assert entry(fabric, HOLE) == (OLD, "reachable") and left_alone(fabric) == LEFT_ALONE


def test_a_minion_that_does_not_answer_is_reported_and_nothing_changes(fabric, salt_run, worker_b):
    plant_b(fabric)
    # B's key is accepted, but B is not running.
    ret = salt_run.run("arp_hygiene.forget", "minion=worker-b", "timeout=3")
    assert ret.returncode == 1, ret
    assert "worker-b did not answer arp.addresses within 3 s" in ret.data["error"], ret.data
    assert entry(fabric, HOLE) == (OLD, "reachable")


def test_a_database_minion_down_at_the_forward_gets_it_once_more_and_forgets(
    fabric, salt_run, worker_b, db_minion, bus
):
    # The database minion is down when the runner forwards B's answer: it
    # never receives that job (a minion so loaded that it drops a job it
    # received, as twenty database minions on 2 cores did in the fleet
    # bench, looks the same to the runner). Back up before the forward's
    # deadline, it runs the second forward, which deletes the hole.
    with worker_b.started():
        bus.served([worker_b.id])  # the start's own forget, before the test plants
        plant_b(fabric)
        db_minion.terminate()
        with ThreadPoolExecutor(1) as pool:
            try:
                asked = time.time()
                running = pool.submit(salt_run.run, "arp_hygiene.forget", "minion=worker-b", "timeout=12")
                first = bus.published("arp.forget", since=asked)
                assert entry(fabric, HOLE) == (OLD, "reachable"), "the forward reached a database that was down"
            finally:
                db_minion.start()  # some 3 s, well within the forward's 12 s
            second = bus.published("arp.forget", since=stamp(first) + 0.001, timeout=40)
            ret = running.result()
    assert ret.returncode == 0, ret
    assert second["data"]["jid"] != first["data"]["jid"] and second["data"]["minions"] == [DB], second
    assert ret.data.get("forwarded_again") == [DB] and ret.data["failed"] == {}, ret.data
    assert ret.data["targets"][DB]["deleted"] == {"eth0": {HOLE: OLD}}, ret.data
    assert entry(fabric, HOLE) is None and left_alone(fabric) == LEFT_ALONE


def test_the_audit_names_exactly_the_wrong_entry_and_the_conflict_and_fixes_only_the_wrong_one(
    fabric, worker_minion, salt_run, worker_b, bus
):
    # Three workers: B, and two that both claim one address (a conflict). The
    # database holds one wrong entry (B's), one right one, one nobody's, and
    # one for the claimed address.
    first, second = fabric.audited
    conflict = "192.0.2.99"
    for ns in fabric.audited:
        ns.ip("addr", "add", f"{conflict}/24", "dev", "eth0")
    try:
        with (
            worker_b.started(),
            worker_minion("a1", first).started(),
            worker_minion("a2", second).started(),
        ):
            # What the starts' reactor does is not under test here: once it
            # is done, plant afresh.
            bus.served(["worker-b", "worker-a1", "worker-a2"])
            plant_b(fabric)
            fabric.plant(conflict, OLD, "reachable")
            report = salt_run.run("arp_hygiene.audit")
            assert report.returncode == 0, report
            show("salt-run arp_hygiene.audit", report.data)
            assert report.data["wrong"] == {
                DB: {"eth0": {HOLE: {"cached": OLD, "owner": "worker-b", "owner_mac": B_MAC}}}
            }
            assert report.data["conflicts"] == {
                conflict: {"worker-a1": "02:00:00:0d:00:01", "worker-a2": "02:00:00:0d:00:02"}
            }
            assert entry(fabric, HOLE) == (OLD, "reachable")

            fixed = salt_run.run("arp_hygiene.audit", "fix=True")
            assert fixed.returncode == 0, fixed
            assert fixed.data["wrong"] == report.data["wrong"] and fixed.data["fixed"] is True
            assert entry(fabric, HOLE) is None
            assert entry(fabric, conflict) == (OLD, "reachable"), "a conflict was acted on"
            assert left_alone(fabric) == LEFT_ALONE
    finally:
        for ns in fabric.audited:
            ns.ip("addr", "del", f"{conflict}/24", "dev", "eth0")
        fabric.db.ip("neigh", "del", conflict, "dev", "eth0", check=False)


def test_a_burst_of_starts_heals_every_worker_in_few_jobs_and_the_master_stays_responsive(
    fabric, master, worker_minion, db_minion, salt_run, bus
):
    factories = [worker_minion(f"w{n}", ns) for n, ns in enumerate(fabric.burst, start=1)]
    addresses = [burst_address(n)[0] for n in range(1, BURST + 1)]

    def plant_all():
        for address in addresses:
            fabric.plant(address, OLD, "reachable")

    def all_healed(seconds=30):
        return wait_for(lambda: all(entry(fabric, address) is None for address in addresses), seconds, step=0.2)

    def start(factory):
        # Started once its process runs: salt-factories' own check (the
        # minion's start event, looked up in its event store) missed events
        # that the master had received, for one of 20 minions starting at
        # once beside the other suites (two CI runs, when the burst was 20). The heals below prove
        # that each minion started, and answered the runner.
        factory.get_check_events = list
        factory.start(max_start_attempts=1)

    salt_cli = master.salt_cli(timeout=30)
    pings, stop = [], threading.Event()

    def ping():
        while not stop.is_set():
            began = time.monotonic()
            ret = salt_cli.run("test.ping", minion_tgt=DB)
            pings.append((ret.returncode == 0 and ret.data is True, round(time.monotonic() - began, 2)))
            time.sleep(0.5)

    plant_all()
    jobs_before = forget_jobs(salt_run)
    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        # The minions start at once (their start events spread over the
        # seconds, up to a minute beside the other suites, that the daemons
        # take to start on 2 cores).
        with ThreadPoolExecutor(BURST) as pool:
            list(pool.map(start, factories))
        assert all_healed(240), {address: entry(fabric, address) for address in addresses}
        assert all(fabric.reach(ns, lab.DB_IP) for ns in fabric.burst)
        started_jobs = forget_jobs(salt_run) - jobs_before
        started_heals = bus.heals([factory.id for factory in factories])

        # Their start events again, fired at one instant on the master's bus.
        plant_all()
        jobs_before = forget_jobs(salt_run)
        with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=False) as firing:
            for factory in factories:
                firing.fire_event({"id": factory.id}, f"salt/minion/{factory.id}/start")
        assert all_healed(), {address: entry(fabric, address) for address in addresses}
        replayed_jobs = forget_jobs(salt_run) - jobs_before
        heals = bus.heals([factory.id for factory in factories])
    finally:
        stop.set()
        pinger.join()
        with ThreadPoolExecutor(BURST) as pool:
            list(pool.map(lambda factory: factory.terminate(), factories))
    print(
        f"burst of {BURST} starts: {started_jobs} arp.forget jobs (heals: {started_heals}); "
        f"replayed at once: {replayed_jobs} (heals: {heals}); pings {pings}"
    )
    assert pings and all(ok for ok, _ in pings), f"the master did not answer throughout: {pings}"
    assert started_jobs < BURST, f"{started_jobs} arp.forget jobs for {BURST} starts: the starts were not batched"
    # The first event's call waits 0.2 s and asks its batch, then those that
    # came meanwhile; it forwards the answers that came together, one forward
    # on its way at a time. 2 forwards on a quiet machine; beside the other
    # suites the reactor renders the events and the minions answer over
    # seconds, each forward taking the answers that came during the last
    # one: up to 5 seen in CI. Unbatched: one a start.
    assert 1 <= replayed_jobs <= BURST // 2, (
        f"{replayed_jobs} arp.forget jobs for {BURST} starts at one instant (heals: {heals})"
    )


def forget_jobs(salt_run):
    ret = salt_run.run("jobs.list_jobs", "search_function=arp.forget")
    assert ret.returncode == 0, ret
    return len(ret.data)


def test_a_silent_worker_holds_no_other_workers_heal_and_is_named(fabric, master, worker_minion, worker_b, bus):
    # worker-a2's key is accepted (it ran once), then it stops: accepted, never answering.
    silent = worker_minion("a2", fabric.audited[1])
    with silent.started():
        bus.served([silent.id])
    plant_b(fabric)
    watch = None
    with salt.utils.event.get_master_event(master.config, master.config["sock_dir"], listen=False) as fire:
        # Its start event, as the master fires a minion's: the reactor's heal asks it, and waits its timeout (15 s).
        data = {"id": silent.id, "cmd": "_minion_event", "pretag": None, "data": f"Minion {silent.id} started"}
        fire.fire_event(data, f"salt/minion/{silent.id}/start")
    try:
        watch = Watch(lambda: (entry(fabric, HOLE) or (None,))[0] != OLD, 60)
        with worker_b.started():
            started = bus.fired(worker_b.id)
            # The heal that named it silent: on a loaded machine salt-factories may
            # have started it twice above (its start check timed out), and the
            # second start's heal, which it answered, may end meanwhile.
            ended = bus.heal_ended(silent.id, timeout=90, silent=True)
            watch.join()
    finally:
        if watch:
            watch.join()
    assert ended["data"]["return"]["silent"] == [silent.id], ended["data"]["return"]
    assert "worker-b" in ended["data"]["return"]["addresses"], "B did not join the heal that asked the silent one"
    assert watch.when is not None, f"B's black hole outlived its start: {entry(fabric, HOLE)}"
    # B was healed inside the heal that waited for the silent worker, before that heal ended.
    assert watch.when < stamp(ended), "B's heal waited for the silent worker"
    healed, ended_after = watch.when - started, stamp(ended) - started
    print(f"B healed {healed:.2f} s after its start; the heal ended {ended_after:.2f} s after it")
    assert left_alone(fabric) == LEFT_ALONE
