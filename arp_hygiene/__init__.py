"""
arp-hygiene as a Salt extension: tells Salt's loader where the ``arp``
execution and state modules, the ``arp_hygiene`` runner and master engine,
the ``arp`` beacon and grains module are, so that a ``pip install`` (or ``salt-pip install``) is all a
minion or master needs; no ``saltutil.sync_all``.

Registered in setup.cfg under the ``salt.loader`` entry point group.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def loader_dirs():
    """
    ``{"modules": [dir], "states": [dir], "runners": [dir], "engines": [dir], "beacons": [dir],
    "grains": [dir]}``
    for Salt's loader.

    An installed package keeps them in ``arp_hygiene/<kind>``; a source
    checkout (or an editable install) in ``salt/_<kind>``, the directory
    that the master serves.
    """
    dirs = {}
    for kind in ("modules", "states", "runners", "engines", "beacons", "grains"):
        for candidate in (os.path.join(HERE, kind), os.path.join(os.path.dirname(HERE), "salt", f"_{kind}")):
            if os.path.isdir(candidate):
                dirs[kind] = [candidate]
                break
    return dirs
