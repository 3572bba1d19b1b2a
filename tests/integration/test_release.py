"""The release artifacts: what `python -m build` makes, and `twine check` of them."""

import os
import subprocess
import sys
import tarfile
import zipfile

from tests.support import module_from_checkout


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
        "salt/_modules/_arp_hygiene_probe.py",
        "salt/_modules/_arp_hygiene_metrics.py",
        "salt/_modules/_arp_hygiene_policy.py",
        "salt/_modules/_arp_hygiene_arguments.py",
        "salt/_modules/_arp_hygiene_watch.py",
        "salt/_modules/_arp_hygiene_restart.py",
        "salt/_states/arp.py",
        "salt/arp_hygiene/init.sls",
        "salt/arp_hygiene/files/arp-hygiene-job",
        "salt/arp_hygiene/map.jinja",
        "salt/arp_hygiene/parameters/os_family/RedHat.yaml",
        "pillar.example",
        "FORMULA",
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
