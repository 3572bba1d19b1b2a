"""
Sphinx configuration of arp-hygiene's documentation: the user guide (Markdown,
through MyST) and a reference generated from the code's own docstrings, in
the theme the Salt extension template uses (furo). ``./run docs`` builds it;
``./run test`` builds it too, warnings as errors.
"""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The helpers import each other by name, as arp.py's loader lets them.
sys.path.insert(0, os.path.join(ROOT, "salt", "_modules"))


def _load(name, *path):
    """A Salt module file under a name of its own: the module and the state are both called arp."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_execution = _load("arp_execution_module", "salt", "_modules", "arp.py")
_execution.list = _execution.list_  # documented under the name Salt gives it (__func_alias__)
_load("arp_state_module", "salt", "_states", "arp.py")
_load("arp_hygiene_runner", "salt", "_runners", "arp_hygiene.py")
_load("arp_beacon", "salt", "_beacons", "arp.py")
_load("arp_hygiene_engine", "salt", "_engines", "arp_hygiene.py")
_load("arp_watch_engine", "salt", "_engines", "arp_watch.py")
_load("arp_grains", "salt", "_grains", "arp.py")

project = "arp-hygiene"
author = "the arp-hygiene developers"
copyright = "2026, the arp-hygiene developers"  # noqa: A001  (Sphinx's name)
release = version = _execution.__version__

extensions = ["sphinx.ext.autodoc", "myst_parser"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
autodoc_default_options = {"member-order": "bysource"}
add_module_names = False

html_theme = "furo"
html_title = f"arp-hygiene {release}"
