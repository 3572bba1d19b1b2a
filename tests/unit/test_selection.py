"""Argument checking, which happens before anything touches the kernel."""

import ipaddress
import socket

import pytest
from salt.exceptions import SaltInvocationError

from tests.conftest import module_from_checkout

arp = module_from_checkout("arp")


def select(flushing=True, **kwargs):
    arguments = {"interface": None, "states": "stale", "family": "inet", "network": None, "exclude": None, "min_age": 0, "netns": None}
    arguments.update(kwargs)
    return arp._selection(flushing=flushing, **arguments)  # pylint: disable=protected-access


@pytest.mark.parametrize(
    "states, bits",
    [
        ("stale", {0x04}),
        ("STALE", {0x04}),
        ("stale, failed", {0x04, 0x20}),
        (["incomplete", "probe"], {0x01, 0x10}),
        (None, {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20}),  # flush: every learned state
    ],
)
def test_states(states, bits):
    assert select(states=states)["states"] == bits


def test_list_accepts_every_state_by_default():
    assert select(flushing=False, states=None)["states"] == {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}


def test_selection_is_parsed():
    selection = select(interface="eth0", family="all", network="192.0.2.0/24", exclude="192.0.2.1, 2001:db8::/32", min_age="30")
    assert selection == {
        "interfaces": ["eth0"],
        "states": {0x04},
        "family": socket.AF_UNSPEC,
        "network": (ipaddress.ip_network("192.0.2.0/24"), None),
        "exclude": [(ipaddress.ip_network("192.0.2.1/32"), None), (ipaddress.ip_network("2001:db8::/32"), None)],
        "scopes": set(),
        "min_age": 30.0,
        "flushing": True,
        "where": "the minion's network namespace",
        "state_table": bytes(1 if value == 0x04 else 0 for value in range(256)),
    }


def test_scope_ids_name_interfaces():
    selection = select(family="inet6", network="fe80::%eth0/64", exclude="fe80::1%eth1")
    assert selection["network"] == (ipaddress.ip_network("fe80::%eth0/64"), "eth0")
    assert selection["exclude"][0][1] == "eth1" and selection["scopes"] == {"eth0", "eth1"}


def test_interface_names_are_not_split():
    assert select(interface=["eth0", "eth1"])["interfaces"] == ["eth0", "eth1"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"states": "permanent"}, "configuration"),
        ({"states": "wobbly"}, "unknown NUD state 'wobbly'"),
        ({"states": 4}, "states must be a string or a list"),
        ({"interface": 3}, "interface must be a string or a list"),
        ({"family": "inet4"}, "unknown family"),
        ({"network": "192.0.2.0/24", "family": "inet6"}, "is IPv4 but family is 'inet6'"),
        ({"exclude": ["192.0.2.1", 5]}, "exclude must hold strings"),
        ({"min_age": True}, "min_age must be a number"),
        ({"min_age": float("nan")}, "zero or more"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(SaltInvocationError, match=message):
        select(**arguments)


def test_virtual_refuses_other_systems(monkeypatch):
    # No kernel here can be made to be another OS: this is the path a mock is for.
    monkeypatch.setattr(arp.salt.utils.platform, "is_linux", lambda: False)
    assert arp.__virtual__() == (
        False,
        "The arp module needs Linux: it manages the Linux neighbour table over netlink.",
    )


def test_virtual_loads_on_linux_with_pyroute2():
    assert arp.__virtual__() == "arp"
