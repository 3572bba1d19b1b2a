"""
The formula's watch section (issue 35), on a real minion daemon of its own:
with the engines that salt-factories configures in the minion's own
configuration file, the formula refuses (a drop-in's engines would replace
them) and writes nothing; with them moved to a minion.d file, test mode says
that it would write the drop-in and restart the daemon, and the live run does
so: once the run has returned, the daemon ends and its minion_restart_command
runs (the test plays the supervisor that starts it again, as systemd would). The
restarted daemon's engine heals the incident's black hole at the worker's
first SYN; a dry run then has nothing pending; arp_hygiene.clean removes the
drop-in (test mode says so first) and restarts the daemon, which then runs
no arp_watch and its other engines still.
"""

import contextlib
import json
import os
import sys
import threading
import time

import pytest
import salt.utils.yaml

from tests.support import lab, segments
from tests.support.master import by_id, changed, failed, highstate

MINION = "arp-watch-formula"
WATCHING = "arp_hygiene-watch-arp-watching"
NOT_WATCHING = "arp_hygiene-clean-arp-not-watching"
TOUCH = "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()"


@pytest.fixture
def restarts(tmp_path):
    """The file that the minion's minion_restart_command touches: the supervisor's cue."""
    return tmp_path / "restarted"


@pytest.fixture
def minion(master, restarts, fresh_host):
    factory = master.salt_minion_daemon(
        MINION,
        overrides={"minion_restart_command": [sys.executable, "-c", TOUCH, str(restarts)]},
    )
    with factory.started():
        yield factory


def engines(salt_cli):
    ret = salt_cli.run("config.get", "engines", minion_tgt=MINION, timeout=30)
    assert ret.returncode == 0, ret
    return ret.data


@contextlib.contextmanager
def supervised(minion, restarts):
    """
    The minion's supervisor while the block runs, as an init system is: the
    daemon that minion.restart stops is reaped and, once its restart command
    ran, started again. Yields the list of the restarts' times (seconds from
    the daemon's end to its start event).
    """
    stop, done = threading.Event(), []

    def supervise():
        while not stop.wait(0.2):
            if not minion.is_running() and restarts.exists():  # is_running() polls, and so reaps
                began = time.monotonic()
                restarts.unlink()
                minion.start()
                done.append(time.monotonic() - began)

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    try:
        yield done
        # The restarter waits for the job to return: the restart may come after.
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        supervisor.join()


def move_engines_to_drop_in(minion):
    """The operator's fix that the formula asks for: the engines of the config file, in a minion.d file."""
    with open(minion.config_file, encoding="utf-8") as config:
        own = salt.utils.yaml.safe_load(config)
    moved = own.pop("engines")
    with open(minion.config_file, "w", encoding="utf-8") as config:
        salt.utils.yaml.safe_dump(own, config, default_flow_style=False)
    with open(os.path.join(minion.config_dir, "minion.d", "engines.conf"), "w", encoding="utf-8") as config:
        salt.utils.yaml.safe_dump({"engines": moved}, config, default_flow_style=False)
    return moved


def test_the_watch_section_runs_the_engine_and_clean_removes_it(
    master, minion, salt_cli, pillar, netlab, restarts, tmp_path
):
    drop_in = os.path.join(minion.config_dir, "minion.d", "arp_hygiene_watch.conf")
    hole = segments.BlackHole(netlab, state="reachable")
    metrics = tmp_path / "metrics"
    watch = {"enabled": True, "round_seconds": 10}
    settings = {
        "method": "none",
        "enforce": False,
        "verify": {"enabled": False},
        "flush": {"interfaces": ["eth0"], "netns": hole.db.name},
        "metrics": {"textfile_dir": str(metrics)},
        "watch": watch,
    }
    pillar.set(settings, minion=MINION)

    # salt-factories' engines are in the minion's own file: a drop-in's would replace them.
    ret = salt_cli.run("state.apply", "arp_hygiene.watch", minion_tgt=MINION)
    assert ret.returncode != 0
    assert "sets engines, which Salt replaces with those of a drop-in" in failed(ret)[WATCHING], failed(ret)
    assert not os.path.exists(drop_in) and not restarts.exists()

    theirs = move_engines_to_drop_in(minion)
    minion.terminate()
    minion.start()
    with supervised(minion, restarts) as done:
        ret = highstate(salt_cli, MINION, sls="arp_hygiene.watch")
    assert len(done) == 1, done
    assert by_id(ret.dry)[WATCHING]["result"] is None, ret.dry
    assert set(changed(ret)[WATCHING]) == {"config", "restart"}, changed(ret)
    assert "The salt-minion daemon restarts once this run has returned" in by_id(ret)[WATCHING]["comment"]
    expected = {"round_seconds": 10, "interface": ["eth0"], "family": "inet", "netns": hole.db.name}
    expected["metrics_dir"] = str(metrics)
    assert {"arp_watch": expected} in engines(salt_cli) and all(engine in engines(salt_cli) for engine in theirs)

    # The restarted daemon's engine heals the black hole at the first SYN.
    time.sleep(2)  # its first round's sockets open
    began = time.monotonic()
    connected = hole.connect(timeout=3)
    took = time.monotonic() - began
    print(f"formula's engine: handshake {took:.2f} s after the first SYN")
    assert connected and took < 1.5, took
    assert hole.entry()["lladdr"] == lab.NEW_MAC

    # Converged: nothing pending, nothing restarted.
    dry = salt_cli.run("state.apply", "arp_hygiene.watch", "test=True", minion_tgt=MINION)
    assert dry.returncode == 0 and not changed(dry) and by_id(dry)[WATCHING]["result"] is True, dry

    # clean: test mode says it would remove and restart; the live run does.
    pillar.set({}, minion=MINION)
    dry = salt_cli.run("state.apply", "arp_hygiene.clean", "test=True", minion_tgt=MINION)
    assert by_id(dry)[NOT_WATCHING]["result"] is None and os.path.exists(drop_in), dry
    with supervised(minion, restarts) as done:
        ret = salt_cli.run("state.apply", "arp_hygiene.clean", minion_tgt=MINION)
    assert len(done) == 1, done
    assert ret.returncode == 0 and not failed(ret), failed(ret)
    assert set(changed(ret)[NOT_WATCHING]) == {"config", "restart"}, changed(ret)
    assert not os.path.exists(drop_in)
    running = engines(salt_cli)
    assert not any("arp_watch" in json.dumps(engine) for engine in running) and running == theirs, running
