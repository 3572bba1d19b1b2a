"""Property: on any table and any selection, a flush removes exactly what the selection matches."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import lab
from tests.support.tables import LEARNED, keys, matches, snapshot, without_collected

# The flush's invariant on the kernel's tables: the same on every Salt.
pytestmark = pytest.mark.once

STATES = ("stale", "reachable", "probe", "failed", "incomplete", "permanent", "noarp")
PREFIXES = {("a0", 4): "192.0.2.", ("b0", 4): "198.51.100.", ("a0", 6): "2001:db8:a::", ("b0", 6): "2001:db8:b::"}
NETWORKS = {
    "inet": ["192.0.2.0/24", "192.0.2.16/28", "198.51.100.0/25"],
    "inet6": ["2001:db8:a::/64", "2001:db8:b::/120"],
}
EXCLUDES = ["192.0.2.20", "198.51.100.0/26", "2001:db8:a::14", "2001:db8:b::/64"]


@st.composite
def tables(draw):
    chosen = draw(
        st.lists(
            st.tuples(st.sampled_from(["a0", "b0"]), st.sampled_from([4, 6]), st.integers(10, 40)),
            unique=True,
            max_size=14,
        )
    )
    entries = []
    for ifname, version, host in chosen:
        state = draw(st.sampled_from(STATES))
        lladdr = None if state in ("failed", "incomplete") else f"02:00:00:00:{version:02x}:{host:02x}"
        flags = ["extern_learn"] if lladdr and draw(st.booleans()) else []
        dst = PREFIXES[(ifname, version)] + (str(host) if version == 4 else f"{host:x}")
        entries.append({"dst": dst, "ifname": ifname, "state": state, "lladdr": lladdr, "flags": flags})
    return entries


@st.composite
def selections(draw):
    family = draw(st.sampled_from(["inet", "inet6", "all"]))
    networks = NETWORKS["inet"] + NETWORKS["inet6"] if family == "all" else NETWORKS[family]
    return {
        "interfaces": draw(st.none() | st.lists(st.sampled_from(["a0", "b0"]), min_size=1, max_size=2, unique=True)),
        "states": tuple(draw(st.lists(st.sampled_from(LEARNED), min_size=1, max_size=4, unique=True))),
        "family": family,
        "network": draw(st.none() | st.sampled_from(networks)),
        "exclude": draw(st.lists(st.sampled_from(EXCLUDES), max_size=2, unique=True)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=tables(), selection=selections())
def test_flush_removes_exactly_the_matching_entries(arp, can_make_namespaces, entries, selection):
    with lab.Lab() as made:
        ns = lab.table(made)
        lab.add_entries(ns, entries)
        made = {(e["dst"], e["ifname"]): (e["lladdr"], e["state"], ()) for e in entries}
        before = snapshot(ns)
        assert set(before) == set(without_collected(made, before))

        result = arp.flush_stale(
            interface=selection["interfaces"],
            states=list(selection["states"]),
            family=selection["family"],
            network=selection["network"],
            exclude=selection["exclude"],
            netns=ns.name,
        )

        gone = {key for key, value in before.items() if matches(key, value, **selection)}
        after = snapshot(ns)
        # FAILED entries the kernel's garbage collection took meanwhile (a busy host's): gone, not by the flush.
        taken = set(before) - set(without_collected(before, after)) - keys(result["deleted"])
        assert keys(result["deleted"]) == gone - taken
        assert after == {key: value for key, value in before.items() if key not in gone | taken}
