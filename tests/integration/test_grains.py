"""
The grains module ``arp`` (salt/_grains/arp.py) imports pyroute2 in a minion
daemon's main process, so that the process Salt forks for each job (Salt's
default, ``multiprocessing: True``) finds it imported and no ``arp`` job
imports it afresh (docs/guide/scale.md); ``salt-call``, which computes grains
at every call, does not import it.

A module of the test's own, on the minion's ``module_dirs``, says whether a
job's process has pyroute2 imported before the job loads anything of arp.
"""

import textwrap

from tests.support.master import Client

PROBE = textwrap.dedent(
    '''
    import sys


    def pyroute2_imported():
        """Whether pyroute2 is imported in this job's process."""
        return "pyroute2" in sys.modules
    '''
)


def test_a_job_of_the_minion_daemon_finds_pyroute2_imported_and_salt_call_does_not(master, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "arp_probe.py").write_text(PROBE)
    salt_cli = Client(master)

    def imported(minion, **overrides):
        factory = master.salt_minion_daemon(minion, overrides={"module_dirs": [str(probe)], **overrides})
        with factory.started():
            job = salt_cli.run("arp_probe.pyroute2_imported", minion_tgt=minion)
            called = factory.salt_call_cli().run("arp_probe.pyroute2_imported")
        assert job.returncode == 0 and called.returncode == 0, (job, called)
        return job.data, called.data

    assert imported("arp-forks") == (True, False)
    # The same minion without the grains module: nothing else of the daemon imports pyroute2.
    assert imported("arp-forks-bare", disable_grains=["arp"]) == (False, False)
