"""
The arp beacon through Salt's loader, with ``arp.list`` answering from a
canned table and ``arp.diagnose`` with canned facts (the kernel's limit
and counters): its configuration check, and the events of one look and of
two (a MAC that changed in between, a counter that grew).
"""

import pytest
import salt.loader

from tests.support import module_from_checkout

metrics = module_from_checkout("_arp_hygiene_metrics")
GC_THRESH3 = 1024


def entry(dst, state="reachable", lladdr="02:00:00:00:00:01", ifname="eth0", family="inet"):
    return {"dst": dst, "lladdr": lladdr, "ifname": ifname, "family": family, "state": state}


def statistics(table_fulls=0, unresolved_discards=0):
    """The kernel's statistics of a table, as the metrics helper reads them."""
    return {"entries": 3, **dict.fromkeys(metrics.KERNEL_COUNTERS, 7)} | {
        "table_fulls": table_fulls,
        "unresolved_discards": unresolved_discards,
    }


@pytest.fixture
def kernel(monkeypatch):
    """{family: statistics}: what the kernel's counters read, for each look (the same until a test changes it)."""
    return {"inet": statistics(), "inet6": statistics()}


@pytest.fixture
def beacons(minion_opts, kernel):
    def arp_diagnose(family="all", netns=None):
        """arp.diagnose's facts that the beacon reads: each family's gc_thresh3 and counters."""
        families = ("inet", "inet6") if family == "all" else (family,)
        return {
            name: {
                "gc_thresh3": GC_THRESH3,
                "counters": {key: value for key, value in kernel[name].items() if key in metrics.KERNEL_COUNTERS},
            }
            for name in families
        }

    def load(table, calls=None):
        def arp_list(**kwargs):
            if calls is not None:
                calls.append(kwargs)
            answer = table() if callable(table) else table
            if isinstance(answer, Exception):
                raise answer
            return answer

        opts = dict(minion_opts, id="db1")
        return salt.loader.beacons(opts, {"arp.list": arp_list, "arp.diagnose": arp_diagnose}, context={})

    return load


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"table_share": 0.8}, "must be a list of one-key mappings"),
        ([{"interval": 60}, "mac_changes"], "must be a list of one-key mappings"),
        ([{"tables": 1}], "Unknown keys for the arp beacon: tables; known:"),
        ([{"table_share": 0}], "table_share is 0; allowed: a number above 0, at most 1"),
        ([{"table_share": True}], "table_share is True; allowed: a number above 0, at most 1"),
        ([{"failed_threshold": 0}], "failed_threshold is 0; allowed: a whole number from 1, or null"),
        ([{"mac_changes": "yes"}], "mac_changes is 'yes'; allowed: true or false"),
        ([{"family": "ipx"}], "family is 'ipx'; allowed: inet (IPv4), inet6 (IPv6) or all"),
        ([{"netns": 5}], "netns is 5; allowed: the name of a network namespace"),
    ],
)
def test_a_bad_configuration_is_refused_with_the_key(beacons, config, problem):
    valid, message = beacons([])["arp.validate"](config)
    assert valid is False and problem in message


def test_a_good_configuration_is_valid(beacons):
    config = [{"interval": 30}, {"table_share": 0.5}, {"failed_threshold": 3}, {"family": "inet6"}, {"netns": "db"}]
    assert beacons([])["arp.validate"](config) == (True, "Valid beacon configuration.")


def test_a_quiet_table_fires_nothing_and_the_beacon_reads_the_chosen_family_and_namespace(beacons):
    calls = []
    table = [entry("192.0.2.1"), entry("192.0.2.2", "failed", None)]
    assert beacons(table, calls)["arp.beacon"]([{"family": "inet"}, {"netns": "db"}]) == []
    assert calls == [{"family": "inet", "netns": "db"}]


def test_a_table_near_gc_thresh3_fires_for_its_family(beacons):
    limit = GC_THRESH3
    table = [entry(f"198.18.{n // 256}.{n % 256}") for n in range(int(limit * 0.5) + 1)]
    table.append(entry("2001:db8::1", family="inet6"))
    events = beacons(table)["arp.beacon"]([{"table_share": 0.5}])
    assert events == [
        {
            "tag": "table_nearly_full",
            "id": "db1",
            "netns": None,
            "family": "inet",
            "entries": len(table) - 1,
            "gc_thresh3": limit,
            "table_share": 0.5,
        }
    ]


def test_failed_and_incomplete_entries_fire_per_interface_from_the_threshold(beacons):
    table = [
        entry("192.0.2.1", "failed", None),
        entry("192.0.2.2", "incomplete", None),
        entry("192.0.2.3", "stale"),
        entry("192.0.2.4", "failed", None, ifname="eth1"),
    ]
    events = beacons(table)["arp.beacon"]([{"failed_threshold": 2}])
    assert events == [
        {"tag": "failed_entries", "id": "db1", "netns": None, "interface": "eth0", "failed": 2}
        | {"failed_threshold": 2}
    ]


def test_a_mac_that_changed_between_two_looks_fires_once(beacons):
    looks = iter(
        [
            [entry("192.0.2.1", lladdr="02:00:00:00:00:01"), entry("192.0.2.2", lladdr="02:00:00:00:00:02")],
            [entry("192.0.2.1", lladdr="02:00:00:00:00:09"), entry("192.0.2.2", lladdr="02:00:00:00:00:02")],
            [entry("192.0.2.1", lladdr="02:00:00:00:00:09")],
        ]
    )
    loaded = beacons(lambda: next(looks))
    config = [{"mac_changes": True}]
    assert loaded["arp.beacon"](config) == []
    assert loaded["arp.beacon"](config) == [
        {
            "tag": "mac_changed",
            "id": "db1",
            "netns": None,
            "interface": "eth0",
            "address": "192.0.2.1",
            "old": "02:00:00:00:00:01",
            "new": "02:00:00:00:00:09",
        }
    ]
    assert loaded["arp.beacon"](config) == []


def test_a_look_that_fails_fires_nothing_and_logs_why(beacons, caplog):
    assert beacons(OSError("netlink failed"))["arp.beacon"]([]) == []
    assert "arp beacon: cannot read the neighbour table: netlink failed" in caplog.text


def test_the_kernels_table_fulls_and_unresolved_discards_fire_when_they_grow_between_two_looks(beacons, kernel):
    loaded = beacons([entry("192.0.2.1")])
    assert loaded["arp.beacon"]([]) == [], "the first look only learns the counters"
    kernel["inet"] = statistics(table_fulls=4)
    kernel["inet6"] = statistics(unresolved_discards=2)
    assert loaded["arp.beacon"]([]) == [
        {"tag": "table_full", "id": "db1", "netns": None, "family": "inet", "table_fulls": 4, "grown": 4},
        {"tag": "unresolved_discards", "id": "db1", "netns": None, "family": "inet6"}
        | {"unresolved_discards": 2, "grown": 2},
    ]
    assert loaded["arp.beacon"]([]) == [], "nothing grew since"
    kernel["inet6"] = statistics(unresolved_discards=5)
    assert loaded["arp.beacon"]([{"family": "inet"}]) == [], "the family chosen alone"
    assert [event["tag"] for event in loaded["arp.beacon"]([])] == ["unresolved_discards"]
