"""
The metrics helper on its own: the text it writes, as Prometheus' own parser
reads it (prometheus_client's), the file replaced atomically, the last
success carried over a failed run, and the run's metrics around a job. No
root: the namespace asked about does not exist, so the table's composition
is left out, as after a run whose namespace is gone.
"""

import math
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import module_from_checkout

metrics = module_from_checkout("_arp_hygiene_metrics")

NO_NAMESPACE = "arph-unit-no-such-namespace"


def parsed(text):
    """{name: (type, help, [(labels, value)])} as Prometheus' parser reads the text."""
    return {
        family.name: (family.type, family.documentation, [(s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(text)
    }


def test_the_text_is_what_prometheus_parser_reads_labels_and_values_included():
    found = metrics.Metrics()
    found.add("arp_hygiene_test_value", "A value.", 3, task="flush", interface='eth"0\\x\nline')
    found.add("arp_hygiene_test_value", "A value.", 2.5, task="verify", interface="eth1")
    found.add("arp_hygiene_test_flag", "A flag.", True)
    found.add("arp_hygiene_test_odd", "Odd values.", float("inf"), kind="up")
    found.add("arp_hygiene_test_odd", "Odd values.", float("-inf"), kind="down")
    found.add("arp_hygiene_test_odd", "Odd values.", float("nan"), kind="none")
    read = parsed(found.text())
    assert read["arp_hygiene_test_value"] == (
        "gauge",
        "A value.",
        [({"task": "flush", "interface": 'eth"0\\x\nline'}, 3.0), ({"task": "verify", "interface": "eth1"}, 2.5)],
    )
    assert read["arp_hygiene_test_flag"] == ("gauge", "A flag.", [({}, 1.0)])
    odd = {labels["kind"]: value for labels, value in read["arp_hygiene_test_odd"][2]}
    assert odd["up"] == math.inf and odd["down"] == -math.inf and math.isnan(odd["none"])


def test_write_replaces_the_file_whole_and_leaves_nothing_else(tmp_path):
    old = tmp_path / "arp_hygiene_flush.prom"
    old.write_text("# an older run\n")
    found = metrics.Metrics()
    found.add("arp_hygiene_last_run_success", "1 if the last run succeeded, 0 if it failed.", 1, task="flush")
    inode = old.stat().st_ino
    path = metrics.write(str(tmp_path), "flush", found)
    assert path == str(old)
    assert os.listdir(tmp_path) == ["arp_hygiene_flush.prom"]
    assert old.stat().st_ino != inode, "replaced by a rename, never rewritten in place"
    assert stat.S_IMODE(old.stat().st_mode) == 0o644
    assert parsed(old.read_text())["arp_hygiene_last_run_success"][2] == [({"task": "flush"}, 1.0)]


def test_a_file_that_cannot_be_written_leaves_no_partial_file(tmp_path):
    (tmp_path / "arp_hygiene_flush.prom").mkdir()  # a directory where the file goes: the rename fails
    with pytest.raises(OSError):
        metrics.write(str(tmp_path), "flush", metrics.Metrics())
    assert os.listdir(tmp_path) == ["arp_hygiene_flush.prom"]


def test_a_run_writes_its_outcomes_and_the_kernels_limit(tmp_path):
    result = {"deleted": {"eth0": {"192.0.2.1": "02:00:00:00:00:01", "192.0.2.2": None}}, "vanished": {}}
    metrics.write_run(str(tmp_path), "flush", NO_NAMESPACE, 1700000000.0, 0.25, True, result)
    read = parsed((tmp_path / "arp_hygiene_flush.prom").read_text())
    assert read["arp_hygiene_last_run_timestamp_seconds"][2] == [({"task": "flush"}, 1700000000.0)]
    assert read["arp_hygiene_last_run_duration_seconds"][2] == [({"task": "flush"}, 0.25)]
    assert read["arp_hygiene_last_run_success"][2] == [({"task": "flush"}, 1.0)]
    assert read["arp_hygiene_last_success_timestamp_seconds"][2] == [({"task": "flush"}, 1700000000.0)]
    assert read["arp_hygiene_last_run_entries"][2] == [
        ({"task": "flush", "outcome": "deleted", "interface": "eth0"}, 2.0)
    ]
    assert "arp_hygiene_neighbour_entries" not in read, "the namespace does not exist: no composition"
    with open("/proc/sys/net/ipv4/neigh/default/gc_thresh3", encoding="ascii") as knob:
        limit = float(knob.read())
    assert ({"task": "flush", "family": "inet"}, limit) in read["arp_hygiene_gc_thresh3"][2]


def test_a_watch_writes_the_entries_of_each_outcome_and_its_totals(tmp_path):
    result = {
        "seen": 12,
        "contradicted": {"eth0": {"192.0.2.1": {"cached": "02:00:00:00:00:01", "claimed": "02:00:00:00:00:02"}}},
        "asked": {"eth0": {"192.0.2.1": "02:00:00:00:00:01"}},
        "answered": {},
        "limited": 3,
        "replaced": {"eth0": {"192.0.2.1": {"old": "02:00:00:00:00:01", "new": "02:00:00:00:00:02"}}},
    }
    metrics.write_run(str(tmp_path), "watch", NO_NAMESPACE, 1700000000.0, 60.0, True, result)
    read = parsed((tmp_path / "arp_hygiene_watch.prom").read_text())
    assert sorted(read["arp_hygiene_last_run_entries"][2], key=str) == sorted(
        [
            ({"task": "watch", "outcome": outcome, "interface": "eth0"}, 1.0)
            for outcome in ("contradicted", "asked", "replaced")
        ],
        key=str,
    )
    assert sorted(read["arp_hygiene_last_run_total"][2], key=str) == [
        ({"task": "watch", "counted": "limited"}, 3.0),
        ({"task": "watch", "counted": "seen"}, 12.0),
    ]


def test_a_failed_run_keeps_the_last_success_of_the_file(tmp_path):
    metrics.write_run(str(tmp_path), "verify", NO_NAMESPACE, 1000.0, 1.0, True, {"ok": {"eth0": {"192.0.2.1": "m"}}})
    metrics.write_run(str(tmp_path), "verify", NO_NAMESPACE, 2000.0, 1.0, False, {})
    read = parsed((tmp_path / "arp_hygiene_verify.prom").read_text())
    assert read["arp_hygiene_last_run_success"][2] == [({"task": "verify"}, 0.0)]
    assert read["arp_hygiene_last_run_timestamp_seconds"][2] == [({"task": "verify"}, 2000.0)]
    assert read["arp_hygiene_last_success_timestamp_seconds"][2] == [({"task": "verify"}, 1000.0)]
    assert "arp_hygiene_last_run_entries" not in read


def test_metered_writes_after_a_success_and_after_a_failure_from_what_it_changed(tmp_path):
    assert metrics.metered(str(tmp_path), "flush", NO_NAMESPACE, lambda: {"deleted": {}, "vanished": {}}) == {
        "deleted": {},
        "vanished": {},
    }

    class Failed(Exception):
        info = {"deleted": {"eth0": {"192.0.2.5": "02:00:00:00:00:05"}}}

    def fails():
        raise Failed("half done")

    with pytest.raises(Failed):
        metrics.metered(str(tmp_path), "flush", NO_NAMESPACE, fails)
    read = parsed((tmp_path / "arp_hygiene_flush.prom").read_text())
    assert read["arp_hygiene_last_run_success"][2] == [({"task": "flush"}, 0.0)]
    assert read["arp_hygiene_last_run_entries"][2] == [
        ({"task": "flush", "outcome": "deleted", "interface": "eth0"}, 1.0)
    ]


def test_gc_thresh_reads_the_kernels_knobs():
    for family, proc in (("inet", "ipv4"), ("inet6", "ipv6")):
        for which in (1, 2, 3):
            with open(f"/proc/sys/net/{proc}/neigh/default/gc_thresh{which}", encoding="ascii") as knob:
                assert metrics.gc_thresh(family, which) == int(knob.read())
    assert metrics.gc_thresh("ipx") is None


# /proc/net/stat/arp_cache of a 2-CPU kernel: the names, then one line of
# hexadecimal counters per CPU ("entries" is the table's size, on each line).
ARP_CACHE = """\
entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast \
periodic_gc_runs forced_gc_runs unresolved_discards table_fulls
00000016 00000002 00000000 00000000   00000000 00000000 00000000   00000000         00000000         \
00000027         00000000       00000003            00000001
00000016 00000014 00000001 00000002   0000002b 00000011 00000000   00000000         00000000         \
00000000         00000002       0000000a            00000000
"""


def test_the_kernels_statistics_are_summed_over_the_cpus_entries_are_the_tables_size(tmp_path):
    (tmp_path / "arp_cache").write_text(ARP_CACHE)
    read = metrics.kernel_statistics("inet", str(tmp_path / "arp_cache"))
    assert read["entries"] == 0x16, "the size, not a sum"
    assert read["allocs"] == 0x16 and read["lookups"] == 0x2B and read["periodic_gc_runs"] == 0x27
    assert read["forced_gc_runs"] == 2 and read["unresolved_discards"] == 13 and read["table_fulls"] == 1
    assert set(read) == {"entries", *metrics.KERNEL_COUNTERS}
    (tmp_path / "bad").write_text("entries allocs\n0000001 zz\n")
    assert metrics.kernel_statistics("inet", str(tmp_path / "bad")) is None
    assert metrics.kernel_statistics("inet", str(tmp_path / "missing")) is None


def test_the_host_kernels_statistics_are_in_a_runs_file_as_counters(tmp_path):
    metrics.write_run(str(tmp_path), "flush", NO_NAMESPACE, 1000.0, 0.1, True, {})
    read = parsed((tmp_path / "arp_hygiene_flush.prom").read_text())
    for family in ("inet", "inet6"):
        host = metrics.kernel_statistics(family)
        assert host is not None, f"this host's kernel shows {metrics.KERNEL_STATISTICS[family]}"
        for name in metrics.KERNEL_COUNTERS:
            # Prometheus' parser names a counter family without its _total.
            kind, _, samples = read[f"arp_hygiene_kernel_{name}"]
            value = dict((labels["family"], value) for labels, value in samples)[family]
            # Read before the host's: never more (other processes' traffic may add meanwhile).
            assert kind == "counter" and 0 <= value <= host[name], (name, value, host[name])
        kind, _, samples = read["arp_hygiene_kernel_entries"]
        assert kind == "gauge" and family in {labels["family"] for labels, _ in samples}
