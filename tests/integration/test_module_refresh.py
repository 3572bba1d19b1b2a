"""
A changed helper synced into a running minion is the code its next job runs.

Salt runs ``arp.py`` again on a module refresh, but a plain ``import`` of a
helper would keep the first copy for the life of the process. A minion that
runs jobs in threads (``multiprocessing: False``) keeps its loaded modules in
the one process, so it is the minion that shows the difference.
"""

import os
import time

from tests.support import REPO
from tests.support.master import Client

MINION = "arp-threads"
MARK = 424242.0  # every age the changed helper reports


def ages(salt_cli, ns):
    """The ``confirmed`` ages that arp.list reports for the namespace's entries."""
    ret = salt_cli.run("arp.list", f"netns={ns.name}", "family=all", minion_tgt=MINION)
    assert ret.returncode == 0, ret
    return {entry["confirmed"] for entry in ret.data if entry["confirmed"] is not None}


def test_a_changed_helper_synced_into_a_running_minion_is_picked_up(master, trees, table):
    ns, _ = table
    with open(os.path.join(REPO, "salt", "_modules", "_arp_hygiene_neighbours.py"), encoding="utf-8") as source:
        original = source.read()
    changed = original.replace("    return round(ticks / HZ, 2)\n", f"    return {MARK}\n")
    assert changed != original, "the helper's age() is not where this test expects it"

    factory = master.salt_minion_daemon(MINION, overrides={"multiprocessing": False})
    salt_cli = Client(master)
    # The first root of the master's file_roots wins over the checkout's copy.
    override = trees[0] / "_modules"
    with factory.started():
        synced = salt_cli.run("saltutil.sync_modules", minion_tgt=MINION)
        assert synced.returncode == 0, synced
        before = ages(salt_cli, ns)
        assert before and MARK not in before, "arp is loaded, with the real helper"

        override.mkdir()
        try:
            (override / "_arp_hygiene_neighbours.py").write_text(changed)
            synced = salt_cli.run("saltutil.sync_modules", minion_tgt=MINION)
            assert synced.returncode == 0 and "modules._arp_hygiene_neighbours" in synced.data, synced
            # The refresh that the sync asks for is handled by the minion in its own time.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                after = ages(salt_cli, ns)
                if after == {MARK}:
                    break
                time.sleep(1)
            assert after == {MARK}, "the minion still runs the helper it imported first"
        finally:
            (override / "_arp_hygiene_neighbours.py").unlink()
            override.rmdir()
            salt_cli.run("saltutil.sync_modules", minion_tgt=MINION)
