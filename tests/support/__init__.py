"""
What the tests share: the namespace lab (also ./run demo), table oracles,
the master's test setup, and the rule that nothing skips in CI.
"""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IN_CI = bool(os.environ.get("CI"))


def unavailable(reason):
    """Skip here; in CI, where every kernel and Salt test must run, fail."""
    import pytest  # pylint: disable=import-outside-toplevel  (the demo imports this package without pytest)

    if IN_CI:
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


MODULES = os.path.join(REPO, "salt", "_modules")


def module_from_checkout(name):
    """
    A file of salt/_modules/ (``arp``, ``_arp_hygiene_netlink``...) as plain
    Python, for tests of its code; the helpers it imports by name are found
    there too.
    """
    if MODULES not in sys.path:
        sys.path.append(MODULES)
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "salt", "_modules", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout_file(path):
    """A Python file of the checkout (``salt/arp_hygiene/map.py``, ``salt/_beacons/arp.py``), loaded by its path."""
    spec = importlib.util.spec_from_file_location(
        f"arp_hygiene_{path.replace('/', '_')[:-3]}", os.path.join(REPO, path)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def formula_defaults():
    """
    The formula's settings with the default pillar, as its map.py completes
    defaults.yaml: with the settings of the beacon, the runner and the
    policy that are theirs (checks.yaml's ``ask``).
    """
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel  (the demo imports this package without Salt)

    def load(name):
        with open(os.path.join(REPO, "salt", "arp_hygiene", name), encoding="utf-8") as stream:
            return salt.utils.yaml.safe_load(stream)

    rules = load("checks.yaml")
    extensions = {key: checkout_file(f"salt/{rule['ask']}") for key, rule in rules.items() if "ask" in rule}
    formula_map = checkout_file("salt/arp_hygiene/map.py")
    return formula_map.with_extensions_defaults(load("defaults.yaml")["arp_hygiene"], rules, extensions)
