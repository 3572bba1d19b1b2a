"""
What each cleaning policy does to the incident at fleet scale (segments.Fleet: 30
workers, 10 of them black holes, 5 delay and 5 reachable; of the 20 correct
entries 10 reachable and 10 stale): black holes healed, correct entries
thrown away, and the ARP requests it costs. The table of README and of the docs (Policies) is
these measurements; the last test holds both to them.
"""

import os

import pytest

from tests.support import REPO, formula_defaults, lab, segments

# Each segments.Fleet puts some 60 entries in the kernel's one ARP table, so that
# two of them would cross gc_thresh1: these tests wait until no other process
# has a lab (the integration suite builds a fleet too).
# What the kernel does with each policy: the same on every Salt (pytest.mark.once).
pytestmark = [pytest.mark.usefixtures("tables_alone_for_the_module"), pytest.mark.once]

DEFAULTS = formula_defaults()

# The field's fix (README, the docs: "The problem"): a root cron job every 5 minutes.
FIELD_CRON = "ip neigh | awk '{print $1}' | xargs -IX arp -v -i eth0 -d X"


def field_cron(arp, fleet):
    result = fleet.db.exec("sh", "-c", FIELD_CRON)
    assert result.returncode == 0, result.stderr


def flush(states):
    def run(arp, fleet):
        arp.flush_stale(netns=fleet.db.name, states=states)

    return run


def formula_defaults(arp, fleet):
    """What the formula's jobs (and its highstate) run with the default pillar: the flush, then verify."""
    verify = DEFAULTS["verify"]
    arp.flush_stale(netns=fleet.db.name, states=DEFAULTS["flush"]["states"])
    asked = [state for state in verify["states"] if state not in DEFAULTS["flush"]["states"]]
    arp.verify(netns=fleet.db.name, states=asked, timeout=verify["timeout"], rate=verify["rate"], fix=True)


def formula_sweep(arp, fleet):
    """The formula's sweep job (verify:sweep_hours, daily by default): verify asking the segment about each entry."""
    verify = DEFAULTS["verify"]
    asked = [state for state in verify["states"] if state not in DEFAULTS["flush"]["states"]]
    arp.verify(netns=fleet.db.name, states=asked, timeout=verify["timeout"], rate=verify["rate"], fix=True, sweep=True)


# The rows of README's and the docs' table: the policy, how it runs, and what it does.
POLICIES = {
    "the field's cron: `ip neigh | awk ... | xargs arp -d`": (field_cron, (5, 5, 20, 0, 0, 30)),
    "flush `stale` (the old default)": (flush("stale"), (0, 0, 10, 0, 0, 10)),
    "flush `stale`, `delay`, `probe`": (flush("stale,delay,probe"), (5, 0, 10, 0, 0, 15)),
    "verify (and flush `failed`): the default": (formula_defaults, (5, 5, 0, 30, 10, 0)),
    "the default's sweep (`verify:sweep_hours`: once a day)": (formula_sweep, (5, 5, 0, 0, 30, 0)),
}
HEADER = (
    "| Policy | Black holes healed: `delay` (of 5) | Black holes healed: `reachable` (of 5) "
    "| Correct entries thrown away (of 20) "
    "| ARP requests to one MAC: the run | ARP broadcasts: the run | ARP requests: the next health checks |"
)


def row(policy, figures):
    return "| " + " | ".join([policy.replace("|", "\\|"), *map(str, figures)]) + " |"


def requests_from(frames, broadcast=None):
    """The database's ARP requests among ``frames``: all, or only the broadcast (or only the unicast) ones."""
    asked = [frame for frame in frames if (lab.arp_fields(frame) or (0, 0, 0))[0:3:2] == (1, lab.DB_IP)]
    return sum(1 for frame in asked if broadcast is None or (frame[0:6] == b"\xff" * 6) == broadcast)


@pytest.mark.parametrize("policy", POLICIES)
def test_what_a_policy_heals_and_throws_away(arp, netlab, policy):
    run, expected = POLICIES[policy]
    fleet = segments.Fleet(netlab)
    fleet.learn()
    correct = fleet.entries()
    fleet.reuse()
    checks = fleet.health_checks()
    assert sorted(address for address, passed in checks.items() if not passed) == sorted(fleet.reused)
    fleet.age()  # the health checks confirmed the correct stale entries
    states = fleet.entries()
    assert sorted(states[address][1] for address in fleet.reused) == ["delay"] * 5 + ["reachable"] * 5
    assert sorted(states[address][1] for address in fleet.others) == ["reachable"] * 10 + ["stale"] * 10

    during = fleet.sent_by(fleet.db, seconds=2)
    run(arp, fleet)
    frames = during.frames()
    unicast, broadcast = requests_from(frames, broadcast=False), requests_from(frames, broadcast=True)
    entries = fleet.entries()
    thrown_away = sum(1 for address in fleet.others if entries.get(address, (None,))[0] != correct[address][0])
    after = fleet.sent_by(fleet.db, seconds=2.5)
    checks = fleet.health_checks()
    relearned = requests_from(after.frames())

    # Fleet.reuse() planted the even ones stale (delay since their failed check), the odd ones reachable.
    healed = [sum(1 for address in fleet.reused[first::2] if checks[address]) for first in (0, 1)]
    assert all(checks[address] for address in fleet.others)
    assert fleet.addresses_kept()
    assert (*healed, thrown_away, unicast, broadcast, relearned) == expected


@pytest.mark.parametrize("page", ["README.md", "docs/guide/policies.md"])
def test_readme_and_the_docs_show_these_measurements(page):
    with open(os.path.join(REPO, page), encoding="utf-8") as stream:
        shown = stream.read()
    assert HEADER in shown
    for policy, (_, figures) in POLICIES.items():
        assert row(policy, figures) in shown, row(policy, figures)
