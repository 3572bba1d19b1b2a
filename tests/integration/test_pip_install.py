"""
The built wheel, pip-installed beside each Salt that the test command proves
besides the default one (tests/salt-versions.txt): pip leaves that Salt as it
was, and Salt's loader finds the modules through the entry point alone.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.support import REPO, lab, module_from_checkout, unavailable
from tests.support.tables import keys, matches, snapshot, without_collected
from tests.support.versions import salt_versions, venv_of


def run(*command, **kwargs):
    done = subprocess.run([str(word) for word in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def salt_version(python):
    return run(python, "-c", "import salt.version; print(salt.version.__version__)").strip()


@pytest.mark.parametrize(
    "version, interpreter",
    [pytest.param(v, p, id=f"{v}-{p}" if p else v) for v, p, _ in salt_versions()[1:]],
)
def test_the_wheel_installs_beside_salt_and_leaves_it_as_it_was(tmp_path, table, release, version, interpreter):
    ns, before = table
    made = venv_of(version, interpreter)
    if not os.path.exists(os.path.join(made, "bin", "python")):
        unavailable(f"no {made}: `./run test` makes it")
    # A copy of the virtualenv that ./run test made for this Salt (hard links:
    # pip replaces files, it never writes into one), the checkout's editable
    # install in it replaced by the wheel. Scripts in the copy would run the
    # original's Python: everything runs as `python -m` of the copy.
    venv = tmp_path / "venv"
    run("cp", "-al", made, venv)
    python = venv / "bin" / "python"
    assert salt_version(python) == version

    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", release["wheel"], cwd=tmp_path)

    assert salt_version(python) == version, "installing the wheel changed the user's Salt"
    # The loader's directories are the installed package's.
    dirs = json.loads(
        run(python, "-c", "import arp_hygiene, json; print(json.dumps(arp_hygiene.loader_dirs()))", cwd=tmp_path)
    )
    assert sorted(dirs) == ["beacons", "engines", "grains", "modules", "runners", "states"]
    (modules,) = dirs["modules"]
    assert modules.startswith(os.path.join(str(venv), "lib")), dirs
    assert {
        "arp.py",
        *(f"_arp_hygiene_{part}.py" for part in ("policy", "netlink", "arguments", "probe", "metrics")),
    } <= set(os.listdir(modules))
    assert "arp_hygiene.py" in os.listdir(dirs["runners"][0])
    assert "arp_hygiene.py" in os.listdir(dirs["engines"][0])

    config = lab.salt_config(str(tmp_path / "config"))
    salt_call = (
        python,
        "-c",
        "import salt.scripts; salt.scripts.salt_call()",
        "--local",
        "--config-dir",
        config,
        "--out=json",
    )
    listed = json.loads(run(*salt_call, "arp.list", f"netns={ns.name}", "family=all", cwd=tmp_path))["local"]
    entries = {(entry["dst"], entry["ifname"]) for entry in listed if not entry["dst"].startswith(("ff", "224."))}
    assert entries == set(without_collected(before, entries))

    # Which copy runs: the package's, until the module is synced into the
    # minion's cache; then the synced one (Salt 3006 and later), whatever its version.
    shown = json.loads(run(*salt_call, "arp.version", cwd=tmp_path))["local"]
    release_version = module_from_checkout("arp").__version__
    assert shown == {"version": release_version, "file": os.path.join(modules, "arp.py"), "copy": "package"}
    served = tmp_path / "roots" / "_modules"
    shutil.copytree(os.path.join(REPO, "salt", "_modules"), served, ignore=shutil.ignore_patterns("__pycache__"))
    source = (served / "arp.py").read_text()
    (served / "arp.py").write_text(source.replace(f'__version__ = "{release_version}"', '__version__ = "9.9.9"'))
    run(*salt_call, "--file-root", tmp_path / "roots", "saltutil.sync_modules", cwd=tmp_path)
    shown = json.loads(run(*salt_call, "arp.version", cwd=tmp_path))["local"]
    assert shown["version"] == "9.9.9" and shown["copy"] == "synced", shown
    assert shown["file"].startswith(config) and shown["file"].endswith("/extmods/modules/arp.py"), shown
    # The synced copy works, with the helpers synced beside it.
    relisted = json.loads(run(*salt_call, "arp.list", f"netns={ns.name}", "family=all", cwd=tmp_path))["local"]
    relisted = {(e["dst"], e["ifname"]) for e in relisted if not e["dst"].startswith(("ff", "224."))}
    assert relisted == set(without_collected(before, relisted))

    state = json.loads(
        run(*salt_call, "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "test=True", cwd=tmp_path)
    )
    (ret,) = state["local"].values()
    assert ret["result"] is None
    assert keys(ret["changes"]["deleted"]) == {key for key, value in before.items() if matches(key, value)}
    assert (after := snapshot(ns)) == without_collected(before, after)
