"""
The argument checks on their own: what each accepts and how it words a
refusal (the module page's tests, tests/unit/modules/test_arp.py, show the
same words reach Salt's callers). No kernel is asked but for the list of
named namespaces; no root.
"""

import ipaddress
import socket

import pytest

from tests.support import module_from_checkout

arguments = module_from_checkout("_arp_hygiene_arguments")
netlink = module_from_checkout("_arp_hygiene_netlink")


def refused(call, *args, **kwargs):
    with pytest.raises(arguments.ArgumentError) as err:
        call(*args, **kwargs)
    return str(err.value)


def test_names_take_a_name_a_comma_separated_string_or_a_list():
    assert arguments.names("stale, failed,", "states") == ["stale", "failed"]
    assert arguments.names(["eth0", " eth1 "], "interface", split=False) == ["eth0", "eth1"]
    assert arguments.names(b"eth0", "interface", split=False) == ["eth0"]
    assert arguments.names(None, "interface") == []
    assert "interface names cannot be empty or blank" in refused(arguments.names, ["eth0", " "], "interface", False)
    assert refused(arguments.names, 4, "states") == "states must be a string or a list, not int: 4"


def test_families_by_name_any_case():
    assert [arguments.family(name) for name in ("inet", "INET6", "all")] == [
        socket.AF_INET,
        socket.AF_INET6,
        socket.AF_UNSPEC,
    ]
    assert arguments.families(socket.AF_UNSPEC) == (socket.AF_INET, socket.AF_INET6)
    assert refused(arguments.family, "ipx") == "unknown family 'ipx'; valid families: inet, inet6, all"


@pytest.mark.parametrize(
    "value, accepted",
    [(0, 0.0), ("2.5", 2.5), (30, 30.0), (True, None), ("nan", None), (float("inf"), None), (-1, None), (31, None)],
)
def test_numbers_are_finite_within_their_bounds(value, accepted):
    if accepted is None:
        assert refused(arguments.number, value, "timeout", "seconds", 0, 30) == (
            f"timeout must be a number of seconds from 0, at most 30, not {value!r}"
        )
    else:
        assert arguments.number(value, "timeout", "seconds", 0, 30) == accepted
    assert "above 0" in refused(arguments.number, 0, "timeout", "seconds", 0, 30, above_low=True)


def test_networks_carry_their_ipv6_scope_as_an_interface_name():
    assert arguments.network("192.0.2.7", "exclude") == (ipaddress.ip_network("192.0.2.7/32"), None)
    network, scope = arguments.network("fe80::%eth1/64", "network")
    assert (network.prefixlen, scope) == (64, "eth1")
    assert "is not an IPv4 or IPv6 address or CIDR" in refused(arguments.network, "192.0.2.300", "exclude")
    assert "must be an address or CIDR as a string, not int: 5" in refused(arguments.network, 5, "network")
    assert refused(arguments.places, " , ") == (
        "addresses is empty: give the addresses or CIDRs whose entries to forget"
    )


def test_macs_and_owners():
    assert arguments.mac(" 02-00-00-00-20-0A ") == "02:00:00:00:20:0a"
    assert "is not a MAC" in refused(arguments.mac, "02:00:00:00:20")
    assert arguments.owner_macs("02:00:00:00:20:02") == {None: "02:00:00:00:20:02"}
    assert arguments.owner_macs({"192.0.2.20": "02:00:00:00:20:02"}) == {
        ipaddress.ip_address("192.0.2.20"): "02:00:00:00:20:02"
    }
    assert refused(arguments.owner_macs, {"web1": "02:00:00:00:20:02"}) == (
        "lladdr: 'web1' is not an IPv4 or IPv6 address"
    )
    assert "is not a MAC" in refused(arguments.owner_macs, {"192.0.2.20": "nope"})
    assert arguments.owner_macs(None) == {} == arguments.owner_macs("")


def test_a_selection_for_a_flush_never_names_configuration():
    checked = arguments.selection("eth0", "stale,FAILED", "all", "192.0.2.0/24", "192.0.2.1", "5", None, True)
    assert checked["states"] == {netlink.NUD_STATES["stale"], netlink.NUD_STATES["failed"]}
    assert checked["family"] == socket.AF_UNSPEC and checked["min_age"] == 5.0
    assert checked["interfaces"] == ["eth0"] and checked["exclude"][0][0].num_addresses == 1
    every = arguments.selection(None, None, "inet", None, None, 0, None, True)["states"]
    assert every == {bit for name, bit in netlink.NUD_STATES.items() if name not in ("permanent", "noarp")}
    assert "is configuration, not learned state, and is never flushed" in refused(
        arguments.selection, None, "noarp", "inet", None, None, 0, None, True
    )
    assert "network 192.0.2.0/24 is IPv4 but family is 'inet6'" in refused(
        arguments.selection, None, None, "inet6", "192.0.2.0/24", None, 0, None, False
    )
    assert "does not exist" in refused(arguments.selection, None, None, "inet", None, None, 0, "arph-unit-none", False)


def test_interfaces_are_checked_against_the_links():
    links = {
        2: {"ifname": "eth0", "type": 1, "mac": b"\2\0\0\0\0\1", "up": True, "addresses": [(socket.AF_INET, "x", 24)]},
        3: {"ifname": "tun0", "type": 65534, "mac": None, "up": True, "addresses": []},
        4: {"ifname": "eth1", "type": 1, "mac": b"\2\0\0\0\0\2", "up": False, "addresses": []},
    }
    arguments.ethernet(["eth0"], socket.AF_INET, links, None)
    assert refused(arguments.ethernet, ["eth9"], socket.AF_INET, links, "blue") == (
        "no interface named 'eth9' in network namespace 'blue'; interfaces there: 'eth0', 'eth1', 'tun0'"
    )
    assert "is not an Ethernet interface (link none (tun, wireguard))" in refused(
        arguments.ethernet, ["tun0"], socket.AF_UNSPEC, links, None
    )
    assert refused(arguments.ethernet, ["eth1"], socket.AF_UNSPEC, links, None, need_up=True) == (
        "interface 'eth1' is down: nothing can be sent from it"
    )
    assert refused(arguments.ethernet, ["eth0"], socket.AF_INET6, links, None) == (
        "interface 'eth0' has no IPv6 address: it takes no part in neighbour discovery"
    )


def test_a_verify_run_that_would_take_too_long_is_refused(tmp_path):
    arguments.run_length(60000, 200)
    assert refused(arguments.run_length, 60001, 200) == (
        "asking about 60001 entries at 200 a second would take 300 s, over the 300 s a verify run may take: "
        "raise rate or narrow the selection"
    )
    assert arguments.directory(str(tmp_path), "metrics_dir") == str(tmp_path)
    assert refused(arguments.directory, "relative", "metrics_dir") == (
        "metrics_dir must be the absolute path of an existing directory, not 'relative'"
    )


def test_a_sweep_is_only_for_a_run_that_fixes():
    # A sweep's answers reach this host's kernel, which may take them: a run
    # that only reports asks each cached MAC alone.
    assert arguments.fix_and_sweep(True, True) == (True, True)
    assert arguments.fix_and_sweep(True, False) == (True, False)
    assert arguments.fix_and_sweep(False, False) == (False, False)
    assert "use it with fix=True" in refused(arguments.fix_and_sweep, False, True)
    assert refused(arguments.fix_and_sweep, True, "yes") == "sweep must be True or False, not 'yes'"


def test_announce_repeats_a_whole_count_of_times_seconds_apart_in_a_mode():
    assert arguments.announcing(3, 1, "request") == (3, 1.0, "request")
    assert arguments.announcing("5", "0.5", "both") == (5, 0.5, "both")
    assert arguments.announcing(100, 0, "reply") == (100, 0.0, "reply")
    assert "count must be a number of announcements from 1, at most 100, not 0" in refused(
        arguments.announcing, 0, 1, "request"
    )
    assert "count must be a whole number" in refused(arguments.announcing, 2.5, 1, "request")
    assert "interval must be a number of seconds from 0, at most 60, not 61" in refused(
        arguments.announcing, 3, 61, "request"
    )
    assert refused(arguments.announcing, 3, 1, "garp") == "mode must be request, reply or both, not 'garp'"


def test_fail_on_names_findings_of_the_policy():
    assert arguments.findings(None) == []
    assert arguments.findings(["table_full", "slow_reprobe"]) == ["table_full", "slow_reprobe"]
    allowed = "a list of " + ", ".join(module_from_checkout("_arp_hygiene_policy").FINDINGS)
    for bad in ("table_full", ["table_fulls"], [1]):
        assert refused(arguments.findings, bad) == f"fail_on must be {allowed}, not {bad!r}"
