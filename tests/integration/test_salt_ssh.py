"""
The module through salt-ssh, agentless: an sshd that the test starts on
127.0.0.1 (a port, host keys, client key and AuthorizedKeysFile of its own),
a roster naming it, pyroute2 in the thin, a lab namespace as the table.
"""

import os

import pytest
import salt.utils.yaml

from tests.support import unavailable
from tests.support.tables import keys, matches, snapshot, without_collected

TARGET = "arp-ssh-target"
SSHD = "/usr/sbin/sshd"
ROOT_KEYS = os.path.expanduser("~root/.ssh/authorized_keys")


def read(path):
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None


@pytest.fixture(scope="module")
def sshd(salt_factories):
    if not os.access(SSHD, os.X_OK):
        unavailable("openssh-server is not installed: `./run test` installs it")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    config = {
        "StrictModes": "no",  # the config directory is under /tmp: its modes would be refused
        "UsePAM": "no",
        # salt-ssh copies the thin with scp, which speaks SFTP since OpenSSH 9.0.
        "Subsystem": "sftp /usr/lib/openssh/sftp-server",
    }
    factory = salt_factories.get_sshd_daemon(script_name=SSHD, sshd_config_dict=config)
    with factory.started():
        yield factory


@pytest.fixture
def salt_ssh(master, sshd, tmp_path):
    roster = tmp_path / "roster"
    roster.write_text(
        salt.utils.yaml.safe_dump(
            {
                TARGET: {
                    "host": "127.0.0.1",
                    "port": sshd.listen_port,
                    "user": "root",
                    "priv": str(sshd.client_key),
                    "thin_dir": str(tmp_path / "thin"),
                    # The target's own python3, not a version manager's shim
                    # (a shell script, which salt-ssh's shim cannot run).
                    "set_path": "/usr/sbin:/usr/bin:/sbin:/bin",
                    # No host key is checked or written (root's known_hosts stays as it
                    # was). Roster options reach every ssh and scp; --no-host-keys does
                    # not reach the scp of a state run's tarball (Salt 3007.16).
                    "ssh_options": ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"],
                }
            }
        )
    )
    return master.salt_ssh_cli(roster_file=str(roster), target_host=TARGET, timeout=300)


def through_ssh(salt_ssh, *args):
    # pyroute2 is not on the target's own Python: the thin carries it.
    ret = salt_ssh.run("--thin-extra-modules=pyroute2", *args)
    assert ret.returncode == 0, ret
    data = ret.data
    return data[TARGET] if isinstance(data, dict) and TARGET in data else data


def test_list_the_state_and_flush_stale_through_salt_ssh(salt_ssh, table):
    ns, before = table
    root_keys = read(ROOT_KEYS)

    listed = through_ssh(salt_ssh, "arp.list", f"netns={ns.name}", "family=all")
    listed = {(entry["dst"], entry["ifname"]) for entry in listed if not entry["dst"].startswith("ff")}
    assert listed == set(without_collected(before, listed))

    stale = {key for key, value in before.items() if matches(key, value, family="all")}
    state = through_ssh(
        salt_ssh, "state.single", "arp.no_stale", "name=lab", f"netns={ns.name}", "family=all", "test=True"
    )
    (ret,) = state.values()
    assert ret["result"] is None and keys(ret["changes"]["deleted"]) == stale
    assert (after := snapshot(ns)) == without_collected(before, after)

    flushed = through_ssh(salt_ssh, "arp.flush_stale", f"netns={ns.name}", "family=all")
    assert keys(flushed["deleted"]) == stale and flushed["vanished"] == {}
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in stale}, after
    )
    assert read(ROOT_KEYS) == root_keys, "root's authorized_keys is the test's to leave alone"
