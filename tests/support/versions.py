"""The Salt releases the test command proves (tests/salt-versions.txt), and their virtualenvs."""

import os

from tests.support import REPO

VERSIONS_FILE = os.path.join(REPO, "tests", "salt-versions.txt")


def salt_versions():
    """[(version, python or None)], the whole suite's first."""
    lines = []
    with open(VERSIONS_FILE, encoding="utf-8") as listing:
        for line in listing:
            words = line.split("#", 1)[0].split()
            if words:
                lines.append((words[0], words[1] if len(words) > 1 else None))
    return lines


def venv_of(version):
    """The virtualenv ./run test keeps for a Salt version other than the first."""
    return os.path.join(REPO, f".venv-salt-{version}")
