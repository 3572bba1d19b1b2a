"""
What a new operator's first highstate meets, through a real master and
minion: nothing the formula writes exists yet (its records, the job runner,
a metrics directory, root's crontab), with the reports switched off as
pillar.example allows (report_file: null). Test mode first and exact, the
live run, a converged minion's dry run with nothing pending, and
arp_hygiene.clean leaving the host as it found it: no crontab where root
had none, not even Salt's header line.
"""

import os

from tests.support import host, lab
from tests.support.master import DB, JOB, SWEEP_JOB, VERIFY_JOB, changed, converged, highstate, job_lines, run_as_cron
from tests.support.tables import snapshot

FAILED = {"dst": "192.0.2.77", "ifname": "a0", "state": "failed"}


def test_the_first_highstate_on_a_fresh_host_is_predicted_then_quiet_then_clean_leaves_nothing(
    salt_cli, pillar, clean, fresh_paths, netlab, tmp_path
):
    ns = lab.table(netlab)
    lab.add_entries(ns, [FAILED])
    textfile = tmp_path / "node-exporter" / "textfile"  # a metrics directory that does not exist yet
    pillar.set(
        {
            "report_file": None,
            "verify": {"report_file": None, "sweep_report_file": None},
            "flush": {"netns": ns.name},
            "metrics": {"textfile_dir": str(textfile)},
        }
    )
    assert host.fingerprint() == {"paths": {}, "crontab": None}

    ret = highstate(salt_cli, DB)  # test mode first: what it says is what the live run does

    made = changed(ret)
    assert made[f"arp_hygiene-directories-file-directory-{textfile}"]
    assert ("192.0.2.77", "a0") not in snapshot(ns), "enforce flushed the failed entry"
    assert sorted(os.listdir(textfile)) == ["arp_hygiene_flush.prom", "arp_hygiene_verify.prom"]
    for job in (JOB, VERIFY_JOB, SWEEP_JOB):
        line = job_lines(job)[1]
        assert "--report" not in line and f'metrics_dir="{textfile}"' in line, line
        assert run_as_cron(line).returncode == 0
    assert not os.path.exists("/var/log/salt"), "no report asked for, no report directory"
    assert sorted(os.listdir(textfile)) == [
        "arp_hygiene_flush.prom",
        "arp_hygiene_sweep.prom",
        "arp_hygiene_verify.prom",
    ]

    # Converged: a dry run has nothing pending (nothing to sync or install,
    # nothing to flush, no entry that verify would ask about).
    converged(salt_cli, DB)

    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)

    assert ret.returncode == 0, ret
    assert changed(ret)["arp_hygiene-clean-cmd-run-crontab-remove"]
    assert host.fingerprint() == {"paths": {}, "crontab": None}, "the host as the formula found it"
    assert not textfile.exists() and textfile.parent.exists() is False
