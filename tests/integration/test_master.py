"""The modules on a real minion, driven through a real master."""

import filecmp
import os

from tests.support import REPO
from tests.support.master import DB
from tests.support.tables import keys, matches, snapshot


def test_sync_all_delivers_the_modules_and_their_helpers_from_the_fileserver(salt_cli, db_minion):
    ret = salt_cli.run("saltutil.sync_all", minion_tgt=DB)
    assert ret.returncode == 0, ret
    extmods = db_minion.config["extension_modules"]
    for kind, name in (
        ("modules", "arp.py"),
        ("modules", "_arp_hygiene_netlink.py"),
        ("modules", "_arp_hygiene_probe.py"),
        ("states", "arp.py"),
    ):
        synced = os.path.join(extmods, kind, name)
        assert filecmp.cmp(synced, os.path.join(REPO, f"_{kind}", name), shallow=False), synced
    # The helpers are synced, never loaded as modules of their own.
    listed = salt_cli.run("sys.list_modules", minion_tgt=DB)
    assert "arp" in listed.data and not any(name.startswith("_arp_hygiene") for name in listed.data), listed


def test_flush_stale_through_the_master(salt_cli, table):
    ns, before = table
    stale = {key for key, value in before.items() if matches(key, value, family="all")}

    ret = salt_cli.run("arp.flush_stale", f"netns={ns.name}", "family=all", minion_tgt=DB)

    assert ret.returncode == 0, ret
    assert keys(ret.data["deleted"]) == stale
    assert ret.data["vanished"] == {}
    assert snapshot(ns) == {key: value for key, value in before.items() if key not in stale}


def test_bad_arguments_through_the_master_change_nothing(salt_cli, table):
    ns, before = table
    ret = salt_cli.run("arp.flush_stale", f"netns={ns.name}", "states=stale,permanent", minion_tgt=DB)
    assert ret.returncode != 0
    assert "state 'permanent' is configuration, not learned state, and is never flushed" in str(ret.data)
    assert snapshot(ns) == before


def test_no_stale_state_through_the_master(salt_cli, table, testmode):
    ns, before = table
    stale = {key for key, value in before.items() if matches(key, value, family="all")}

    ret = salt_cli.run(
        "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "family=all", f"test={testmode}", minion_tgt=DB
    )

    assert ret.returncode == 0, ret
    (state,) = ret.data.values()
    assert keys(state["changes"]["deleted"]) == stale
    if testmode:
        assert state["result"] is None
        assert snapshot(ns) == before
    else:
        assert state["result"] is True
        assert snapshot(ns) == {key: value for key, value in before.items() if key not in stale}
        again = salt_cli.run(
            "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "family=all", minion_tgt=DB
        )
        (state,) = again.data.values()
        assert state["result"] is True and state["changes"] == {}
        assert (
            state["comment"]
            == f"No stale entries in the neighbour table of network namespace {ns.name}: already clean."
        )
