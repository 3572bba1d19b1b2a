"""
The policy's rules on plain data, one test per rule and a case per row of
the docs' tables: what is never touched, what verify's answers mean, what a
repair does, what forget chooses. No kernel, no Salt, no root.
"""

import ipaddress

import pytest

from tests.support import module_from_checkout

policy = module_from_checkout("_arp_hygiene_policy")

CACHED, OTHER, THIRD = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
NUD_NAMES = ("incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent", "none")


def entry(dst="192.0.2.10", state="stale", flags=(), lladdr=CACHED, ifname="eth0", ifindex=2):
    return {"dst": dst, "lladdr": lladdr, "ifname": ifname, "ifindex": ifindex, "state": state, "flags": list(flags)}


def places(*texts):
    """Addresses or CIDRs with an optional %scope, as the argument checks give them."""
    found = []
    for text in texts:
        network = ipaddress.ip_network(text, strict=False)
        found.append((network, getattr(network.network_address, "scope_id", None)))
    return found


@pytest.mark.parametrize(
    "state, flags, why",
    [
        ("permanent", (), "permanent: configuration"),
        ("noarp", (), "noarp: configuration"),
        ("stale", ("extern_learn",), "extern_learn: a routing daemon's entry"),
        ("reachable", ("managed",), "managed: a routing daemon's entry"),
        ("permanent", ("extern_learn",), "permanent: configuration"),
        ("stale", ("router",), None),
        ("reachable", (), None),
        ("failed", (), None),
    ],
)
def test_configuration_and_daemons_entries_are_untouchable(state, flags, why):
    assert policy.untouchable(entry(state=state, flags=flags)) == why


def test_a_flush_may_choose_every_state_but_the_configured_ones():
    assert policy.flushable_states(NUD_NAMES) == [
        "incomplete",
        "reachable",
        "stale",
        "delay",
        "probe",
        "failed",
        "none",
    ]


def test_verify_asks_by_default_about_the_states_that_hold_a_mac():
    assert policy.VERIFIED_STATES == ("reachable", "stale", "delay", "probe", "permanent")


@pytest.mark.parametrize(
    "answered, meaning",
    [
        ([CACHED], "ok"),
        ([OTHER], "mismatch"),
        ([CACHED, OTHER], "conflict"),
        ([OTHER, THIRD], "conflict"),
        ([], "unanswered"),
    ],
)
def test_what_the_answers_mean(answered, meaning):
    assert policy.outcome(CACHED, answered) == meaning


@pytest.mark.parametrize(
    "found, state, flags, action",
    [
        ("ok", "reachable", (), None),
        ("mismatch", "reachable", (), "replace"),
        ("mismatch", "stale", (), "replace"),
        ("mismatch", "permanent", (), None),
        ("mismatch", "noarp", (), None),
        ("mismatch", "stale", ("extern_learn",), None),
        ("mismatch", "reachable", ("managed",), None),
        ("unanswered", "stale", (), "delete"),
        ("unanswered", "failed", (), "delete"),
        ("unanswered", "reachable", (), None),
        ("unanswered", "delay", (), None),
        ("unanswered", "probe", (), None),
        ("unanswered", "permanent", (), None),
        ("conflict", "reachable", (), "restore"),
        ("conflict", "permanent", (), None),
        (None, "stale", (), None),
    ],
)
def test_what_a_repair_does_to_each_entry(found, state, flags, action):
    assert policy.repair(entry(state=state, flags=flags), found) == action


@pytest.mark.parametrize(
    "state, flags, lladdr, owner, why",
    [
        ("permanent", (), CACHED, None, "permanent: configuration, never forgotten"),
        ("noarp", (), CACHED, None, "noarp: configuration, never forgotten"),
        ("reachable", ("extern_learn",), CACHED, None, "extern_learn: a routing daemon's entry"),
        ("reachable", ("managed",), CACHED, None, "managed: a routing daemon's entry"),
        ("incomplete", (), None, None, "incomplete: holds no MAC"),
        ("failed", (), None, None, "failed: holds no MAC"),
        ("reachable", (), CACHED, CACHED, "holds the owner's MAC"),
        ("reachable", (), CACHED, OTHER, None),
        ("stale", (), CACHED, None, None),
        ("delay", (), CACHED, OTHER, None),
    ],
)
def test_why_forget_keeps_an_entry(state, flags, lladdr, owner, why):
    assert policy.why_kept(entry(state=state, flags=flags, lladdr=lladdr), owner) == why


def test_targets_hold_single_addresses_cidrs_and_scoped_ones():
    targets = policy.Targets(places("192.0.2.10", "198.51.100.0/24", "fe80::1%eth1", "2001:db8::/64"))
    ip = ipaddress.ip_address
    assert targets.hold(ip("192.0.2.10"), "eth0") and targets.hold(ip("192.0.2.10"), "eth9")
    assert not targets.hold(ip("192.0.2.11"), "eth0")
    assert targets.hold(ip("198.51.100.200"), "eth0")
    assert targets.hold(ip("fe80::1"), "eth1") and not targets.hold(ip("fe80::1"), "eth0")
    assert targets.hold(ip("2001:db8::7"), "eth3") and not targets.hold(ip("2001:db8:1::7"), "eth3")
    assert targets.scopes == ["eth1"]


def test_forget_deletes_the_wrong_keeps_the_rest_and_names_what_no_entry_holds():
    entries = [
        entry("192.0.2.10", "reachable", lladdr=OTHER),  # the old MAC: goes
        entry("192.0.2.11", "reachable", lladdr=CACHED),  # the owner's: kept
        entry("192.0.2.12", "permanent", lladdr=OTHER),  # configuration: kept
        entry("192.0.2.13", "stale", lladdr=OTHER),  # excluded: kept
        entry("192.0.2.14", "failed", lladdr=None),  # holds no MAC: kept
        entry("192.0.2.99", "stale", lladdr=OTHER),  # not asked about: not looked at
        entry("198.51.100.7", "delay", lladdr=OTHER, ifname="eth1", ifindex=3),  # in the CIDR: goes
    ]
    targets = policy.Targets(places(*[f"192.0.2.{n}" for n in range(10, 16)], "198.51.100.0/24"))
    doomed, kept, not_cached = policy.forgotten(entries, targets, places("192.0.2.13"), {None: CACHED})
    assert [e["dst"] for e in doomed] == ["192.0.2.10", "198.51.100.7"]
    assert kept == {
        "eth0": {
            "192.0.2.11": "holds the owner's MAC",
            "192.0.2.12": "permanent: configuration, never forgotten",
            "192.0.2.13": "excluded",
            "192.0.2.14": "failed: holds no MAC",
        }
    }
    assert not_cached == ["192.0.2.15"]


def test_forget_takes_each_address_owner_before_the_one_for_every_address():
    entries = [entry("192.0.2.10", lladdr=OTHER), entry("192.0.2.11", lladdr=OTHER)]
    owners = {ipaddress.ip_address("192.0.2.10"): OTHER, None: CACHED}
    doomed, kept, _ = policy.forgotten(entries, policy.Targets(places("192.0.2.0/24")), [], owners)
    assert [e["dst"] for e in doomed] == ["192.0.2.11"]
    assert kept == {"eth0": {"192.0.2.10": "holds the owner's MAC"}}


def test_verdicts_put_each_entry_under_its_outcome_and_warn_of_conflicts(caplog):
    asked = [entry(f"192.0.2.{n}") for n in (1, 2, 3, 4)]
    answers = {(2, "192.0.2.1"): [CACHED], (2, "192.0.2.2"): [OTHER], (2, "192.0.2.3"): [CACHED, OTHER]}
    found = policy.verdicts(asked, answers, {"eth1": {"192.0.2.9": "eth1 is down"}})
    assert found == {
        "ok": {"eth0": {"192.0.2.1": CACHED}},
        "mismatch": {"eth0": {"192.0.2.2": {"cached": CACHED, "answered": [OTHER]}}},
        "conflict": {"eth0": {"192.0.2.3": {"cached": CACHED, "answered": [CACHED, OTHER]}}},
        "unanswered": {"eth0": {"192.0.2.4": CACHED}},
        "skipped": {"eth1": {"192.0.2.9": "eth1 is down"}},
    }
    assert "several MACs answer for 192.0.2.3 on eth0" in caplog.text


def test_reports_by_interface_and_their_count():
    entries = [entry("192.0.2.1"), entry("192.0.2.2", ifname="eth1"), entry("192.0.2.3", lladdr=OTHER)]
    report = policy.cached_macs(entries)
    assert report == {"eth0": {"192.0.2.1": CACHED, "192.0.2.3": OTHER}, "eth1": {"192.0.2.2": CACHED}}
    assert policy.count(report) == 3 and policy.count({}) == 0


def test_the_policy_imports_no_salt_and_no_other_helper():
    with open(policy.__file__, encoding="utf-8") as source:
        imports = [line for line in source if line.startswith(("import ", "from "))]
    assert imports == ["import ipaddress\n", "import logging\n"]


# ------------------------------------------------------------- diagnose

TIMERS = {"delay_first_probe_time": 5, "ucast_solicit": 3, "retrans_time_ms": 1000, "arp_notify": 1}


def facts(entries=300, counters=None, **interfaces):
    return {
        "kernel_entries": entries,
        "gc_thresh1": 128,
        "gc_thresh2": 512,
        "gc_thresh3": 1024,
        "counters": {"table_fulls": 0, **(counters or {})},
        "interfaces": interfaces or {"eth0": dict(TIMERS)},
    }


def names(found):
    return [finding["finding"] for finding in found]


def test_a_host_with_the_kernels_defaults_and_a_busy_table_has_no_findings():
    assert policy.findings("inet", facts()) == []
    assert policy.findings("inet6", facts(eth0={**TIMERS, "arp_notify": 0})) == [], "arp_notify is IPv4's"


def test_below_gc_thresh1_stale_entries_are_never_collected():
    [finding] = policy.findings("inet", facts(entries=40))
    assert finding == {
        "finding": "below_gc_thresh1",
        "risk": "The kernel's inet table holds 40 entries, below gc_thresh1 (128), where the kernel never collects "
        "STALE entries: a reused address's old MAC can stay until an interval job or the reactor removes it.",
        "facts": {"kernel_entries": 40, "gc_thresh1": 128},
        "pillar": {"arp_hygiene": {"sysctl": {"net.ipv4.neigh.default.gc_thresh1": 0}}},
    }
    assert names(policy.findings("inet", facts(entries=128))) == [], "at gc_thresh1 the kernel collects"


@pytest.mark.parametrize("entries, near", [(818, False), (820, True), (1024, True)])
def test_near_gc_thresh3_from_four_fifths_of_it(entries, near):
    found = policy.findings("inet6", facts(entries=entries))
    assert names(found) == (["near_gc_thresh3"] if near else [])
    if near:
        assert found[0]["facts"] == {"kernel_entries": entries, "gc_thresh3": 1024}
        assert "ENOBUFS, 'neighbour table overflow'" in found[0]["risk"]
        assert found[0]["pillar"] == {
            "arp_hygiene": {
                "sysctl": {"net.ipv6.neigh.default.gc_thresh2": 1024, "net.ipv6.neigh.default.gc_thresh3": 2048}
            }
        }


def test_a_table_that_overflowed_since_boot_says_how_often():
    [finding] = policy.findings("inet", facts(counters={"table_fulls": 17}))
    assert finding["finding"] == "table_full" and finding["facts"] == {"table_fulls": 17, "gc_thresh3": 1024}
    assert finding["risk"].startswith("The kernel refused 17 new inet entries since boot (table_fulls)")


def test_slow_reprobe_names_the_interface_the_seconds_and_the_timers_to_set_back():
    slow = {**TIMERS, "delay_first_probe_time": 30, "retrans_time_ms": 2000}
    [finding] = policy.findings("inet", facts(eth0=dict(TIMERS), eth1=slow))
    assert finding["finding"] == "slow_reprobe"
    assert finding["facts"] == {
        "interface": "eth1",
        "seconds": 36.0,
        "delay_first_probe_time": 30,
        "ucast_solicit": 3,
        "retrans_time_ms": 2000,
    }
    assert finding["risk"].startswith("On eth1, a MAC that stopped answering is used for up to 36 s")
    assert finding["pillar"]["arp_hygiene"]["sysctl"] == {
        "net.ipv4.neigh.eth1.delay_first_probe_time": 5,
        "net.ipv4.neigh.eth1.retrans_time_ms": 1000,
    }
    quicker = {**TIMERS, "ucast_solicit": 1}
    assert names(policy.findings("inet", facts(eth0=quicker))) == [], "quicker than the default is no risk"


def test_arp_notify_off_points_at_the_formulas_own_key():
    [finding] = policy.findings("inet", facts(eth0={**TIMERS, "arp_notify": 0}))
    assert finding["finding"] == "arp_notify_off" and finding["facts"] == {"interface": "eth0", "arp_notify": 0}
    assert finding["pillar"] == {"arp_hygiene": {"announce": {"arp_notify": True}}}


def test_every_finding_is_named_in_findings_and_in_order():
    everything = facts(
        entries=40,
        counters={"table_fulls": 1},
        eth0={**TIMERS, "delay_first_probe_time": 9, "arp_notify": 0},
    )
    everything["gc_thresh3"] = 48  # 40 entries: below gc_thresh1 and near gc_thresh3 at once
    found = policy.findings("inet", everything)
    assert names(found) == list(policy.FINDINGS)
    for finding in found:
        # One sentence each (a decimal point aside).
        assert finding["risk"].endswith(".") and ". " not in finding["risk"], finding["risk"]


def test_fail_on_names_findings_as_the_formula_and_the_state_ask():
    assert policy.settings_problem({"fail_on": []}) is None
    assert policy.settings_problem({"fail_on": ["table_full", "slow_reprobe"]}) is None
    for bad in (["table_fulls"], "table_full", [1], None):
        assert policy.settings_problem({"fail_on": bad}) == ("fail_on", "a list of " + ", ".join(policy.FINDINGS))


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("timeout", [0.1, 1, 30], [0, -1, 31, True, None, "2", float("nan"), float("inf")]),
        ("rate", [1, 200, 10000, 2.5], [0, 0.5, 10001, True, None, "9; touch x"]),
    ],
)
def test_verifys_limits_as_pillar_gives_them(key, good, bad):
    # A YAML number only: the module's calls take a command line's "2" (arguments.number).
    for value in good:
        assert policy.settings_problem({key: value, "enabled": "not looked at"}) is None, value
    for value in bad:
        assert policy.settings_problem({key: value}) == (key, policy.ALLOWED[key]), value
    assert policy.ALLOWED["timeout"] == "a number of seconds above 0, at most 30"
    assert policy.ALLOWED["rate"] == "questions per second, from 1 to 10000"


@pytest.mark.parametrize(
    ("state", "flags", "asked"),
    [
        ("reachable", [], True),
        ("stale", ["router"], True),
        ("permanent", [], True),  # the kernel never takes an answer into it
        ("noarp", [], True),
        ("reachable", ["extern_learn"], False),  # it would: a routing daemon's entry
        ("stale", ["managed"], False),
    ],
)
def test_only_a_routing_daemons_entries_are_never_asked_of_the_whole_segment(state, flags, asked):
    assert policy.asked_of_the_segment({"state": state, "flags": flags}) is asked


def test_limits_in_words_puts_the_limits_where_their_names_stand():
    text = "above 0, at most TIMEOUT_MAX; from RATE_MIN to RATE_MAX; over RUN_LIMIT s"
    assert policy.limits_in_words(text) == "above 0, at most 30; from 1 to 10000; over 300 s"
    assert policy.limits_in_words("no names here") == "no names here"
