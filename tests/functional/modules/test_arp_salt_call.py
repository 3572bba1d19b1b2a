"""The module through whole salt-call processes, and the black hole in real traffic."""

import json
import os

import pytest

from demo import incident
from tests.support import REPO, lab, segments
from tests.support.tables import keys, snapshot, without_collected


@pytest.fixture(scope="module")
def salt_config(tmp_path_factory):
    return lab.salt_config(str(tmp_path_factory.mktemp("salt-call")))


def test_salt_call_prints_json(salt_config, table):
    ns, before = table
    result = lab.salt_call(salt_config, "--out=json", "arp.flush_stale", f"netns={ns.name}", "family=all", "test=True")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    planned = output["local"]["would_delete"]
    assert keys(planned) == {
        key for key, (_, state, flags) in before.items() if state == "stale" and "extern_learn" not in flags
    }
    after = snapshot(ns)
    assert after == without_collected(before, after)


def test_the_top_level_module_directories_are_the_served_ones_and_salt_call_takes_them(salt_config, table):
    ns, before = table
    for name in ("_modules", "_states"):
        assert os.path.realpath(os.path.join(REPO, name)) == os.path.join(REPO, "salt", name)
    args = (
        "--module-dirs=_modules",
        "--states-dir=_states",
        "--out=json",
        "arp.list",
        f"netns={ns.name}",
        "family=all",
    )
    result = lab.salt_call(salt_config, *args, cwd=REPO)
    assert result.returncode == 0, result.stderr
    listed = {(e["dst"], e["ifname"]) for e in json.loads(result.stdout)["local"] if not e["dst"].startswith("ff")}
    # The kernel's own IPv6 multicast entries left out, as snapshot() does.
    assert listed == set(without_collected(before, listed))


def test_without_cap_net_admin_nothing_is_deleted(salt_config, table):
    ns, before = table
    drop = ("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin")
    result = lab.salt_call(
        salt_config, "--out=json", "--retcode-passthrough", "arp.flush_stale", f"netns={ns.name}", prefix=drop
    )
    assert result.returncode != 0
    assert "needs CAP_NET_ADMIN" in result.stdout + result.stderr
    assert (after := snapshot(ns)) == without_collected(before, after)


def test_verify_without_cap_net_raw_says_so_and_changes_nothing(salt_config, segment):
    segment, db, _ = segment
    db.ip("neigh", "replace", lab.WORKER_IP, "dev", "eth0", "lladdr", lab.OLD_MAC, "nud", "reachable")
    drop = ("setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw")
    command = ("--out=json", "--retcode-passthrough", "arp.verify", "fix=True", f"netns={db.name}")
    result = lab.salt_call(salt_config, *command, prefix=drop)
    assert result.returncode != 0
    assert "permission denied: ARP and neighbour discovery need CAP_NET_RAW" in result.stdout + result.stderr
    assert segment.neighbour(db, lab.WORKER_IP)["lladdr"] == lab.OLD_MAC


def test_virtual_refuses_without_pyroute2_and_says_how_to_install_it(salt_config, tmp_path):
    # A pyroute2 that cannot be imported, ahead of the real one on the path.
    (tmp_path / "pyroute2").mkdir()
    (tmp_path / "pyroute2" / "__init__.py").write_text("raise ImportError('pyroute2 is not installed')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = lab.salt_call(salt_config, "arp.list", env=env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "'arp' __virtual__ returned False" in output
    assert "needs the pyroute2 library" in output and "pip install pyroute2" in output

    # The state module refuses too, and says why.
    (tmp_path / "clean.sls").write_text("neighbours:\n  arp.no_stale: []\n")
    result = lab.salt_call(salt_config, "--file-root", str(tmp_path), "state.apply", "clean", env=env)
    assert result.returncode != 0
    assert (
        "Reason: 'arp' __virtual__ returned False: The arp state needs the arp execution module of arp-hygiene, "
        "which needs pyroute2 and Linux" in result.stdout
    )


@pytest.mark.traffic
def test_reused_ip_black_hole_and_its_fix(arp, netlab):
    # Without a flush: the database sends to the old worker's MAC; the connect fails.
    hole = segments.BlackHole(netlab)
    assert hole.entry()["lladdr"] == lab.OLD_MAC and hole.entry()["state"] == ["STALE"]
    assert not hole.connect(timeout=2)
    netlab.close()

    # The same story, with arp.flush_stale run while the entry is stale.
    hole = segments.BlackHole(netlab)
    assert hole.entry()["state"] == ["STALE"]
    result = arp.flush_stale(netns=hole.db.name)
    assert result["deleted"] == {"eth0": {lab.WORKER_IP: lab.OLD_MAC}}
    assert hole.connect(timeout=2)
    assert hole.entry()["lladdr"] == lab.NEW_MAC


@pytest.mark.traffic
@pytest.mark.once
def test_the_demo_reproduces_the_incident_and_shows_each_fix(can_make_namespaces, capsys):
    assert incident.main() == 0
    told = capsys.readouterr().out
    # The incident, then each scene's failed check before its fix and the successful one after.
    assert told.count("connect FAILED: the database's SYN-ACK goes to the old MAC") == 3
    assert told.count("connect succeeded") == 3
    for command in ("arp.flush_stale netns=", "arp.verify fix=True netns=", "arp.announce family=inet netns="):
        assert f"salt-call --local --out=yaml {command}" in told
    assert "192.0.2.20:\n           new: 02:00:00:00:20:02\n           old: 02:00:00:00:20:01" in told
    assert told.rstrip().endswith("Demo passed: the black hole reproduced, and each fix shown working.")
    # The docs show a run of the demo: the same scenes, told in the same words.
    with open(os.path.join(REPO, "docs", "development.md"), encoding="utf-8") as stream:
        shown = stream.read()
    said = [line for line in told.splitlines() if line.startswith("== ") or line.startswith("   arp.")]
    assert len(said) >= 6 and [line for line in said if line not in shown] == []


def test_interface_names_that_are_not_utf8_come_back_as_distinct_strings(salt_config, netlab):
    """Two names that a lossy decoding would merge (bytes 0xff and 0xfe), through salt-call's JSON."""
    ns = netlab.namespace("names")
    ns.ip("link", "add", b"x\xff0", "type", "veth", "peer", "name", b"x\xfe0")
    for name, address, entry in (
        (b"x\xff0", "192.0.2.1/24", "192.0.2.5"),
        (b"x\xfe0", "198.51.100.1/24", "198.51.100.5"),
    ):
        ns.ip("addr", "add", address, "dev", name)
        ns.ip("link", "set", name, "up")
        ns.ip("neigh", "replace", entry, "dev", name, "lladdr", "02:00:00:00:00:05", "nud", "stale")
    first, second = "x\\xff0", "x\\xfe0"  # as the module names them: each maps back to one link

    def salt(*arguments):
        result = lab.salt_call(salt_config, "--out=json", "--retcode-passthrough", *arguments, f"netns={ns.name}")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)["local"]

    assert salt("arp.flush_stale", "test=True")["would_delete"] == {
        first: {"192.0.2.5": "02:00:00:00:00:05"},
        second: {"198.51.100.5": "02:00:00:00:00:05"},
    }
    assert salt("arp.announce", "family=inet", "test=True")["would_announce"] == {
        first: ["192.0.2.1"],
        second: ["198.51.100.1"],
    }
    assert set(salt("arp.announce", "family=inet")["announced"]) == {first, second}
    assert salt("arp.verify", f"interface={first}", "timeout=0.2")["unanswered"] == {
        first: {"192.0.2.5": "02:00:00:00:00:05"}
    }
    assert salt("arp.flush_stale", f"interface={second}")["deleted"] == {second: {"198.51.100.5": "02:00:00:00:00:05"}}
    assert [entry["ifname"] for entry in salt("arp.list")] == [first]


def test_diagnose_exits_1_when_a_finding_that_fail_on_names_holds(salt_config, netlab):
    """salt-call's exit status: 1 while a finding fail_on names holds, 0 once it does not; a bad fail_on is refused."""
    ns = netlab.namespace("fail-on")
    ns.batch(["link add eth0 type veth peer name eth1", "addr add 192.0.2.1/24 dev eth0", "link set eth0 up"])
    ns.sysctl(**{"net.ipv4.neigh.eth0.delay_first_probe_time": 30})

    def diagnose(*arguments):
        command = ["--out=json", "--retcode-passthrough", "arp.diagnose", f"netns={ns.name}", "family=inet"]
        return lab.salt_call(salt_config, *command, *arguments)

    held = diagnose("fail_on=[slow_reprobe]")
    assert held.returncode == 1, held.stdout + held.stderr
    findings = [finding["finding"] for finding in json.loads(held.stdout)["local"]["inet"]["findings"]]
    assert "slow_reprobe" in findings, "the return is the facts and findings, as without fail_on"
    assert diagnose().returncode == 0
    # The namespace's own timer, as the finding's pillar sets it (the other findings read the host's shared table).
    ns.sysctl(**{"net.ipv4.neigh.eth0.delay_first_probe_time": 5})
    assert diagnose("fail_on=[slow_reprobe]").returncode == 0
    refused = diagnose("fail_on=[slow]")
    assert refused.returncode != 0
    assert "fail_on must be a list of below_gc_thresh1, near_gc_thresh3" in refused.stdout + refused.stderr
