"""
The runs' Prometheus metrics, read by a real node_exporter (Debian's
prometheus-node-exporter, its textfile collector alone, on 127.0.0.1) over
HTTP, as Prometheus would scrape them.
"""

import collections
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import lab, unavailable
from tests.support.tables import snapshot, without_collected

# The metrics file and node_exporter's reading of it: the same on every Salt.
pytestmark = pytest.mark.once

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


@pytest.fixture
def node_exporter(tmp_path):
    """(textfile directory, scrape()): scrape() is {(name, frozenset of labels): value} of /metrics."""
    binary = shutil.which("prometheus-node-exporter")
    if not binary:
        unavailable("prometheus-node-exporter is missing: `./run test` installs it")
    directory = tmp_path / "textfile"
    directory.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exporter = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={directory}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        samples = {}
        for line in text.splitlines():
            found = SAMPLE.match(line)
            if found and not line.startswith("#"):
                labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(2) or ""))
                samples[(found.group(1), labels)] = float(found.group(3))
        return samples

    try:
        for _ in range(100):
            try:
                scrape()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(
                f"node_exporter did not answer: {exporter.stderr.read() if exporter.poll() is not None else ''}"
            )
        yield directory, scrape
    finally:
        exporter.terminate()
        exporter.wait(10)


def ours(samples, name, **labels):
    """The value of our metric ``name`` with exactly these labels (None if absent)."""
    return samples.get((name, frozenset(labels.items())))


def test_a_flush_writes_its_metrics_and_node_exporter_serves_them(arp, table, node_exporter):
    ns, _ = table
    directory, scrape = node_exporter
    began = time.time()

    result = arp.flush_stale(netns=ns.name, family="all", metrics_dir=str(directory))

    samples = scrape()
    assert ours(samples, "node_textfile_scrape_error") == 0
    assert ours(samples, "arp_hygiene_last_run_success", task="flush") == 1
    assert began <= ours(samples, "arp_hygiene_last_run_timestamp_seconds", task="flush") <= time.time()
    assert 0 < ours(samples, "arp_hygiene_last_run_duration_seconds", task="flush") < 60
    for ifname, entries in result["deleted"].items():
        value = ours(samples, "arp_hygiene_last_run_entries", task="flush", outcome="deleted", interface=ifname)
        assert value == len(entries)
    # The table's composition afterwards, as ip(8) reads it. The kernel's own
    # IPv6 multicast entries (noarp) come and go as the interfaces join their
    # groups, between the module's dump and ip(8)'s: they are counted, not compared.
    counts = collections.Counter(
        (entry["dev"], "inet6" if ":" in entry["dst"] else "inet", entry.get("state", ["none"])[0].lower())
        for entry in ns.neighbours()
        if not entry["dst"].startswith("ff")
    )
    served = {
        (dict(labels)["interface"], dict(labels)["family"], dict(labels)["state"]): value
        for (name, labels), value in samples.items()
        if name == "arp_hygiene_neighbour_entries"
    }
    # every_state()'s own noarp entry, beside the multicast ones.
    multicast = {("a0", "inet6", "noarp"), ("b0", "inet6", "noarp")}
    assert {key: served.get(key) for key in counts if key not in multicast} == {
        key: float(count) for key, count in counts.items() if key not in multicast
    }
    assert all(served[key] >= counts[key] for key in multicast), served
    assert os.listdir(directory) == ["arp_hygiene_flush.prom"]
    # The kernel's own counters, by their names (all namespaces together: read before ours, never above).
    for family in ("inet", "inet6"):
        for name in ("table_fulls", "forced_gc_runs", "unresolved_discards", "allocs", "res_failed"):
            value = ours(samples, f"arp_hygiene_kernel_{name}_total", task="flush", family=family)
            assert value is not None and 0 <= value <= lab.kernel_counter(family, name), (family, name, value)


def test_the_kernels_unresolved_discards_counted_in_a_namespace_reach_the_next_runs_file(arp, netlab, node_exporter):
    directory, scrape = node_exporter
    ns = lab.table(netlab)
    arp.flush_stale(netns=ns.name, metrics_dir=str(directory))
    before = ours(scrape(), "arp_hygiene_kernel_unresolved_discards_total", task="flush", family="inet")

    lab.discard_unresolved(ns, packets=20)
    arp.flush_stale(netns=ns.name, metrics_dir=str(directory))

    after = ours(scrape(), "arp_hygiene_kernel_unresolved_discards_total", task="flush", family="inet")
    assert after >= before + 19, (before, after)


def test_a_failed_run_writes_success_0_keeps_the_last_success_and_raises(arp, table, node_exporter):
    ns, _ = table
    directory, scrape = node_exporter
    arp.flush_stale(netns=ns.name, metrics_dir=str(directory))
    succeeded = ours(scrape(), "arp_hygiene_last_success_timestamp_seconds", task="flush")
    assert succeeded == ours(scrape(), "arp_hygiene_last_run_timestamp_seconds", task="flush")

    with pytest.raises(SaltInvocationError, match="network namespace 'arph-missing' does not exist"):
        arp.flush_stale(netns="arph-missing", metrics_dir=str(directory))

    samples = scrape()
    assert ours(samples, "arp_hygiene_last_run_success", task="flush") == 0
    assert ours(samples, "arp_hygiene_last_run_timestamp_seconds", task="flush") > succeeded
    assert ours(samples, "arp_hygiene_last_success_timestamp_seconds", task="flush") == succeeded
    assert ours(samples, "node_textfile_scrape_error") == 0


def test_no_metrics_without_metrics_dir_nor_in_test_mode(arp, table, node_exporter):
    ns, before = table
    directory, _ = node_exporter
    arp.flush_stale(netns=ns.name, family="all", test=True, metrics_dir=str(directory))
    assert (after := snapshot(ns)) == without_collected(before, after)
    arp.flush_stale(netns=ns.name, family="all")
    assert os.listdir(directory) == []
    with pytest.raises(SaltInvocationError, match="metrics_dir must be the absolute path of an existing directory"):
        arp.flush_stale(netns=ns.name, metrics_dir="relative/dir")


def test_a_verify_with_fix_writes_its_counts(arp, segment, node_exporter):
    segment, db, _ = segment
    directory, scrape = node_exporter
    # The worker's address cached with a dead MAC: verify with fix finds the mismatch and replaces it.
    db.ip("neigh", "replace", lab.WORKER_IP, "dev", "eth0", "lladdr", lab.OLD_MAC, "nud", "reachable")

    result = arp.verify(netns=db.name, fix=True, metrics_dir=str(directory))

    assert result["replaced"] == {"eth0": {lab.WORKER_IP: {"old": lab.OLD_MAC, "new": lab.NEW_MAC}}}
    samples = scrape()
    assert ours(samples, "arp_hygiene_last_run_success", task="verify") == 1
    for outcome in ("mismatch", "replaced"):
        assert ours(samples, "arp_hygiene_last_run_entries", task="verify", outcome=outcome, interface="eth0") == 1
    assert ours(samples, "arp_hygiene_last_run_entries", task="verify", outcome="ok", interface="eth0") is None
    assert os.listdir(directory) == ["arp_hygiene_verify.prom"]
