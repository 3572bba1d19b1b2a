"""
The arp module's argument checks, through the functions the Salt loader
loads: a bad argument is refused before anything touches the kernel (these
tests need no root and no namespace).
"""

import importlib.util
import os
import shutil
import sys

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import REPO, module_from_checkout


@pytest.mark.parametrize(
    "function, arguments, message",
    [
        ("flush_stale", {"states": "permanent"}, "state 'permanent' is configuration, not learned state"),
        ("flush", {"states": ["stale", "NOARP"]}, "state 'NOARP' is configuration"),
        ("list", {"states": "wobbly"}, "unknown NUD state 'wobbly'; valid states: incomplete, reachable, stale"),
        ("flush_stale", {"states": 4}, "states must be a string or a list, not int: 4"),
        ("flush_stale", {"states": " , "}, "states is empty; choose from: incomplete"),
        ("list", {"interface": 3}, "interface must be a string or a list, not int: 3"),
        ("flush", {"interface": ["eth0", ""]}, "interface names cannot be empty or blank"),
        ("list", {"family": "inet4"}, "unknown family 'inet4'; valid families: inet, inet6, all"),
        ("list", {"family": None}, "unknown family None"),
        (
            "flush_stale",
            {"network": "192.0.2.0/24", "family": "inet6"},
            "network 192.0.2.0/24 is IPv4 but family is 'inet6'",
        ),
        (
            "flush_stale",
            {"network": "fe80::%/64", "family": "inet6"},
            "network: 'fe80::%/64' is not an IPv4 or IPv6 address or CIDR",
        ),
        ("flush_stale", {"network": 5}, "network must be an address or CIDR as a string, not int: 5"),
        ("flush", {"exclude": ["192.0.2.1", 5]}, "exclude must hold strings, not int: 5"),
        ("flush", {"exclude": "192.0.2.300"}, "exclude: '192.0.2.300' is not an IPv4 or IPv6 address or CIDR"),
        ("list", {"min_age": True}, "min_age must be a number of seconds from 0, finite, not True"),
        ("list", {"min_age": float("nan")}, "min_age must be a number of seconds from 0, finite, not nan"),
        ("list", {"min_age": "inf"}, "min_age must be a number of seconds from 0, finite, not 'inf'"),
        ("flush_stale", {"test": "yes"}, "test must be True or False, not 'yes'"),
        ("verify", {"fix": 1}, "fix must be True or False, not 1"),
        ("verify", {"timeout": 31}, "timeout must be a number of seconds above 0, at most 30, not 31"),
        ("verify", {"rate": 0.5}, "rate must be a number of questions a second from 1, at most 10000, not 0.5"),
        ("announce", {"family": "ipx"}, "unknown family 'ipx'"),
        ("announce", {"interface": " "}, "interface names cannot be empty or blank"),
        (
            "list",
            {"netns": "arph-unit-no-such-namespace"},
            "network namespace 'arph-unit-no-such-namespace' does not exist",
        ),
        ("list", {"netns": ["blue"]}, "network namespace ['blue'] does not exist"),
    ],
)
def test_bad_arguments_are_refused_before_the_kernel_is_asked(arp, function, arguments, message):
    with pytest.raises(SaltInvocationError) as refused:
        getattr(arp, function)(**arguments)
    assert message in str(refused.value)


def test_virtual_refuses_other_systems(monkeypatch):
    # No kernel here can be made to be another OS: this is the path a mock is for.
    arp = module_from_checkout("arp")
    monkeypatch.setattr(arp.salt.utils.platform, "is_linux", lambda: False)
    assert arp.__virtual__() == (
        False,
        "The arp module needs Linux: it manages the Linux neighbour table over netlink.",
    )


def test_virtual_loads_on_linux_with_pyroute2(loaders):
    assert module_from_checkout("arp").__virtual__() == "arp"
    assert {"arp.list", "arp.flush_stale", "arp.flush", "arp.verify", "arp.announce"} <= set(loaders.modules)


def test_virtual_names_a_missing_helper_and_the_fix(tmp_path, monkeypatch):
    # A partial sync, or an extmod_whitelist that names some helpers only: a copy without one.
    modules = os.path.join(REPO, "salt", "_modules")
    for name in os.listdir(modules):
        if name.endswith(".py") and name != "_arp_hygiene_metrics.py":
            shutil.copy(os.path.join(modules, name), tmp_path / name)
    for name in module_from_checkout("arp").HELPERS:
        monkeypatch.delitem(sys.modules, name, raising=False)  # put back as they were after the test
    spec = importlib.util.spec_from_file_location("arp_partial", tmp_path / "arp.py")
    partial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(partial)  # no traceback: the module loads, and says why it cannot work
    assert partial.__virtual__() == (
        False,
        f"The arp module cannot load: its helper {tmp_path}/_arp_hygiene_metrics.py is missing: sync every file of "
        "_modules/ again (saltutil.sync_modules), and if extmod_whitelist names modules, list _arp_hygiene_errors, "
        "_arp_hygiene_policy, _arp_hygiene_netlink, _arp_hygiene_layouts, _arp_hygiene_neighbours, "
        "_arp_hygiene_writes, _arp_hygiene_arguments, _arp_hygiene_probe, _arp_hygiene_metrics, _arp_hygiene_watch "
        "too.",
    )


def test_version_says_which_copy_runs(arp):
    # This checkout, through the editable install's salt.loader entry point.
    assert arp.version() == {
        "version": module_from_checkout("arp").__version__,
        "file": os.path.join(REPO, "salt", "_modules", "arp.py"),
        "copy": "package",
    }


def test_verify_and_watch_state_the_policys_limits_in_their_documentation():
    arp = module_from_checkout("arp")
    policy = arp.policy
    for function in (arp.verify, arp.watch):
        assert not any(token in function.__doc__ for token in ("TIMEOUT_MAX", "RATE_MIN", "RATE_MAX", "RUN_LIMIT"))
        assert f"at most {policy.TIMEOUT_LIMITS[1]}." in " ".join(function.__doc__.split())
    said = " ".join(arp.verify.__doc__.split())
    assert f"from {policy.RATE_LIMITS[0]} to {policy.RATE_LIMITS[1]}." in said
    assert f"more than {policy.RUN_LIMIT} seconds" in said
