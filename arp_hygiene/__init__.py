"""
arp-hygiene as a Salt extension: tells Salt's loader where the ``arp``
execution and state modules are, so that a ``pip install`` (or
``salt-pip install``) is all a minion needs; no ``saltutil.sync_all``.

Registered in setup.cfg under the ``salt.loader`` entry point group.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def loader_dirs():
    """
    ``{"modules": [dir], "states": [dir]}`` for Salt's loader.

    An installed package keeps the modules in ``arp_hygiene/modules`` and
    ``arp_hygiene/states``; a source checkout (or an editable install) in
    ``salt/_modules`` and ``salt/_states``, the directory that the master
    serves.
    """
    dirs = {}
    for kind in ("modules", "states"):
        for candidate in (os.path.join(HERE, kind), os.path.join(os.path.dirname(HERE), "salt", f"_{kind}")):
            if os.path.isdir(candidate):
                dirs[kind] = [candidate]
                break
    return dirs
