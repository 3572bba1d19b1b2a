"""`pip install .` into a fresh virtualenv: Salt's loader finds the modules through the entry point alone."""

import json
import os
import shutil
import subprocess
import sys

from tests.support import REPO, lab
from tests.support.tables import keys, matches, snapshot


def test_a_pip_installed_copy_loads_arp_without_module_dirs(tmp_path, table):
    ns, before = table
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr
    shutil.rmtree(source)  # nothing may come from the source tree any more

    # The loader's directories are the installed package's.
    where = subprocess.run(
        [python, "-c", "import arp_hygiene, json; print(json.dumps(arp_hygiene.loader_dirs()))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    dirs = json.loads(where.stdout)
    assert sorted(dirs) == ["modules", "states"]
    assert all(path.startswith(os.path.join(str(venv), "lib")) for paths in dirs.values() for path in paths), dirs
    (modules,) = dirs["modules"]
    assert {"arp.py", "_arp_hygiene_netlink.py", "_arp_hygiene_probe.py"} <= set(os.listdir(modules)), (
        "the wheel carries the helpers"
    )

    config = lab.salt_config(str(tmp_path / "config"))
    salt_call = [str(venv / "bin" / "salt-call"), "--local", "--config-dir", config, "--out=json"]
    listed = subprocess.run(
        [*salt_call, "arp.list", f"netns={ns.name}", "family=all"], capture_output=True, text=True, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    entries = [entry for entry in json.loads(listed.stdout)["local"] if not entry["dst"].startswith(("ff", "224."))]
    assert {(entry["dst"], entry["ifname"]) for entry in entries} == set(before)

    state = subprocess.run(
        [*salt_call, "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "test=True"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert state.returncode == 0, state.stderr
    (ret,) = json.loads(state.stdout)["local"].values()
    assert ret["result"] is None
    assert keys(ret["changes"]["deleted"]) == {key for key, value in before.items() if matches(key, value)}
    assert snapshot(ns) == before
