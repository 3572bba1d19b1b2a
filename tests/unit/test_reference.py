"""
The reference cannot miss a function: every function that Salt's loader gives
the execution module `arp`, the state module `arp` and the runner
`arp_hygiene` (this checkout's, through the package's salt.loader entry
point) has its entry in the site that
sphinx builds from docs/, as ./run docs builds it. The site is built once, on
the first Salt of tests/salt-versions.txt (pytest.mark.once), whose
virtualenv has the docs' tools.
"""

import os
import re
import subprocess
import sys

import pytest
import salt.config
import salt.loader

from tests.support import REPO

pytestmark = pytest.mark.once


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", os.path.join(REPO, "docs"), str(out)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def entries(site, page, module, prefix="arp"):
    """The functions that a reference page of the built site has an entry for."""
    html = (site / "reference" / page).read_text(encoding="utf-8")
    return {f"{prefix}.{name}" for name in re.findall(rf'id="{module}\.([A-Za-z_]\w*)"', html)}


def test_every_function_of_the_execution_module_has_its_entry_in_the_reference(loaders, site):
    functions = set(loaders.modules["sys.list_functions"]("arp"))
    assert {"arp.flush_stale", "arp.diagnose"} <= functions, functions
    assert entries(site, "execution-module.html", "arp_execution_module") == functions


def test_every_state_has_its_entry_in_the_reference(loaders, site):
    states = set(loaders.modules["sys.list_state_functions"]("arp"))
    assert {"arp.no_stale", "arp.diagnosed"} <= states, states
    assert entries(site, "states.html", "arp_state_module") == states


def test_every_runner_function_has_its_entry_in_the_reference(site, tmp_path):
    opts = {**salt.config.DEFAULT_MASTER_OPTS, "cachedir": str(tmp_path), "extension_modules": str(tmp_path)}
    functions = {name for name in salt.loader.runner(opts) if name.startswith("arp_hygiene.")}
    assert {"arp_hygiene.forget", "arp_hygiene.audit"} <= functions, functions
    assert entries(site, "runner.html", "arp_hygiene_runner", prefix="arp_hygiene") == functions
