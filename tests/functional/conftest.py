"""A neighbour table holding an entry in every NUD state, IPv4 and IPv6, on two interfaces."""

import pytest

import lab
from tests.conftest import snapshot

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
