"""
arp.diagnose on the real kernel: each finding built in a namespace of the
test's own, its sentence and its numbers checked against what the kernel
shows, and nothing changed by the reading. The counts of the kernel's table
are of every namespace together: the tests that count them run while no
other process has a lab (lab.TABLES_LOCK). No sysctl of the host changes:
gc_thresh1/2/3 are read, the timers and arp_notify set are the namespace's.
"""

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import frames, lab


def gc_thresh(which, proc="ipv4"):
    with open(f"/proc/sys/net/{proc}/neigh/default/gc_thresh{which}", encoding="ascii") as knob:
        return int(knob.read())


def interface(netlab, name="c0"):
    """A namespace with a veth pair (c0 up with an address, c1), the kernel's default timers."""
    ns = netlab.namespace("diagnose")
    ns.batch(
        [
            f"link add {name} type veth peer name {name[0]}1",
            f"addr add 203.0.113.1/24 dev {name}",
            f"link set {name} up",
            f"link set {name[0]}1 up",
        ]
    )
    return ns


def state_of(ns, ifname):
    """
    The namespace's table and its interface's neighbour and conf settings:
    what diagnose must leave alone. Multicast entries are left out: IPv6
    makes them (NOARP) whenever the new interfaces send their first MLD
    reports and router solicitations, which can be after the first reading.
    """
    settings = ns.exec("sysctl", "-a", "-r", rf"^net\.ipv[46]\.(neigh|conf)\.{ifname}\.").stdout
    return frames.table(ns), settings


@pytest.mark.once
def test_a_lab_table_of_40_entries_is_judged_against_gc_thresh1_and_nothing_changes(tables_alone, arp, netlab):
    ns = interface(netlab)
    ns.batch([f"neigh replace 203.0.113.{n} dev c0 lladdr 02:00:00:00:71:{n:02x} nud stale" for n in range(10, 50)])
    before = state_of(ns, "c0")

    found = arp.diagnose(family="inet", netns=ns.name)

    inet = found["inet"]
    assert list(found) == ["inet"] and inet["entries"] == 40
    assert inet["gc_thresh1"] == gc_thresh(1) and inet["gc_thresh3"] == gc_thresh(3)
    assert inet["kernel_entries"] >= 40, inet
    findings = {finding["finding"]: finding for finding in inet["findings"]}
    # The kernel's table is every namespace's: on a quiet host (CI) ours
    # keep it below gc_thresh1; on a busy one the others' entries lift it
    # above, and the finding must then be absent (the rule's own unit tests:
    # tests/unit/modules/test_arp_hygiene_policy.py).
    if inet["kernel_entries"] >= gc_thresh(1):
        assert "below_gc_thresh1" not in findings, inet
    else:
        assert findings["below_gc_thresh1"]["risk"] == (
            f"The kernel's inet table holds {inet['kernel_entries']} entries, below gc_thresh1 ({gc_thresh(1)}), "
            "where the kernel never collects STALE entries: a reused address's old MAC can stay until an interval "
            "job or the reactor removes it."
        )
        assert findings["below_gc_thresh1"]["pillar"] == {
            "arp_hygiene": {"sysctl": {"net.ipv4.neigh.default.gc_thresh1": 0}}
        }
    for name in ("table_fulls", "unresolved_discards", "forced_gc_runs"):
        assert 0 <= inet["counters"][name] <= lab.kernel_counter("inet", name), name
    assert state_of(ns, "c0") == before, "diagnose reads only"


@pytest.mark.once
def test_a_table_near_gc_thresh3_is_an_overflow_risk(tables_alone, arp, netlab):
    ns = interface(netlab)
    high = gc_thresh(3)
    # Permanent entries count in the kernel's table but are never collected,
    # nor do they count towards forced garbage collection (gc_thresh2). This
    # namespace's alone put the table past four fifths: the other namespaces'
    # entries are not ours to count on (the kernel collects their stale ones
    # meanwhile: a test that topped them up failed on a busy host).
    wanted = int(0.85 * high)
    ns.batch(
        [
            f"neigh replace 198.18.{n >> 8}.{n & 255} dev c0 lladdr 02:00:00:00:72:01 nud permanent"
            for n in range(wanted)
        ]
    )

    inet = arp.diagnose(family="inet", netns=ns.name)["inet"]

    assert inet["entries"] == wanted and inet["kernel_entries"] >= 0.8 * high
    [finding] = [finding for finding in inet["findings"] if finding["finding"] == "near_gc_thresh3"]
    assert finding["facts"] == {"kernel_entries": inet["kernel_entries"], "gc_thresh3": high}
    assert finding["risk"] == (
        f"The kernel's inet table holds {inet['kernel_entries']} entries, near gc_thresh3 ({high}), past which it "
        "refuses new entries (ENOBUFS, 'neighbour table overflow') and hosts this one has not talked to lately "
        "become unreachable."
    )
    assert finding["pillar"]["arp_hygiene"]["sysctl"] == {
        "net.ipv4.neigh.default.gc_thresh2": 2 * gc_thresh(2),
        "net.ipv4.neigh.default.gc_thresh3": 2 * high,
    }
    assert "below_gc_thresh1" not in [finding["finding"] for finding in inet["findings"]]


def test_slow_probing_timers_on_an_interface_are_named_with_their_seconds(arp, netlab):
    ns = interface(netlab)
    ns.sysctl(**{"net.ipv4.neigh.c0.delay_first_probe_time": 30, "net.ipv6.neigh.c0.retrans_time_ms": 2500})

    found = arp.diagnose(interface="c0", netns=ns.name)

    assert set(found["inet"]["interfaces"]) == {"c0"}, "the interface named alone"
    timers = found["inet"]["interfaces"]["c0"]
    assert (timers["delay_first_probe_time"], timers["ucast_solicit"], timers["retrans_time_ms"]) == (30, 3, 1000)
    assert timers["base_reachable_time_ms"] == 30000 and timers["gc_stale_time"] == 60
    slow = {family: [f for f in found[family]["findings"] if f["finding"] == "slow_reprobe"] for family in found}
    assert slow["inet"][0]["facts"] == {
        "interface": "c0",
        "seconds": 33.0,
        "delay_first_probe_time": 30,
        "ucast_solicit": 3,
        "retrans_time_ms": 1000,
    }
    assert slow["inet"][0]["risk"].startswith("On c0, a MAC that stopped answering is used for up to 33 s")
    assert slow["inet"][0]["pillar"] == {"arp_hygiene": {"sysctl": {"net.ipv4.neigh.c0.delay_first_probe_time": 5}}}
    assert slow["inet6"][0]["facts"]["seconds"] == 12.5
    assert slow["inet6"][0]["pillar"] == {"arp_hygiene": {"sysctl": {"net.ipv6.neigh.c0.retrans_time_ms": 1000}}}


def test_an_interface_that_announces_nothing_when_it_comes_up_is_named_until_arp_notify_is_set(arp, netlab):
    ns = interface(netlab)

    inet = arp.diagnose(family="inet", netns=ns.name)["inet"]
    assert inet["interfaces"]["c0"]["arp_notify"] == 0 and inet["interfaces"]["c0"]["arp_accept"] == 0
    quiet = [finding for finding in inet["findings"] if finding["finding"] == "arp_notify_off"]
    assert [finding["facts"] for finding in quiet] == [
        {"interface": "c0", "arp_notify": 0},
        {"interface": "c1", "arp_notify": 0},
    ]
    assert quiet[0]["pillar"] == {"arp_hygiene": {"announce": {"arp_notify": True}}}

    ns.sysctl(**{"net.ipv4.conf.c0.arp_notify": 1, "net.ipv4.conf.c1.arp_notify": 1})
    inet = arp.diagnose(family="inet", netns=ns.name)["inet"]
    assert inet["interfaces"]["c0"]["arp_notify"] == 1
    assert "arp_notify_off" not in [finding["finding"] for finding in inet["findings"]]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"interface": "eth9"}, "no interface named 'eth9'"),
        ({"family": "ipx"}, "unknown family 'ipx'"),
        ({"netns": "arph-no-such-namespace"}, "network namespace 'arph-no-such-namespace' does not exist"),
    ],
)
def test_bad_input_is_refused_clearly(arp, netlab, arguments, message):
    ns = interface(netlab)
    with pytest.raises(SaltInvocationError, match=message):
        arp.diagnose(**{"netns": ns.name, **arguments})
