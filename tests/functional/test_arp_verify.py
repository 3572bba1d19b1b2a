"""arp.verify and arp.announce on a real segment: a bridge and host namespaces."""

import time

import pytest
from salt.exceptions import SaltInvocationError

from lab import NEW_MAC, OLD_MAC, WORKER_IP, WORKER_IP6

NOBODY, NOBODY_REACHABLE = "192.0.2.99", "192.0.2.98"


def table(ns):
    """A namespace's table as ``ip -j neigh show nud all`` reports it, by address; multicast left out."""
    return {entry["dst"]: entry for entry in ns.neighbours() if not entry["dst"].startswith("ff")}


def cache(ns, address, lladdr, state):
    ns.ip("neigh", "replace", address, "dev", "eth0", "lladdr", lladdr, "nud", state)


def test_a_wrong_reachable_entry_is_a_mismatch_and_fix_repairs_it(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    assert not segment.reach(db, WORKER_IP), "the black hole: the SYN goes to the old MAC"
    assert arp.flush_stale(netns=db.name)["deleted"] == {}, "flush_stale rightly leaves a reachable entry"

    found = arp.verify(netns=db.name)
    assert found["mismatch"] == {"eth0": {WORKER_IP: {"cached": OLD_MAC, "answered": [NEW_MAC]}}}
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC, "verifying alone changes nothing"

    fixed = arp.verify(netns=db.name, fix=True)
    assert fixed["replaced"] == {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    assert segment.reach(db, WORKER_IP)


def test_test_mode_reports_the_repair_and_changes_nothing(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    before = table(db)

    planned = arp.verify(netns=db.name, fix=True, test=True)

    assert planned["would_replace"] == {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert planned["would_delete"] == {"eth0": {NOBODY: "02:00:00:00:99:01"}}
    assert "replaced" not in planned and "deleted" not in planned
    assert table(db) == before


def test_healthy_entries_are_ok_and_untouched(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, NEW_MAC, "stale")
    cache(db, WORKER_IP6, NEW_MAC, "reachable")
    before = table(db)

    result = arp.verify(family="all", netns=db.name, fix=True)

    assert result["ok"] == {"eth0": {WORKER_IP: NEW_MAC, WORKER_IP6: NEW_MAC}}
    assert result["mismatch"] == {} and result["replaced"] == {} and result["deleted"] == {}
    assert table(db) == before


def test_unanswered_entries_are_reported_and_only_stale_or_failed_ones_deleted(arp, segment):
    segment, db, _ = segment
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    cache(db, NOBODY_REACHABLE, "02:00:00:00:98:01", "reachable")

    result = arp.verify(netns=db.name, fix=True, timeout=0.5)

    assert result["unanswered"] == {"eth0": {NOBODY: "02:00:00:00:99:01", NOBODY_REACHABLE: "02:00:00:00:98:01"}}
    assert result["deleted"] == {"eth0": {NOBODY: "02:00:00:00:99:01"}}
    assert segment.neighbour(db, NOBODY) is None
    assert segment.neighbour(db, NOBODY_REACHABLE)["lladdr"] == "02:00:00:00:98:01"


def test_ipv6_wrong_entry_is_a_mismatch_and_fix_leaves_the_right_mac(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP6, OLD_MAC, "reachable")

    result = arp.verify(family="inet6", netns=db.name, fix=True)

    assert result["mismatch"] == {"eth0": {WORKER_IP6: {"cached": OLD_MAC, "answered": [NEW_MAC]}}}
    assert result["replaced"] == {"eth0": {WORKER_IP6: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert segment.neighbour(db, WORKER_IP6)["lladdr"] == NEW_MAC


def test_200_entries_are_asked_about_at_once(arp, segment):
    segment, db, _ = segment
    db.batch([f"neigh replace 198.18.0.{n} dev eth0 lladdr 02:00:00:18:00:{n:02x} nud stale" for n in range(1, 201)])
    cache(db, WORKER_IP, NEW_MAC, "stale")

    start = time.monotonic()
    result = arp.verify(netns=db.name, timeout=1)
    seconds = time.monotonic() - start

    assert len(result["unanswered"]["eth0"]) == 200 and result["ok"] == {"eth0": {WORKER_IP: NEW_MAC}}
    # One by one, 200 timeouts would take 200 s; together: 1 s of questions (200 a second), then 1 s of waiting.
    assert seconds < 10, seconds


def test_announce_replaces_the_old_mac_in_the_databases_entries(arp, segment):
    segment, db, worker = segment
    cache(db, WORKER_IP, OLD_MAC, "stale")
    cache(db, WORKER_IP6, OLD_MAC, "stale")

    planned = arp.announce(netns=worker.name, test=True)
    assert {WORKER_IP, WORKER_IP6} <= set(planned["would_announce"]["eth0"])
    time.sleep(0.2)
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC, "test mode sends nothing"

    done = arp.announce(netns=worker.name)

    assert done["announced"] == planned["would_announce"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        segment.neighbour(db, WORKER_IP)["lladdr"] != NEW_MAC or segment.neighbour(db, WORKER_IP6)["lladdr"] != NEW_MAC
    ):
        time.sleep(0.05)
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    assert segment.neighbour(db, WORKER_IP6)["lladdr"] == NEW_MAC
    assert segment.reach(db, WORKER_IP)


@pytest.mark.parametrize(
    "function, arguments, message",
    [
        ("verify", {"interface": "lo"}, "interface 'lo' is not an Ethernet interface (link loopback)"),
        ("verify", {"interface": "bare0"}, "interface 'bare0' has no IPv4 address"),
        ("verify", {"interface": "eth9"}, "no interface named 'eth9'"),
        ("verify", {"timeout": 0}, "timeout must be a positive number, not 0"),
        ("verify", {"timeout": -1}, "timeout must be a positive number"),
        ("verify", {"timeout": "soon"}, "timeout must be a positive number, not 'soon'"),
        ("verify", {"rate": 0}, "rate must be a positive number"),
        ("verify", {"fix": "yes"}, "fix must be True or False, not 'yes'"),
        ("verify", {"states": "wobbly"}, "unknown NUD state 'wobbly'"),
        ("announce", {"interface": "lo"}, "interface 'lo' is not an Ethernet interface"),
        ("announce", {"interface": "bare0", "family": "inet"}, "interface 'bare0' has no IPv4 address"),
        ("announce", {"family": "ipx"}, "unknown family 'ipx'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(arp, segment, function, arguments, message):
    segment, db, _ = segment
    db.batch(["link add bare0 type veth peer name bare1", "link set bare0 up", "link set bare1 up"])
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    before = table(db)
    with pytest.raises(SaltInvocationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        if function == "verify":
            arp.verify(netns=db.name, **{"fix": True, **arguments})
        else:
            arp.announce(netns=db.name, **arguments)
    assert table(db) == before


def test_a_missing_namespace_is_refused(arp):
    for function in (arp.verify, arp.announce):
        with pytest.raises(SaltInvocationError, match="network namespace 'arph-missing' does not exist"):
            function(netns="arph-missing")


def test_verified_state_repairs_then_is_idempotent(loaders, segment, testmode):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    before = table(db)

    ret = loaders.states.arp.verified(name="db", netns=db.name, test=testmode)

    assert ret.changes == {
        "replaced": {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}},
        "deleted": {"eth0": {NOBODY: "02:00:00:00:99:01"}},
    }
    if testmode:
        assert ret.result is None
        assert "Would replace 1 neighbour entry holding a wrong MAC, would delete 1 neighbour entry" in ret.comment
        assert table(db) == before
        return
    assert ret.result is True
    assert ret.comment == (
        f"Asked about 2 entries in the neighbour table of network namespace {db.name}: 0 answered as cached, "
        "1 unanswered. Replaced 1 neighbour entry holding a wrong MAC, deleted 1 neighbour entry nobody answered for."
    )
    assert segment.reach(db, WORKER_IP)

    again = loaders.states.arp.verified(name="db", netns=db.name)
    assert again.result is True and again.changes == {}
    assert again.comment.endswith(": 1 answered as cached, 0 unanswered.")


def test_verified_state_leaves_a_wrong_static_entry_and_says_so(loaders, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "permanent")

    ret = loaders.states.arp.verified(name="db", netns=db.name)

    assert ret.result is True and ret.changes == {}
    assert ret.comment.endswith(f"Left alone although another MAC answered (static, or several MACs): {WORKER_IP} on eth0.")
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC


@pytest.mark.parametrize("arguments", [{"interface": "lo"}, {"timeout": 0}, {"netns": "arph-missing"}])
def test_verified_state_fails_on_bad_input(loaders, segment, arguments):
    _, db, _ = segment
    ret = loaders.states.arp.verified(name="db", **{"netns": db.name, **arguments})
    assert ret.result is False and ret.changes == {}
    assert ret.comment.startswith("Cannot verify neighbour entries: ")
