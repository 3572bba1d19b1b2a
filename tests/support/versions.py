"""
The Salt releases the test command proves (tests/salt-versions.txt), and their
virtualenvs: the file's one reader, for the tests and for ./run, which runs
``python3 -m tests.support.versions`` to read the lines.
"""

import os

from tests.support import REPO

VERSIONS_FILE = os.path.join(REPO, "tests", "salt-versions.txt")
SUITES = ("unit", "functional")


def salt_versions():
    """[(version, python or None, suites)], the whole suite's first (its suites: all)."""
    lines = []
    with open(VERSIONS_FILE, encoding="utf-8") as listing:
        for line in listing:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            version, rest = words[0], words[1:]
            python = rest.pop(0) if rest and rest[0].startswith("python") else None
            unknown = [word for word in rest if word not in SUITES]
            if unknown:
                raise ValueError(f"{VERSIONS_FILE}: {line.strip()!r}: unknown suites {unknown}; known: {SUITES}")
            lines.append((version, python, tuple(rest) or SUITES))
    return lines


def venv_of(version, python=None):
    """The virtualenv ./run test keeps for a line other than the first."""
    return os.path.join(REPO, f".venv-salt-{version}" + (f"-{python}" if python else ""))


def main():
    """Print the lines as ./run reads them: VERSION PYTHON SUITES VIRTUALENV (PYTHON - for none, SUITES with commas)."""
    for version, python, suites in salt_versions():
        print(version, python or "-", ",".join(suites), os.path.relpath(venv_of(version, python), REPO))


if __name__ == "__main__":
    main()
