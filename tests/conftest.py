"""Fixtures shared by every test: namespace labs, the Salt loader, and the CI rule on skips."""

import os
import shutil
import subprocess

import pytest
import salt._logging

from tests.support import IN_CI, lab, segments, unavailable
from tests.support.tables import every_state, snapshot


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"a test skipped in CI did not run: {report.longrepr}"


# The fixtures of the tests that need the kernel's tables to themselves.
ALONE = ("tables_alone", "tables_alone_for_the_module")


def pytest_collection_modifyitems(items):
    """Marks `alone` the tests that use a fixture of ALONE: ./run test runs them when its other parts have ended."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in ALONE):
            item.add_marker(pytest.mark.alone)


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


@pytest.fixture
def sharing_tables():
    """The shared tables lock for one test, for modules whose lab outlives a test (lab.Lab(share=False))."""
    with lab.sharing_tables():
        yield


@pytest.fixture
def tables_alone():
    """For a test that puts more than gc_thresh1 (128) entries in its tables: see lab.TABLES_LOCK."""
    with lab.tables_to_ourselves():
        yield


@pytest.fixture(scope="module")
def tables_alone_for_the_module():
    """tables_alone for every test of a module, waited for once."""
    with lab.tables_to_ourselves():
        yield


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


# ------------------------------------- a table with every NUD state


@pytest.fixture
def table(netlab):
    """(namespace, the table as ip(8) reads it) with the entries of every_state()."""
    ns = lab.table(netlab)
    lab.add_entries(ns, every_state())
    before = snapshot(ns)
    # The FAILED ones that the kernel's garbage collection took at once (a busy host's) aside.
    made = {(e["dst"], e["ifname"]): e["state"] for e in every_state()}
    made = {key: state for key, state in made.items() if state != "failed" or key in before}
    assert {key: before.get(key, (None, "missing"))[1] for key in made} == made, "the kernel did not keep the states"
    return ns, before


@pytest.fixture
def segment(netlab):
    """
    (segment, db, worker) on a lab segment: the new worker owns WORKER_IP(6)
    with NEW_MAC, serves PORT, and holds a static entry for the database.
    """
    segment = segments.Segment(netlab)
    db = segment.host("db", lab.DB_IP, lab.DB_MAC, lab.DB_IP6)
    worker = segment.host("worker", lab.WORKER_IP, lab.NEW_MAC, lab.WORKER_IP6)
    worker.ip("neigh", "replace", lab.DB_IP, "dev", "eth0", "lladdr", lab.DB_MAC, "nud", "permanent")
    segment.serve(worker)
    return segment, db, worker
