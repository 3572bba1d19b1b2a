"""
The paths the product writes on a host, outside the tests' own temporary
directories, and root's crontab: the formula's defaults (reports in
/var/log/salt, records in /var/lib/arp-hygiene, the job runner, the sysctl
file, the master's drop-in).

The formula's tests start from a fresh host: ``aside()`` moves whatever is
at these paths aside (and root's crontab) for the tests' whole run and puts
it back afterwards, and ``remove()`` takes away what an earlier test left, so
that no test's outcome depends on what an earlier run or test left behind.

``python -m tests.support.host snapshot FILE`` and ``compare FILE`` (./run
test, around the whole run): the host carries nothing new of the product
afterwards. (A killed run cannot put back what it moved aside: the next
snapshot, or the next run's aside(), does.)
"""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys

PATHS = (
    # The default report directory (on a real minion also Salt's own log directory).
    "/var/log/salt",
    "/var/lib/arp-hygiene",
    "/usr/local/sbin/arp-hygiene-job",
    "/etc/sysctl.d/60-arp-hygiene.conf",
    "/etc/salt/master.d/arp_hygiene.conf",
)
ASIDE = ".arp-hygiene-tests-aside"


def crontab():
    """Root's crontab, or None when root has none."""
    if not shutil.which("crontab"):
        return None
    done = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def set_crontab(text):
    if text is None:
        if shutil.which("crontab"):
            subprocess.run(["crontab", "-r"], capture_output=True)
    else:
        subprocess.run(["crontab", "-"], input=text, text=True, check=True)


def _drop(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def remove():
    """Nothing at any of the paths, and no crontab for root: a host the product never ran on."""
    for path in PATHS:
        _drop(path)
    set_crontab(None)


def recover():
    """What a killed run left aside, put back (in place of what that run's tests left there)."""
    for path in PATHS:
        if os.path.lexists(path + ASIDE):
            _drop(path)
            os.rename(path + ASIDE, path)


@contextlib.contextmanager
def aside():
    """
    The paths and root's crontab moved aside while the block runs (a fresh
    host), and put back afterwards, whatever the block left there. A run
    that was killed left its aside copies: they are put back first.
    """
    recover()
    saved = crontab()
    moved = [path for path in PATHS if os.path.lexists(path)]
    for path in moved:
        os.rename(path, path + ASIDE)
    set_crontab(None)
    try:
        yield
    finally:
        remove()
        for path in moved:
            os.rename(path + ASIDE, path)
        set_crontab(saved)


def fingerprint():
    """{path: its kind and content hash, for every file and directory at and below the paths}, and the crontab."""
    found = {}
    for top in PATHS:
        for directory, _, files in os.walk(top) if os.path.isdir(top) else [(None, [], [top])]:
            if directory is not None:
                found[directory] = "directory"
            for name in files:
                path = name if directory is None else os.path.join(directory, name)
                if os.path.isfile(path):
                    with open(path, "rb") as stream:
                        found[path] = hashlib.sha256(stream.read()).hexdigest()
    return {"paths": found, "crontab": crontab()}


def main(argv):
    command, path = argv
    if command == "snapshot":
        recover()
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(fingerprint(), stream)
        return 0
    with open(path, encoding="utf-8") as stream:
        before = json.load(stream)
    after = fingerprint()
    changed = sorted(
        set(before["paths"]) ^ set(after["paths"])
        | {key for key in before["paths"] if after["paths"].get(key, before["paths"][key]) != before["paths"][key]}
    )
    if before["crontab"] != after["crontab"]:
        changed.append("root's crontab")
    for item in changed:
        print(f"run: the tests left {item} changed on this host", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
