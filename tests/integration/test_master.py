"""The modules on a real minion, driven through a real master."""

import filecmp
import os
import shutil
import subprocess

from tests.support import REPO, module_from_checkout
from tests.support.master import DB
from tests.support.tables import keys, matches, snapshot, without_collected


def test_sync_all_delivers_the_modules_and_their_helpers_from_the_fileserver(salt_cli, db_minion):
    ret = salt_cli.run("saltutil.sync_all", minion_tgt=DB)
    assert ret.returncode == 0, ret
    extmods = db_minion.config["extension_modules"]
    for kind, name in (
        ("modules", "arp.py"),
        ("modules", "_arp_hygiene_netlink.py"),
        ("modules", "_arp_hygiene_errors.py"),
        ("modules", "_arp_hygiene_layouts.py"),
        ("modules", "_arp_hygiene_neighbours.py"),
        ("modules", "_arp_hygiene_writes.py"),
        ("modules", "_arp_hygiene_probe.py"),
        ("modules", "_arp_hygiene_metrics.py"),
        ("modules", "_arp_hygiene_policy.py"),
        ("modules", "_arp_hygiene_arguments.py"),
        ("modules", "_arp_hygiene_watch.py"),
        ("modules", "_arp_hygiene_restart.py"),
        ("states", "arp.py"),
    ):
        synced = os.path.join(extmods, kind, name)
        assert filecmp.cmp(synced, os.path.join(REPO, "salt", f"_{kind}", name), shallow=False), synced
    # The helpers are synced, never loaded as modules of their own.
    listed = salt_cli.run("sys.list_modules", minion_tgt=DB)
    assert "arp" in listed.data and not any(name.startswith("_arp_hygiene") for name in listed.data), listed


def served_by_this_repository():
    """What the master should serve of this checkout: the files of salt/ that git tracks or would track."""
    listed = subprocess.run(
        ["git", "-C", REPO, "ls-files", "--cached", "--others", "--exclude-standard", "salt"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {path.removeprefix("salt/") for path in listed if os.path.exists(os.path.join(REPO, path))}


def test_the_master_serves_the_formula_and_modules_and_nothing_else_of_the_clone(master):
    ret = master.salt_run_cli().run("fileserver.file_list")
    assert ret.returncode == 0, ret
    served = set(ret.data) - {"top.sls"}  # the site's own state tree, beside the clone
    expected = served_by_this_repository()
    assert expected <= served and {"arp_hygiene/init.sls", "_modules/arp.py", "_states/arp.py"} <= expected
    # The formula, the modules, and the formula package's metadata and pillar example (SPM's, beside them).
    assert all(
        path.split("/")[0] in ("arp_hygiene", "_modules", "_states", "_runners", "_engines", "_beacons", "_grains")
        or path in ("FORMULA", "pillar.example")
        for path in served
    ), sorted(served)
    assert not {path for path in served if path.startswith(".git") or "README" in path or "tests/" in path}


def test_the_master_syncs_the_runner_from_what_it_serves(master):
    # A master without the pip package gets the runner this way (README).
    ret = master.salt_run_cli().run("saltutil.sync_runners")
    assert ret.returncode == 0, ret
    synced = os.path.join(master.config["extension_modules"], "runners", "arp_hygiene.py")
    assert "runners.arp_hygiene" in ret.data or os.path.exists(synced), ret.data
    with open(synced, encoding="utf-8") as copy, open(os.path.join(REPO, "salt", "_runners", "arp_hygiene.py")) as ours:
        assert copy.read() == ours.read()


def test_flush_stale_through_the_master(salt_cli, table):
    ns, before = table
    stale = {key for key, value in before.items() if matches(key, value, family="all")}

    ret = salt_cli.run("arp.flush_stale", f"netns={ns.name}", "family=all", minion_tgt=DB)

    assert ret.returncode == 0, ret
    assert keys(ret.data["deleted"]) == stale
    assert ret.data["vanished"] == {}
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in stale}, after
    )


def test_bad_arguments_through_the_master_change_nothing(salt_cli, table):
    ns, before = table
    ret = salt_cli.run("arp.flush_stale", f"netns={ns.name}", "states=stale,permanent", minion_tgt=DB)
    assert ret.returncode != 0
    assert "state 'permanent' is configuration, not learned state, and is never flushed" in str(ret.data)
    assert (after := snapshot(ns)) == without_collected(before, after)


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
        assert (after := snapshot(ns)) == without_collected(before, after)
    else:
        assert state["result"] is True
        assert (after := snapshot(ns)) == without_collected(
            {key: value for key, value in before.items() if key not in stale}, after
        )
        again = salt_cli.run(
            "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "family=all", minion_tgt=DB
        )
        (state,) = again.data.values()
        assert state["result"] is True and state["changes"] == {}
        assert (
            state["comment"]
            == f"No stale entries in the neighbour table of network namespace {ns.name}: already clean."
        )


def test_readmes_gitfs_remote_serves_a_main_branch_or_the_release_tag_it_is_pinned_to(salt_factories, tmp_path):
    # The operator's repository: this checkout's files, committed on a branch
    # named main and tagged as a release; then main moves on.
    repo = tmp_path / "arp-hygiene"
    listed = subprocess.run(
        ["git", "-C", REPO, "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for path in listed:
        if os.path.isfile(os.path.join(REPO, path)):
            os.makedirs(repo / os.path.dirname(path), exist_ok=True)
            shutil.copy2(os.path.join(REPO, path), repo / path)
    git = ("git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid")
    tag = "v" + module_from_checkout("arp").__version__
    later = "arp_hygiene/after-the-release.txt"
    for command in (
        ("init", "-q", "-b", "main"),
        ("add", "-A"),
        ("commit", "-q", "-m", "as cloned"),
        ("tag", tag),
    ):
        subprocess.run([*git, *command], check=True, capture_output=True)
    (repo / "salt" / later).write_text("committed after the release\n")
    for command in (("add", "-A"), ("commit", "-q", "-m", "after the release")):
        subprocess.run([*git, *command], check=True, capture_output=True)

    for base, served in (("main", served_by_this_repository() | {later}), (tag, served_by_this_repository())):
        factory = salt_factories.salt_master_daemon(
            f"arp-gitfs-{base.replace('.', '-')}",
            overrides={
                # The install page's gitfs settings, the remote's URL aside: base main, or the release's tag.
                "fileserver_backend": ["gitfs"],
                "gitfs_remotes": [{f"file://{repo}": [{"root": "salt"}, {"base": base}]}],
            },
        )
        with factory.started():
            salt_run = factory.salt_run_cli(timeout=120)
            assert salt_run.run("fileserver.update").returncode == 0
            ret = salt_run.run("fileserver.file_list")
        assert ret.returncode == 0, ret
        assert set(ret.data) == served, base
