"""
The release artifacts: what `python -m build` makes, and `twine check` of
them; and the formula package that Salt's own package manager builds from
salt/ (`spm build`), installed with `spm local install` into a tree that a
master serves, from which a minion syncs the modules and applies the formula.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

from tests.support import REPO, module_from_checkout
from tests.support.master import Client


def version():
    """The release: arp.py's ``__version__``, which setup.cfg reads."""
    return module_from_checkout("arp").__version__


def test_the_wheel_carries_the_modules_their_helpers_the_states_and_the_entry_point(release):
    with zipfile.ZipFile(release["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = f"arp_hygiene-{version()}.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert os.path.basename(release["wheel"]) == f"arp_hygiene-{version()}-py3-none-any.whl"
    package = {name for name in names if not name.startswith(info)}
    assert package == {
        "arp_hygiene/__init__.py",
        "arp_hygiene/modules/arp.py",
        "arp_hygiene/modules/_arp_hygiene_netlink.py",
        "arp_hygiene/modules/_arp_hygiene_errors.py",
        "arp_hygiene/modules/_arp_hygiene_layouts.py",
        "arp_hygiene/modules/_arp_hygiene_neighbours.py",
        "arp_hygiene/modules/_arp_hygiene_writes.py",
        "arp_hygiene/modules/_arp_hygiene_probe.py",
        "arp_hygiene/modules/_arp_hygiene_metrics.py",
        "arp_hygiene/modules/_arp_hygiene_policy.py",
        "arp_hygiene/modules/_arp_hygiene_arguments.py",
        "arp_hygiene/modules/_arp_hygiene_watch.py",
        "arp_hygiene/modules/_arp_hygiene_restart.py",
        "arp_hygiene/states/arp.py",
        "arp_hygiene/runners/arp_hygiene.py",
        "arp_hygiene/engines/arp_hygiene.py",
        "arp_hygiene/engines/arp_watch.py",
        "arp_hygiene/beacons/arp.py",
        "arp_hygiene/grains/arp.py",
    }
    assert "[salt.loader]\narp-hygiene = arp_hygiene:loader_dirs" in entry_points
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: salt>=3006" in requires, requires
    assert f"Version: {version()}" in metadata.splitlines()
    # What the Salt extensions index looks for in a package that is not named saltext.*.
    (keywords,) = [line for line in metadata.splitlines() if line.startswith("Keywords:")]
    assert "salt-extension" in keywords.split(":", 1)[1].replace(",", " ").split(), keywords


def test_the_sdist_carries_the_formula_and_its_documents(release):
    with tarfile.open(release["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {
        "salt/_modules/arp.py",
        "salt/_modules/_arp_hygiene_netlink.py",
        "salt/_modules/_arp_hygiene_errors.py",
        "salt/_modules/_arp_hygiene_layouts.py",
        "salt/_modules/_arp_hygiene_neighbours.py",
        "salt/_modules/_arp_hygiene_writes.py",
        "salt/_modules/_arp_hygiene_probe.py",
        "salt/_modules/_arp_hygiene_metrics.py",
        "salt/_modules/_arp_hygiene_policy.py",
        "salt/_modules/_arp_hygiene_arguments.py",
        "salt/_modules/_arp_hygiene_watch.py",
        "salt/_modules/_arp_hygiene_restart.py",
        "salt/_states/arp.py",
        "salt/_grains/arp.py",
        "salt/arp_hygiene/init.sls",
        "salt/arp_hygiene/files/arp-hygiene-job",
        "salt/arp_hygiene/map.jinja",
        "salt/arp_hygiene/parameters/os_family/RedHat.yaml",
        "pillar.example",
        "salt/pillar.example",
        "salt/FORMULA",
        "CHANGELOG.md",
        "README.md",
    } <= names


def test_twine_finds_the_artifacts_fit_for_an_index(release):
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", release["sdist"], release["wheel"]],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_spm_builds_the_formula_package_and_a_master_serves_what_it_installs(salt_factories, netlab, tmp_path):
    # SPM's paths, all under tmp_path (its defaults are the host's /srv and /var/cache/salt).
    root = tmp_path / "spm"
    paths = {
        "formula_path": root / "srv" / "salt",
        "pillar_path": root / "srv" / "pillar",
        "reactor_path": root / "srv" / "reactor",
        "spm_build_dir": root / "build",
        "spm_cache_dir": root / "cache",
        "spm_db": root / "cache" / "packages.db",
        "spm_logfile": root / "spm.log",
        "spm_repos_config": root / "spm.repos",
        "spm_share_dir": root / "share",
        "cachedir": root / "cachedir",
    }
    (root / "cache").mkdir(parents=True)
    (root / "spm").write_text("".join(f"{key}: {value}\n" for key, value in paths.items()))
    # The formula's directory as a clean checkout has it (no caches of the tests' own runs).
    source = tmp_path / "source" / "salt"
    shutil.copytree(os.path.join(REPO, "salt"), source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    spm = [os.path.join(os.path.dirname(sys.executable), "spm"), "-c", str(root)]
    built = subprocess.run([*spm, "build", str(source)], capture_output=True, text=True)
    package = paths["spm_build_dir"] / f"arp_hygiene-{version()}-1.spm"
    assert built.returncode == 0 and package.exists(), built.stdout + built.stderr
    installed = subprocess.run([*spm, "-y", "local", "install", str(package)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    tree = paths["formula_path"]
    for path in ("arp_hygiene/init.sls", "arp_hygiene/map.py", "_modules/arp.py", "_states/arp.py", "_grains/arp.py"):
        assert (tree / path).is_file(), path
    assert (tree / "_runners" / "arp_hygiene.py").is_file() and (tree / "_engines" / "arp_watch.py").is_file()
    with open(os.path.join(REPO, "pillar.example"), encoding="utf-8") as example:
        assert (paths["pillar_path"] / "arp_hygiene.sls.orig").read_text() == example.read()

    # A master that serves SPM's tree alone; a minion syncs the modules from it and applies the formula.
    ns = netlab.namespace("db")
    master = salt_factories.salt_master_daemon("arp-spm-master", overrides={"file_roots": {"base": [str(tree)]}})
    with master.started():
        minion = master.salt_minion_daemon("arp-spm-db")
        with minion.started():
            client = Client(master)
            synced = client.run("saltutil.sync_all", minion_tgt=minion.id)
            assert synced.returncode == 0 and "modules.arp" in synced.data["modules"], synced
            pillar = {"arp_hygiene": {"flush": {"netns": ns.name}, "cron_service": False}}
            dry = client.run(
                "state.apply", "arp_hygiene", "test=True", f"pillar={json.dumps(pillar)}", minion_tgt=minion.id
            )
    assert dry.returncode == 0 and isinstance(dry.data, dict), dry
    assert all(state["result"] is not False for state in dry.data.values()), dry
    assert any(key.startswith("arp_|-arp_hygiene-enforce-arp-no_stale") for key in dry.data), sorted(dry.data)

    removed = subprocess.run([*spm, "-y", "remove", "arp_hygiene"], capture_output=True, text=True)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not (tree / "arp_hygiene" / "init.sls").exists() and not (tree / "_modules" / "arp.py").exists()
