"""
The formula's beacon and metrics, from pillar alone: with a pillar that does
not ask for them, no beacon and no metrics file; with arp_hygiene:beacon,
the beacon arp is added to the running minion (test mode says so first),
saved to its minion.d/beacons.conf, and fires on the master's bus; disabled
again, or cleaned, only the beacon the formula added goes. Without a
salt-minion daemon (salt-call --local) the highstate fails, saying why.
"""

import json
import os

import pytest
import salt.utils.yaml

from tests.support import REPO, host, lab
from tests.support.master import (
    DB,
    NO_VERIFY,
    STALE_FLUSH_ONLY,
    beacon_events,
    by_id,
    changed,
    failed,
    job_lines,
    run_as_cron,
)

PRESENT = "arp_hygiene-beacon-beacon-present-arp"
# Where Debian's prometheus-node-exporter (installed by ./run test) reads textfiles.
DEBIAN_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
# An operator's own beacon arp, configured by hand: the formula never removes it.
OPERATORS = [{"interval": 3600}, {"family": "inet6"}]


def beacons(salt_cli):
    ret = salt_cli.run("beacons.list", "return_yaml=False", "include_pillar=False", minion_tgt=DB)
    assert ret.returncode == 0, ret
    return ret.data or {}


def saved(db_minion):
    """The beacons in the minion's minion.d/beacons.conf (beacons.save writes it)."""
    path = os.path.join(db_minion.config_dir, "minion.d", "beacons.conf")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as conf:
        return (salt.utils.yaml.safe_load(conf) or {}).get("beacons", {})


@pytest.fixture
def no_beacon(salt_cli):
    """No beacon arp on the database minion before and after the test, the operator's or the formula's."""
    salt_cli.run("beacons.delete", "arp", minion_tgt=DB)
    salt_cli.run("beacons.save", minion_tgt=DB)
    yield
    salt_cli.run("beacons.delete", "arp", minion_tgt=DB)
    salt_cli.run("beacons.save", minion_tgt=DB)


def prom_files():
    return sorted(name for name in os.listdir(DEBIAN_TEXTFILE_DIR) if name.startswith("arp_hygiene"))


def test_a_pillar_that_does_not_ask_gets_no_beacon_and_no_metrics(salt_cli, pillar, clean, table, no_beacon, db_minion):
    ns, _ = table
    assert os.path.isdir(DEBIAN_TEXTFILE_DIR), "./run test installs prometheus-node-exporter"
    before = prom_files()
    pillar.set({"flush": STALE_FLUSH_ONLY | {"netns": ns.name}, "verify": NO_VERIFY})

    ret = salt_cli.run("state.apply", "arp_hygiene", minion_tgt=DB)

    assert ret.returncode == 0 and not failed(ret), failed(ret)
    beacon_states = {key: value for key, value in by_id(ret).items() if key.startswith("arp_hygiene-beacon")}
    assert list(beacon_states) == ["arp_hygiene-beacon-test-not-asked"], beacon_states
    assert "arp" not in beacons(salt_cli) and "arp" not in saved(db_minion)
    # The job and the highstate's own flush write no metrics, anywhere.
    assert "metrics_dir" not in job_lines()[1]
    assert run_as_cron(job_lines()[1]).returncode == 0
    assert prom_files() == before
    assert "metrics_dir" not in json.dumps(changed(ret))


def test_pillar_adds_the_beacon_which_fires_and_only_the_formulas_goes(
    salt_cli, pillar, clean, table, no_beacon, master, db_minion
):
    ns, _ = table
    settings = {"flush": STALE_FLUSH_ONLY | {"netns": ns.name}, "verify": NO_VERIFY}

    # The operator's own beacon arp stays through the formula's beacon part
    # and through clean: the formula did not add it.
    assert salt_cli.run("beacons.add", "arp", json.dumps(OPERATORS), minion_tgt=DB).data["result"] is True
    pillar.set(settings)
    ret = salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB)
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    assert salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB).returncode == 0
    assert beacons(salt_cli)["arp"] == OPERATORS
    assert salt_cli.run("beacons.delete", "arp", minion_tgt=DB).data["result"] is True

    beacon = {"interval": 1, "table_share": 0.001, "failed_threshold": 1, "family": "inet", "netns": ns.name}
    pillar.set(settings | {"beacon": {"enabled": True, **beacon}})
    dry = salt_cli.run("state.apply", "arp_hygiene.beacon", "test=True", minion_tgt=DB)
    assert dry.returncode == 0 and not failed(dry), failed(dry)
    assert by_id(dry)[PRESENT]["result"] is None and "arp" not in beacons(salt_cli)

    ret = salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB)

    assert ret.returncode == 0 and not failed(ret), failed(ret)
    expected = [
        {"interval": 1},
        {"table_share": 0.001},
        {"failed_threshold": 1},
        {"mac_changes": False},
        {"family": "inet"},
        {"netns": ns.name},
    ]
    assert beacons(salt_cli)["arp"] == expected and saved(db_minion)["arp"] == expected
    found = beacon_events(master, DB, lambda found: {"table_nearly_full", "failed_entries"} <= set(found))
    assert found["table_nearly_full"]["netns"] == ns.name and found["table_nearly_full"]["family"] == "inet"
    assert found["failed_entries"]["interface"] == "a0" and found["failed_entries"]["failed_threshold"] == 1
    # Applied again: nothing to change.
    again = salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB)
    assert again.returncode == 0 and PRESENT not in changed(again), changed(again)
    assert "Job arp in correct state" in by_id(again)[PRESENT]["comment"]

    # A namespace that does not exist: a failed state, the beacon as it was.
    missing = f"{lab.PREFIX}missing-{os.getpid()}"
    pillar.set(settings | {"beacon": {"enabled": True, **beacon, "netns": missing}})
    ret = salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB)
    assert ret.returncode != 0 and f'network namespace "{missing}", which does not exist' in failed(ret).popitem()[1]
    assert beacons(salt_cli)["arp"] == expected

    # Disabled: the beacon the formula added goes, from the daemon and the file.
    pillar.set(settings | {"beacon": {"enabled": False}})
    ret = salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB)
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    assert "arp" not in beacons(salt_cli) and "arp" not in saved(db_minion)

    # Enabled again, then clean: it goes too.
    pillar.set(settings | {"beacon": {"enabled": True, **beacon}})
    assert salt_cli.run("state.apply", "arp_hygiene.beacon", minion_tgt=DB).returncode == 0
    assert "arp" in beacons(salt_cli)
    dry = salt_cli.run("state.apply", "arp_hygiene.clean", "test=True", minion_tgt=DB)
    assert by_id(dry)["arp_hygiene-clean-beacon-absent-arp"]["result"] is None and "arp" in beacons(salt_cli)
    ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=DB)
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    assert "arp" not in beacons(salt_cli) and "arp" not in saved(db_minion)


def test_without_a_minion_daemon_the_beacon_fails_the_highstate_saying_why(fresh_host, tmp_path):
    config = lab.salt_config(str(tmp_path / "config"))
    with open(os.path.join(config, "minion"), "a", encoding="utf-8") as minion:
        minion.write(f"file_roots:\n  base: [{os.path.join(REPO, 'salt')}]\n")
    pillar = {"arp_hygiene": {"beacon": {"enabled": True}}}
    before = host.fingerprint()

    done = lab.salt_call(config, "--out=json", "state.apply", "arp_hygiene.beacon", f"pillar={json.dumps(pillar)}")

    assert done.returncode != 0
    (ret,) = json.loads(done.stdout)["local"].values()
    assert ret["result"] is False and ret["comment"].startswith("No salt-minion daemon answered"), ret
    assert host.fingerprint() == before, "nothing written, nothing recorded"
