"""
Grains module ``arp``: sets no grain; it makes the ``arp`` module's jobs
start sooner on a minion daemon that runs each job in a process of its own.

With Salt's default ``multiprocessing: True``, each job is a process forked
from the minion's main process, and the ``arp`` module's helpers import the
pyroute2 library there. The main process never imports it, so every job did,
afresh: some 0.1 s of CPU before the job's first netlink message, on every
``arp.forget`` of the heal at a worker's start (docs/guide/scale.md).

Salt computes grains in the minion's main process, when the daemon starts
and at a grains refresh: this module imports pyroute2 there, so that the
forked jobs find it imported. About 8 MB of the daemon's memory, which the
jobs share. Only the ``salt-minion`` daemon with ``multiprocessing`` on:
``salt-call`` computes grains at each call, and a minion that runs jobs in
threads keeps what its first job imported.
"""

import contextlib


def _forks_jobs(opts):
    """Whether these are the options of a salt-minion daemon that forks a process for each job."""
    program = str(opts.get("__cli", "")).replace("-", "_")
    return "salt_minion" in program and bool(opts.get("multiprocessing", True))


def arp():
    """
    Import pyroute2 in a job-forking minion daemon's main process (where
    it is installed); return no grain.
    """
    if _forks_jobs(__opts__):
        # Without pyroute2, the arp module says so itself when it loads.
        with contextlib.suppress(ImportError):
            import pyroute2  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    return {}
