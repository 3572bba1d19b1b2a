"""
The formula's data files: pillar.example documents the settings of
defaults.yaml (the same keys and values, each key commented); the NUD state
names the formula accepts are the arp module's.
"""

import os
import re

import salt.utils.yaml

from tests.support import REPO, formula_defaults, module_from_checkout


def load(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as stream:
        return stream.read()


def test_pillar_example_holds_exactly_the_defaults():
    # As map.py completes them: the beacon's, the runner's and the policy's own with them.
    assert salt.utils.yaml.safe_load(load("pillar.example")) == {"arp_hygiene": formula_defaults()}


def test_every_key_of_pillar_example_has_a_comment_above_it():
    lines = load("pillar.example").splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        if re.match(r"\s+[a-z_]+:", line):
            above = lines[number - 1].strip()
            if not above.startswith("#"):
                uncommented.append(line.strip())
    assert uncommented == []


def test_the_policys_nud_state_names_are_the_kernels_as_pyroute2_names_them():
    from pyroute2.netlink.rtnl.ndmsg import states  # pylint: disable=import-outside-toplevel

    policy = module_from_checkout("_arp_hygiene_policy")
    assert set(policy.NUD_NAMES) == set(states), "every state the kernel has, by pyroute2's names"
    assert "noarp" not in policy.VERIFIABLE_STATES and "permanent" in policy.VERIFIABLE_STATES
    assert not set(policy.flushable_states()) & set(policy.CONFIGURED_STATES)


def test_platform_files_override_only_the_formulas_platform_data():
    directory = os.path.join(REPO, "salt", "arp_hygiene", "parameters", "os_family")
    defaults = salt.utils.yaml.safe_load(load("salt", "arp_hygiene", "defaults.yaml"))["formula"]
    files = sorted(os.listdir(directory))
    assert files == ["Arch.yaml", "RedHat.yaml"]
    for name in files:
        data = salt.utils.yaml.safe_load(load("salt", "arp_hygiene", "parameters", "os_family", name))
        assert list(data) == ["formula"] and set(data["formula"]) <= set(defaults), name
        assert data["formula"]["cron_package"] == "cronie"


def _problems(pillar):
    from tests.unit.formula.test_formula_map import problems_of  # pylint: disable=import-outside-toplevel

    return problems_of(pillar)[0]


def _accepts(error, call, *args, **kwargs):
    """Does ``call`` take these arguments (raising no ``error``)?"""
    try:
        call(*args, **kwargs)
    except error:
        return False
    return True


def test_the_formula_and_announce_accept_the_same_counts_intervals_and_modes():
    # The module's rules, which the formula checks pillar by when it renders
    # (before the module may load: pyroute2 may not be installed yet).
    arguments = module_from_checkout("_arp_hygiene_arguments")
    cases = [("count", value, (value, 1, "request")) for value in [0, 1, 3, 100, 101, 2.5, True, None]]
    cases += [("interval", value, (3, value, "request")) for value in [0, 0.5, 60, 61, -1, True, None]]
    cases += [("mode", value, (3, 1, value)) for value in ["request", "reply", "both", "garp", "", None]]
    for key, value, args in cases:
        formula_ok = not _problems({"announce": {key: value}})
        assert formula_ok == _accepts(arguments.ArgumentError, arguments.announcing, *args), (key, value)
