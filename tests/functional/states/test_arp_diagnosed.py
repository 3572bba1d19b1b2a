"""The arp.diagnosed state through Salt's state system, on a namespace of the test's own."""

import re


def test_diagnosed_fails_only_on_what_fail_on_names_and_changes_nothing(loaders, netlab):
    ns = netlab.namespace("diagnosed")
    ns.batch(["link add eth0 type veth peer name eth1", "addr add 192.0.2.1/24 dev eth0", "link set eth0 up"])
    ns.sysctl(**{"net.ipv4.neigh.eth0.delay_first_probe_time": 30})

    reported = loaders.states.arp.diagnosed(name="db", netns=ns.name, family="inet")

    assert reported.result is True and reported.changes == {}
    assert "slow_reprobe: On eth0, a MAC that stopped answering is used for up to 33 s" in reported.comment
    assert "Pillar: {'arp_hygiene': {'sysctl': {'net.ipv4.neigh.eth0.delay_first_probe_time': 5}}}" in reported.comment

    failed = loaders.states.arp.diagnosed(name="db", netns=ns.name, family="inet", fail_on=["slow_reprobe"])
    assert failed.result is False and failed.changes == {}
    assert failed.comment.startswith("Findings that must not hold: slow_reprobe.\n")

    dry = loaders.states.arp.diagnosed(name="db", netns=ns.name, family="inet", fail_on=["slow_reprobe"], test=True)
    # The kernel's count of its table (all namespaces) may move between two runs.
    counted = re.compile(r"holds \d+ entries")
    assert (dry.result, counted.sub("holds N entries", dry.comment)) == (
        failed.result,
        counted.sub("holds N entries", failed.comment),
    ), "test mode says what the live run does"

    refused = loaders.states.arp.diagnosed(name="db", netns=ns.name, fail_on=["slow"])
    assert refused.result is False and refused.comment.startswith(
        "Cannot diagnose the neighbour table: fail_on must be"
    )
