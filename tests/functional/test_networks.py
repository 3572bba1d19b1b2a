"""
What works on which network: docs/guide/networks.md's table, cell by cell.
Each cell builds the incident in a lab of its own (the database maps the new
worker's address to the old worker's dead MAC, ``reachable``, as unrelated
traffic keeps it), runs one tool on the database (or, for announce, on the
worker), and checks what the page's cell says: the entry's MAC afterwards,
and the new worker's health check. Two networks: a plain Ethernet segment
(segments.BlackHole), and a fabric like an AWS VPC (segments.CloudFabric: no ARP
broadcast between hosts; the fabric answers requests with the owner's MAC).
The reactor's cell runs arp.forget as the reactor's runner has the database
run it (the whole path, master and minions, is tests/integration/test_reactor.py).
The first packet's cell runs arp.watch on the database while the new worker
connects (the engine arp_watch runs it for good:
tests/integration/test_watch_engine.py).
"""

import threading
import time

import pytest

from tests.support import REPO, lab, segments

PAGE = f"{REPO}/docs/guide/networks.md"
FIELD_CRON = "ip neigh | awk '{print $1}' | xargs -IX arp -v -i eth0 -d X"


def first_packet(arp, db, check):
    """arp.watch on the database while the new worker connects (its health check, once): the watcher's report."""
    found = {}
    watching = threading.Thread(
        target=lambda: found.update(arp.watch(interface="eth0", family="inet", netns=db.name, seconds=3, test=False))
    )
    watching.start()
    time.sleep(0.5)  # its sockets open
    check()
    watching.join()
    return found


# Each tool, run once on the lab: a function of (arp, db, worker, the worker's health check).
TOOLS = {
    "verify report": lambda arp, db, worker, check: arp.verify(netns=db.name),
    "verify fix": lambda arp, db, worker, check: arp.verify(netns=db.name, fix=True),
    "announce": lambda arp, db, worker, check: arp.announce(netns=worker.name, family="inet", count=1),
    "reactor": lambda arp, db, worker, check: arp.forget(lab.WORKER_IP, lladdr=lab.NEW_MAC, netns=db.name),
    "first packet": lambda arp, db, worker, check: first_packet(arp, db, check),
    "field's cron": lambda arp, db, worker, check: db.exec("sh", "-c", FIELD_CRON),
}
# What the page says each tool does on each network: "heals", "finds" (reports
# the entry, changes nothing) or "no" (the entry stays wrong, unseen).
EXPECTED = {
    ("plain", "verify report"): "finds",
    ("plain", "verify fix"): "heals",
    ("plain", "announce"): "heals",
    ("plain", "reactor"): "heals",
    ("plain", "first packet"): "heals",
    ("plain", "field's cron"): "heals",
    ("fabric", "verify report"): "finds",
    ("fabric", "verify fix"): "heals",
    ("fabric", "announce"): "no",
    ("fabric", "reactor"): "heals",
    ("fabric", "first packet"): "heals",
    ("fabric", "field's cron"): "heals",
}


def incident(netlab, network):
    """(db, worker, health check) with the database's entry for the worker's address on the dead MAC."""
    if network == "plain":
        hole = segments.BlackHole(netlab, state="reachable")
        return hole.db, hole.worker, hole.connect
    fabric = segments.CloudFabric(netlab)
    worker = fabric.worker("worker", [lab.WORKER_IP], lab.NEW_MAC)
    fabric.plant(lab.WORKER_IP, lab.OLD_MAC)
    return fabric.db, worker, lambda: fabric.reach(worker, lab.DB_IP)


# How the page's first column names each tool, in TOOLS' order.
NAMED = {
    "verify report": "`arp.verify` (report)",
    "verify fix": "`arp.verify fix=True`",
    "announce": "`arp.announce`",
    "reactor": "the reactor",
    "first packet": "the first packet",
    "field's cron": "the field's cron",
}


def cells_of_the_page():
    """{(network, tool): the cell's first word} of the page's table."""
    with open(PAGE, encoding="utf-8") as stream:
        rows = [line.replace("\\|", "/") for line in stream if line.startswith("| ") and not line.startswith("| tool")]
    assert len(rows) == len(TOOLS), rows
    cells = {}
    for tool, row in zip(TOOLS, rows, strict=True):
        named, plain, fabric = (cell.strip() for cell in row.strip().strip("|").split("|"))
        assert named.startswith(NAMED[tool]), (tool, named)
        for network, cell in (("plain", plain), ("fabric", fabric)):
            cells[(network, tool)] = cell.split()[0].strip("*:,.").lower()
    return cells


def test_the_pages_table_is_the_one_these_tests_hold():
    assert cells_of_the_page() == EXPECTED


@pytest.mark.once
@pytest.mark.parametrize("network, tool", list(EXPECTED), ids=[f"{n}-{t}" for n, t in EXPECTED])
def test_each_tool_on_each_network_does_what_the_table_says(arp, netlab, network, tool):
    db, worker, health_check = incident(netlab, network)

    result = TOOLS[tool](arp, db, worker, health_check)

    entry = segments.Segment.neighbour(db, lab.WORKER_IP)
    outcome = EXPECTED[(network, tool)]
    if outcome == "finds":
        assert result["unanswered"] == {"eth0": {lab.WORKER_IP: lab.OLD_MAC}}, result
        assert entry["lladdr"] == lab.OLD_MAC, "a report changes nothing"
    elif outcome == "no":
        assert entry["lladdr"] == lab.OLD_MAC and entry["state"] == ["REACHABLE"], entry
        assert not health_check(), "the black hole stays"
    else:
        assert entry is None or entry["lladdr"] == lab.NEW_MAC, entry
        assert health_check(), "the new worker's health check passes"
