"""The arp.verified state through Salt's state system, on a real segment."""

import pytest

from tests.support.frames import NOBODY, cache, questions, unicast_json
from tests.support.lab import NEW_MAC, OLD_MAC, WORKER_IP


def test_verified_state_repairs_then_is_idempotent(loaders, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")

    ret = loaders.states.arp.verified(name="db", netns=db.name)

    assert ret.changes == {
        "replaced": {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}},
        "deleted": {"eth0": {NOBODY: "02:00:00:00:99:01"}},
    }
    assert ret.result is True
    assert ret.comment == (
        f"Asked about 2 entries in the neighbour table of network namespace {db.name}: 0 answered as cached, "
        "1 unanswered. Replaced 1 neighbour entry holding a wrong MAC, deleted 1 neighbour entry nobody answered for."
    )
    assert segment.reach(db, WORKER_IP)

    again = loaders.states.arp.verified(name="db", netns=db.name)
    assert again.result is True and again.changes == {}
    assert again.comment.endswith(": 1 answered as cached, 0 unanswered.")


def test_verified_state_in_test_mode_sends_nothing_and_says_what_it_would_ask(loaders, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    before = unicast_json(db)
    wire = segment.sent_by(db, seconds=1.5)

    ret = loaders.states.arp.verified(name="db", netns=db.name, test=True)

    assert ret.result is None and ret.changes == {}
    assert ret.comment.startswith(
        f"Would ask the segment about 2 entries in the neighbour table of network namespace {db.name} and repair"
    )
    assert questions(wire.frames(), {WORKER_IP, NOBODY}) == []
    assert unicast_json(db) == before


def test_verified_state_leaves_a_wrong_static_entry_and_a_conflict_and_says_so(loaders, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "permanent")
    for number in (1, 2):
        host = segment.host(f"claim{number}", f"192.0.2.{40 + number}", f"02:00:00:00:40:{number:02x}")
        segment.responder(host, "192.0.2.40", f"02:00:00:00:40:{number:02x}")
    cache(db, "192.0.2.40", OLD_MAC, "stale")

    ret = loaders.states.arp.verified(name="db", netns=db.name)

    assert ret.result is True and ret.changes == {}
    assert "Several MACs answer for 192.0.2.40 on eth0: left alone, for a human to settle." in ret.comment
    assert ret.comment.endswith(f"Left alone although another MAC answered (static entries): {WORKER_IP} on eth0.")
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC
    assert segment.neighbour(db, "192.0.2.40")["lladdr"] == OLD_MAC


@pytest.mark.parametrize(
    "arguments", [{"interface": "lo"}, {"timeout": 0}, {"netns": "arph-missing"}, {"states": ["stale", 3]}]
)
def test_verified_state_fails_on_bad_input(loaders, segment, arguments):
    _, db, _ = segment
    ret = loaders.states.arp.verified(name="db", **{"netns": db.name, **arguments})
    assert ret.result is False and ret.changes == {}
    assert ret.comment.startswith("Cannot verify neighbour entries: ")
