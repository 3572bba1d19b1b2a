"""Fixtures shared by every test: namespace labs, the Salt loader, and the CI rule on skips."""

import importlib.util
import ipaddress
import os
import shutil
import subprocess

import pytest
import salt._logging

import lab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_CI = bool(os.environ.get("CI"))


def module_from_checkout(name):
    """A module of _modules/ imported as plain Python, for tests of its internals."""
    spec = importlib.util.spec_from_file_location(f"{name}_module", os.path.join(REPO, "_modules", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unavailable(reason):
    """Skip here; in CI, where every kernel and Salt test must run, fail."""
    if IN_CI:
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"a test skipped in CI did not run: {report.longrepr}"


def pytest_sessionfinish(session):
    # Salt's temporary log handler writes to a closed stream at exit otherwise.
    salt._logging.shutdown_temp_handler()


@pytest.fixture(scope="session")
def can_make_namespaces():
    if os.geteuid() != 0:
        unavailable("network namespace tests need root")
    if not shutil.which("ip"):
        unavailable("iproute2's ip(8) is not installed")
    with lab.Lab() as probe:
        try:
            probe.namespace("probe")
        except subprocess.CalledProcessError as err:
            unavailable(f"cannot create a network namespace: {err.stderr.strip()}")


@pytest.fixture
def netlab(can_make_namespaces):
    """A Lab whose namespaces are deleted after the test, passed or failed."""
    with lab.Lab() as made:
        yield made


@pytest.fixture(scope="session")
def minion_opts(salt_factories):
    # No module_dirs: the loader finds the modules through the package's
    # salt.loader entry point (./run installs this checkout in editable mode).
    factory = salt_factories.salt_minion_daemon("arp-functional", overrides={"file_client": "local"})
    return factory.config.copy()


@pytest.fixture(scope="session")
def loaders(minion_opts):
    from saltfactories.utils.functional import Loaders

    return Loaders(minion_opts)


@pytest.fixture(params=(False, True), ids=("live", "test"))
def testmode(request):
    """Run a state test live and with test=True."""
    return request.param


@pytest.fixture
def arp(loaders):
    """The execution module as the Salt loader loads it from this checkout."""
    return loaders.modules.arp


def snapshot(ns):
    """{(dst, dev): (lladdr, state, flags)} of a namespace's table, read by ip(8)."""
    table = {}
    for entry in ns.neighbours():
        if ipaddress.ip_address(entry["dst"]).is_multicast:
            continue  # the kernel's own IPv6 multicast entries come and go
        flags = tuple(sorted(key for key in ("router", "extern_learn") if key in entry))
        state = entry["state"][0].lower() if entry.get("state") else "none"
        table[(entry["dst"], entry["dev"])] = (entry.get("lladdr"), state, flags)
    return table


# ------------------------------------- a table with every NUD state

STATES = ("stale", "reachable", "delay", "probe", "failed", "incomplete", "permanent", "noarp", "none")
WITHOUT_LLADDR = ("failed", "incomplete", "none")
SIDES = (("a0", "192.0.2.", "2001:db8:a::"), ("b0", "198.51.100.", "2001:db8:b::"))


def every_state():
    entries = []
    for side, (ifname, v4, v6) in enumerate(SIDES):
        for number, state in enumerate(STATES, start=10):
            lladdr = None if state in WITHOUT_LLADDR else f"02:00:00:{side:02x}:00:{number:02x}"
            for dst in (f"{v4}{number}", f"{v6}{number:x}"):
                entries.append({"dst": dst, "ifname": ifname, "state": state, "lladdr": lladdr})
        # A routing daemon's entry, and an IPv6 router.
        for dst in (f"{v4}50", f"{v6}50"):
            entries.append(
                {"dst": dst, "ifname": ifname, "state": "stale", "lladdr": "02:00:00:00:00:50", "flags": ["extern_learn"]}
            )
        entries.append({"dst": f"{v6}51", "ifname": ifname, "state": "stale", "lladdr": "02:00:00:00:00:51", "flags": ["router"]})
    return entries


@pytest.fixture
def table(netlab):
    """(namespace, the table as ip(8) reads it) with the entries of every_state()."""
    ns = lab.table(netlab)
    lab.add_entries(ns, every_state())
    before = snapshot(ns)
    made = {(e["dst"], e["ifname"]): e["state"] for e in every_state()}
    assert {key: before.get(key, (None, "missing"))[1] for key in made} == made, "the kernel did not keep the states"
    return ns, before


@pytest.fixture
def segment(netlab):
    """
    (segment, db, worker) on a lab segment: the new worker owns WORKER_IP(6)
    with NEW_MAC, serves PORT, and holds a static entry for the database.
    """
    segment = lab.Segment(netlab)
    db = segment.host("db", lab.DB_IP, lab.DB_MAC, lab.DB_IP6)
    worker = segment.host("worker", lab.WORKER_IP, lab.NEW_MAC, lab.WORKER_IP6)
    worker.ip("neigh", "replace", lab.DB_IP, "dev", "eth0", "lladdr", lab.DB_MAC, "nud", "permanent")
    segment.serve(worker)
    return segment, db, worker
