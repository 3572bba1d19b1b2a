"""
The beacon ``arp`` (salt/_beacons/arp.py) through a real master and minion:
a lab table pushed over the beacon's thresholds (lowered by its
configuration; no sysctl of the host changes) fires events on the master's
bus, with their data; a bad configuration is refused by the beacon's
validate. The minion loads the beacon from this checkout through the
package's salt.loader entry point.
"""

import json

import pytest

from tests.support import lab
from tests.support.master import beacon_events
from tests.support.tables import every_state

MINION = "arp-beacon"
BAD = ("failed", "incomplete")


@pytest.fixture(scope="module")
def table(can_make_namespaces):
    """A namespace with every NUD state (tests/support/tables.every_state): 6 entries without a MAC on a0."""
    with lab.Lab(share=False) as made:
        ns = lab.table(made)
        lab.add_entries(ns, every_state())
        yield ns


# Their module-scoped lab shares the kernel's tables test by test (see lab.TABLES_LOCK).
pytestmark = pytest.mark.usefixtures("sharing_tables")


@pytest.fixture(scope="module")
def master(salt_factories):
    factory = salt_factories.salt_master_daemon("arp-beacon-master")
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master, table):
    beacons = {
        "arp": [
            {"interval": 1},
            {"netns": table.name},
            {"family": "inet"},
            # Far below any real gc_thresh3 (1024 here): a few entries pass it.
            {"table_share": 0.001},
            {"failed_threshold": 3},
        ]
    }
    factory = master.salt_minion_daemon(MINION, overrides={"beacons": beacons})
    with factory.started():
        yield factory


def test_a_table_over_the_thresholds_fires_events_with_their_data(master, minion, table):
    lab.add_entries(
        table, [{"dst": f"192.0.2.{n}", "ifname": "a0", "state": "failed", "lladdr": None} for n in (60, 61)]
    )
    # failed and incomplete entries of a0 (IPv4): the table's, and the two added.
    expected = sum(
        1
        for entry in table.neighbours()
        if entry["dev"] == "a0" and ":" not in entry["dst"] and entry.get("state", ["none"])[0].lower() in BAD
    )
    assert expected >= 3

    found = beacon_events(
        master,
        MINION,
        lambda found: "table_nearly_full" in found and found.get("failed_entries", {}).get("failed") == expected,
    )

    full = found["table_nearly_full"]
    assert full["id"] == MINION and full["netns"] == table.name and full["family"] == "inet"
    with open("/proc/sys/net/ipv4/neigh/default/gc_thresh3", encoding="ascii") as knob:
        assert full["gc_thresh3"] == int(knob.read())
    assert full["table_share"] == 0.001 and full["entries"] > 0.001 * full["gc_thresh3"]
    failed = found["failed_entries"]
    assert failed == {
        "id": MINION,
        "netns": table.name,
        "interface": "a0",
        "failed": expected,
        "failed_threshold": 3,
        **{key: failed[key] for key in failed if key.startswith("_")},  # Salt's own: _stamp
    }, found


def test_packets_the_kernel_discards_unresolved_fire_the_counters_event(master, minion, table):
    # The kernel's counters are of all namespaces together; the discards are
    # made in the lab's own namespace (its own interface and queue length).
    before = lab.kernel_counter("inet", "unresolved_discards")
    lab.discard_unresolved(table, packets=20)

    found = beacon_events(master, MINION, lambda found: "unresolved_discards" in found)

    event = found["unresolved_discards"]
    assert event["id"] == MINION and event["family"] == "inet" and event["grown"] >= 1
    assert event["unresolved_discards"] >= before + 19, (before, event)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"table_share": 2}, "table_share is 2; allowed: a number above 0, at most 1"),
        ({"failed_threshold": 0}, "failed_threshold is 0; allowed: a whole number from 1, or null"),
        ({"famly": "inet"}, "Unknown keys for the arp beacon: famly"),
    ],
)
def test_a_bad_beacon_configuration_is_refused_by_validate(master, minion, config, message):
    salt_cli = master.salt_cli(timeout=60)
    ret = salt_cli.run("beacons.modify", "arp", json.dumps([config]), minion_tgt=MINION)
    assert ret.data["result"] is False, ret
    assert message in ret.data["comment"], ret.data
    # Nothing was added: the running beacon is the one configured.
    listed = salt_cli.run("beacons.list", "return_yaml=False", minion_tgt=MINION)
    assert listed.data["arp"][3] == {"table_share": 0.001}, listed.data
