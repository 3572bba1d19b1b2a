"""
Keep the kernel's neighbour table (ARP, IPv6 NDP) free of stale and wrong entries.

:depends: the ``arp`` execution module of arp-hygiene (and so pyroute2)
:platform: Linux

.. code-block:: yaml

    no stale neighbour entries:
      arp.no_stale:
        - interface: [eth0, eth1]
        - states: [stale, failed]
        - exclude: 192.0.2.1

    neighbour entries hold the MAC their address answers with:
      arp.verified:
        - interface: eth0
        - family: all
"""

import fnmatch
import json
import logging
import os
import subprocess
import sys

import salt.utils.atomicfile
import salt.utils.files
import salt.utils.systemd
import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "arp"


def __virtual__():
    if "arp.flush_stale" in __salt__:
        return __virtualname__
    return (
        False,
        "The arp state needs the arp execution module of arp-hygiene, which needs pyroute2 and Linux: "
        "sync it (saltutil.sync_all) or pip install arp-hygiene, and install pyroute2.",
    )


def no_stale(
    name, interface=None, states="stale", family="inet", network=None, exclude=None, min_age=0, netns=None,
    metrics_dir=None,
):  # fmt: skip
    """
    Make sure no neighbour entry is in the given NUD states (default:
    ``stale``) by deleting those that are. ``permanent`` and ``noarp``
    entries, and ``extern_learn`` ones, are never deleted.

    The changes list the deleted entries (``deleted``) and those that the
    kernel removed on its own meanwhile (``vanished``), each as
    ``{interface: {address: MAC}}``; with ``test=True`` the entries that
    would be deleted, under ``deleted``.

    .. code-block:: yaml

        database neighbours:
          arp.no_stale:
            - interface: eth0
            - family: all
            - min_age: 60

    name
        A label for the state; it selects nothing.

    interface, states, family, network, exclude, min_age, netns
        The selection, as for the execution module's ``arp.flush_stale``:
        interface name(s), NUD states (default ``stale``), ``inet``,
        ``inet6`` or ``all``, a CIDR to stay within, addresses or CIDRs
        never to touch, the minimum seconds since the entry was confirmed,
        and a named network namespace (default: the minion's own).

    metrics_dir
        As for ``arp.flush_stale``: a live run writes its Prometheus metrics
        there (node_exporter's textfile collector); a test run does not.
    """
    selection = {key: value for key, value in locals().items() if key not in ("name", "metrics_dir")}
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    where = f"the neighbour table of network namespace {netns}" if netns else "the neighbour table"
    wanted = ", ".join(map(str, states)) if isinstance(states, (list, tuple)) else str(states or "stale")
    try:
        if __opts__["test"]:
            planned = __salt__["arp.flush_stale"](test=True, **selection)["would_delete"]
            if planned:
                ret["result"] = None
                ret["changes"] = {"deleted": planned}
                ret["comment"] = f"Would flush {_entries(planned)} ({wanted}) from {where}."
            else:
                ret["comment"] = f"No {wanted} entries in {where}: already clean."
            return ret
        flushed = __salt__["arp.flush_stale"](test=False, metrics_dir=metrics_dir, **selection)
    except (CommandExecutionError, SaltInvocationError) as err:
        # A flush that fails midway has still deleted entries: they are changes.
        return _failed(ret, err, ("deleted", "vanished"), "flush neighbour entries")
    if flushed["deleted"] or flushed["vanished"]:
        ret["changes"] = {key: value for key, value in flushed.items() if value}
        ret["comment"] = f"Flushed {_entries(flushed['deleted'])} ({wanted}) from {where}."
        if flushed["vanished"]:
            ret["comment"] += f" {_entries(flushed['vanished'])} vanished before their delete."
    else:
        ret["comment"] = f"No {wanted} entries in {where}: already clean."
    return ret


def _made(err, keys):
    """The changes an error of the execution module carries (``info``), as state changes."""
    info = getattr(err, "info", None) or {}
    return {key: info[key] for key in keys if info.get(key)}


def _failed(ret, err, keys, doing):
    """``ret`` failed by the execution module's error, with what it changed before (``keys`` of its ``info``)."""
    ret.update(result=False, changes=_made(err, keys), comment=f"Cannot {doing}: {_message(err)}")
    return ret


def _message(err):
    """The error's own words, without the ``info`` that Salt appends to them."""
    return getattr(err, "error", None) or str(err)


def _entries(report):
    """'N neighbour entries' of a report {interface: {address: ...}}."""
    count = _total(report)
    return f"{count} neighbour {'entry' if count == 1 else 'entries'}"


def verified(
    name, interface=None, states=None, family="inet", network=None, exclude=None, min_age=0, netns=None, timeout=1,
    rate=200, sweep=False, metrics_dir=None,
):  # fmt: skip
    """
    Make sure the selected neighbour entries hold the MAC that their address
    answers with (``arp.verify fix=True``): ask each cached MAC alone, then
    the whole segment about the entries whose MAC did not answer (with
    ``sweep: true``, about every entry); replace learned entries that one
    other MAC answers for, and delete ``stale`` and ``failed`` entries whose
    address nobody answers for. Entries that answer
    as cached are never touched, nor ``permanent``, ``noarp``,
    ``extern_learn`` and ``managed`` entries, nor addresses that several MACs
    answer for (a conflict: named in the comment, left to a human).

    The changes: ``replaced`` (``{interface: {address: {old, new}}}``) and
    ``deleted`` (``{interface: {address: MAC}}``). With ``test=True`` nothing
    is sent (what is wrong is known only by asking): the result is ``None``
    and the comment says how many entries a live run would ask about.

    .. code-block:: yaml

        database neighbours answer as cached:
          arp.verified:
            - interface: eth0
            - family: all
            - timeout: 2

    name
        A label for the state; it selects nothing.

    interface, states, family, network, exclude, min_age, netns, timeout, rate, sweep, metrics_dir
        As for the execution module's ``arp.verify``.
    """
    arguments = {key: value for key, value in locals().items() if key != "name"}
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    where = f"the neighbour table of network namespace {netns}" if netns else "the neighbour table"
    test = bool(__opts__["test"])
    try:
        found = __salt__["arp.verify"](fix=True, test=test, **arguments)
    except (CommandExecutionError, SaltInvocationError) as err:
        return _failed(ret, err, ("replaced", "deleted"), "verify neighbour entries")
    skipped = f" {_total(found['skipped'])} skipped." if found["skipped"] else ""
    if test:
        count = _total(found["would_ask"])
        if count:
            ret["result"] = None
            ret["comment"] = (
                f"Would ask the segment about {count} {'entry' if count == 1 else 'entries'} in {where} and repair "
                "those that another MAC or nobody answers for (test mode sends nothing: what is wrong is known "
                f"only to a live run).{skipped}"
            )
        else:
            ret["comment"] = f"No neighbour entries to verify in {where}.{skipped}"
        return ret
    replaced, deleted = found["replaced"], found["deleted"]
    ret["changes"] = {key: value for key, value in (("replaced", replaced), ("deleted", deleted)) if value}
    asked = sum(_total(found[key]) for key in ("ok", "mismatch", "conflict", "unanswered"))
    parts = [f"{_total(found['ok'])} answered as cached", f"{_total(found['unanswered'])} unanswered"]
    entries = "entry" if asked == 1 else "entries"
    ret["comment"] = f"Asked about {asked} {entries} in {where}: " + ", ".join(parts) + "." + skipped
    if ret["changes"]:
        ret["comment"] += f" Replaced {_entries(replaced)} holding a wrong MAC, deleted {_entries(deleted)}"
        ret["comment"] += " nobody answered for."
    if found["conflict"]:
        ret["comment"] += f" Several MACs answer for {_places(found['conflict'])}: left alone, for a human to settle."
    left = {
        ifname: {dst: value for dst, value in entries.items() if dst not in replaced.get(ifname, {})}
        for ifname, entries in found["mismatch"].items()
    }
    if _total(left):
        ret["comment"] += f" Left alone although another MAC answered (static entries): {_places(left)}."
    return ret


def _places(report):
    """'192.0.2.1 on eth0, ...' of a report {interface: {address: ...}}."""
    return ", ".join(f"{dst} on {ifname}" for ifname, entries in report.items() for dst in entries)


def _total(report):
    """The entries of a report {interface: {address: ...}}."""
    return sum(len(entries) for entries in report.values())


def announced(name, interface=None, family="all", netns=None, count=3, interval=1, mode="request"):
    """
    Tell the segment this host's MAC for each of its addresses
    (``arp.announce``: gratuitous ARP, unsolicited neighbour advertisements,
    ``count`` times ``interval`` seconds apart). Frames on the wire change nothing on this host, so the
    state reports no changes: the comment says what was announced, and the
    result is ``False`` only if sending failed. With ``test=True`` nothing is
    sent and the comment says what would be.

    .. code-block:: yaml

        tell the segment our MACs:
          arp.announced:
            - interface: eth0
            - count: 5
            - mode: both

    name
        A label for the state; it selects nothing.

    interface, family, netns, count, interval, mode
        As for the execution module's ``arp.announce``.
    """
    arguments = {key: value for key, value in locals().items() if key != "name"}
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    test = bool(__opts__["test"])
    try:
        done = __salt__["arp.announce"](test=test, **arguments)
    except (CommandExecutionError, SaltInvocationError) as err:
        sent = _made(err, ("announced",)).get("announced")
        ret["result"] = False
        ret["comment"] = f"Cannot announce: {_message(err)}" + (f" Announced before: {_listed(sent)}." if sent else "")
        return ret
    addresses = done["would_announce" if test else "announced"]
    if not addresses:
        ret["comment"] = "Nothing to announce: no interface chosen is up with an address."
    else:
        ret["comment"] = ("Would announce " if test else "Announced ") + _listed(addresses) + "."
    return ret


def diagnosed(name, interface=None, family="all", netns=None, fail_on=None):
    """
    Report why a black hole can last on this host (``arp.diagnose``): the
    comment names each finding, its risk and the pillar that changes it. It
    fails only on the findings that ``fail_on`` names, as a pillar says what
    must hold; it reads only, and test mode says what a live run would.

    .. code-block:: yaml

        the neighbour table cannot overflow:
          arp.diagnosed:
            - fail_on: [near_gc_thresh3, table_full]

    name
        A label for the state; it selects nothing.

    interface, family, netns
        As for the execution module's ``arp.diagnose``.

    fail_on
        Findings that fail the state: a list of ``below_gc_thresh1``,
        ``near_gc_thresh3``, ``table_full``, ``slow_reprobe``,
        ``arp_notify_off``. Default: none, the state reports.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        # arp.diagnose refuses a fail_on that names no finding, before it reads.
        found = __salt__["arp.diagnose"](interface=interface, family=family, netns=netns, fail_on=fail_on)
    except (CommandExecutionError, SaltInvocationError) as err:
        return _failed(ret, err, (), "diagnose the neighbour table")
    findings = [finding for report in found.values() for finding in report["findings"]]
    failing = [finding["finding"] for finding in findings if finding["finding"] in (fail_on or ())]
    lines = [f"{finding['finding']}: {finding['risk']} Pillar: {finding['pillar']}" for finding in findings]
    ret["comment"] = "\n".join(lines) if lines else "No findings: nothing lets a wrong entry last here."
    if failing:
        ret["result"] = False
        ret["comment"] = f"Findings that must not hold: {', '.join(sorted(set(failing)))}.\n" + ret["comment"]
    return ret


def _listed(addresses):
    """'192.0.2.7, 2001:db8::7 on eth0; ...' of {ifname: [addresses]}."""
    return "; ".join(f"{', '.join(found)} on {ifname}" for ifname, found in addresses.items())


def job_works(name, function, **kwargs):
    """
    A scheduled job's function works with its arguments: it is called once
    in test mode (nothing changes, nothing is sent), so that a job that would
    fail on every run (a namespace or interface that does not exist, an
    interface verify cannot ask on) fails the highstate instead, naming the
    cause. It reports no changes.

    .. code-block:: yaml

        the flush job works:
          arp.job_works:
            - function: arp.flush_stale
            - netns: db

    name
        A label for the state, such as the job's name.

    function
        ``arp.flush_stale``, ``arp.verify`` or ``arp.announce``.

    kwargs
        The job's arguments (``test`` is set to True here).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if function not in ("arp.flush_stale", "arp.verify", "arp.announce"):
        ret["result"] = False
        ret["comment"] = f"function must be arp.flush_stale, arp.verify or arp.announce, not {function!r}"
        return ret
    arguments = {key: value for key, value in kwargs.items() if not key.startswith("__") and key != "test"}
    try:
        __salt__[function](test=True, **arguments)
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["result"] = False
        ret["comment"] = f"{name} would fail on every run: {_message(err)}"
        return ret
    ret["comment"] = f"{name}: {function} works with these arguments (tried in test mode)"
    return ret


# The watcher's engine (salt/_engines/arp_watch.py), as the states below configure it.
WATCH_ENGINE = "arp_watch"


def watching(name, **settings):
    """
    The salt-minion daemon runs the watcher, the engine ``arp_watch`` (which
    runs ``arp.watch`` round after round), with ``settings``. ``name`` is the
    drop-in that configures it, a file of the daemon's ``default_include``
    (``minion.d/*.conf``), written with the engine alone. A daemon reads its
    engines when it starts: while it runs without these settings, it is
    restarted with Salt's ``minion.restart`` (``minion_restart_command``,
    systemd, or its own command line in daemon mode), at the end of the run.

    Nothing is written, and the state fails saying why, when the engine could
    not run as asked: applied by ``salt-call`` (engines run in the daemon),
    the daemon's own configuration file sets ``engines`` (Salt replaces them
    with a drop-in's: move them to a ``minion.d`` file, where lists merge), or
    there is no way to restart the daemon (in the foreground without systemd
    or ``minion_restart_command``, ``minion.restart`` would stop it for good).
    With ``test=True`` it says what it would write and whether it would restart.

    .. code-block:: yaml

        watch for the first packet:
          arp.watching:
            - name: /etc/salt/minion.d/arp_hygiene_watch.conf
            - interface: eth0
            - round_seconds: 60

    name
        The drop-in's path.

    settings
        The engine's settings: ``round_seconds``, ``retry_seconds`` and the
        arguments of ``arp.watch`` but ``seconds``.
    """
    settings = {key: value for key, value in settings.items() if not key.startswith("__")}
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    problem = _daemon_problem() or _config_problem(name) or (None if _runs_watch(settings) else _restart_problem())
    if problem:
        ret.update(result=False, comment=problem)
        return ret
    text = _drop_in(settings)
    write = _read(name) != text
    restart = not _runs_watch(settings)
    if not write and not restart:
        ret["comment"] = f"The salt-minion daemon runs the engine {WATCH_ENGINE} as {name} configures it."
        return ret
    if write:
        ret["changes"]["config"] = name
    if restart:
        ret["changes"]["restart"] = f"the daemon runs {_engines_said(settings)}"
    if __opts__["test"]:
        ret.update(result=None, comment=_would(write, restart, name))
        return ret
    if write:
        _write(name, text)
    if restart:
        return _restarted(ret, f"Wrote {name}. " if write else "")
    ret["comment"] = f"Wrote {name}; the daemon already runs the engine {WATCH_ENGINE} with these settings."
    return ret


def not_watching(name):
    """
    The engine ``arp_watch`` that the drop-in ``name`` configured (state
    ``arp.watching``) no longer runs: the drop-in is removed and, if the
    daemon runs an engine it named, the daemon is restarted (as
    ``arp.watching`` restarts it). The daemon's other engines, and an
    ``arp_watch`` configured elsewhere, stay. Without the drop-in, nothing
    to do. With ``test=True`` it says what it would do.

    .. code-block:: yaml

        no watcher:
          arp.not_watching:
            - name: /etc/salt/minion.d/arp_hygiene_watch.conf
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    text = _read(name)
    if text is None:
        ret["comment"] = f"No {name}: no engine of it to stop."
        return ret
    configured = _engines((salt.utils.yaml.safe_load(text) or {}).get("engines"))
    running = [entry for entry in _engines(__opts__.get("engines")) if entry in configured]
    problem = (_daemon_problem() or _restart_problem()) if running else None
    if problem:
        ret.update(result=False, comment=problem)
        return ret
    ret["changes"]["config"] = f"{name} removed"
    if running:
        ret["changes"]["restart"] = f"the daemon runs {len(running)} engine(s) of {name}"
    if __opts__["test"]:
        ret.update(result=None, comment=f"Would remove {name}" + (" and restart the daemon." if running else "."))
        return ret
    os.remove(name)
    if running:
        return _restarted(ret, f"Removed {name}. ")
    ret["comment"] = f"Removed {name}; the daemon ran none of its engines."
    return ret


def _engines(engines):
    """A configuration's ``engines`` (a list of names and one-key mappings, or a mapping) as [{name: settings}]."""
    if isinstance(engines, dict):
        engines = [{key: value} for key, value in engines.items()]
    listed = []
    for entry in engines or []:
        listed.append({entry: {}} if isinstance(entry, str) else dict(entry))
    return listed


def _runs_watch(settings):
    """Whether this daemon started with the engine arp_watch and these settings."""
    return {WATCH_ENGINE: settings} in _engines(__opts__.get("engines"))


def _engines_said(settings):
    running = [entry for entry in _engines(__opts__.get("engines")) if WATCH_ENGINE in entry]
    if not running:
        return f"no engine {WATCH_ENGINE}"
    return f"{WATCH_ENGINE} with {running[0][WATCH_ENGINE]}, not {settings}"


def _drop_in(settings):
    header = "# Written by the arp_hygiene formula (state arp.watching); arp_hygiene.clean removes it.\n"
    return header + salt.utils.yaml.safe_dump({"engines": [{WATCH_ENGINE: settings}]}, default_flow_style=False)


def _read(path):
    try:
        with salt.utils.files.fopen(path, "r") as drop_in:
            return drop_in.read()
    except FileNotFoundError:
        return None


def _write(path, text):
    """``text`` at ``path``, atomically, readable by root alone as Salt's own configuration is."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with salt.utils.atomicfile.atomic_open(path, "w") as drop_in:
        drop_in.write(text)
    os.chmod(path, 0o644)


def _daemon_problem():
    """Why this run cannot change the daemon's engines (Salt's own test for salt-call), or None."""
    if __opts__.get("__cli") == "salt-call":
        return (
            f"The engine {WATCH_ENGINE} runs in the salt-minion daemon, and salt-call is not the daemon: apply this "
            "through the daemon (salt <minion> state.apply, or its scheduler)."
        )
    return None


def _config_problem(name):
    """Why the daemon would not run an engine configured in ``name``, or None."""
    conf_file = __opts__.get("conf_file") or ""
    included = os.path.join(os.path.dirname(conf_file), __opts__.get("default_include") or "")
    if not fnmatch.fnmatch(name, included):
        return f"{name} is not read by the salt-minion daemon: its default_include is {included}."
    own = salt.utils.yaml.safe_load(_read(conf_file) or "") if conf_file else None
    if isinstance(own, dict) and "engines" in own:
        return (
            f"{conf_file} sets engines, which Salt replaces with those of a drop-in (it merges its include files "
            f"into that file key by key): move them to a file of {os.path.dirname(included)} of their own, where "
            "Salt merges the lists, and apply again."
        )
    return None


def _restart_way():
    """
    How the daemon starts again, in minion.restart's order: ``("command",
    minion_restart_command)``, ``("systemd", None)``, ``("command", its own
    command line)`` in daemon mode; ``(None, None)`` if nothing would start it.
    """
    command = __salt__["config.get"]("minion_restart_command")
    if command:
        return "command", list(command)
    if salt.utils.systemd.booted(__context__):
        return "systemd", None
    if "-d" in sys.argv:
        return "command", list(sys.argv)
    return None, None


def _restart_problem():
    """Why the daemon could not be restarted from here, or None."""
    if _restart_way()[0]:
        return None
    return (
        "The daemon reads its engines when it starts, and this one cannot be restarted from Salt: it runs in the "
        "foreground without systemd, and minion_restart_command is not set (nothing would start it again). "
        "Set minion_restart_command in its configuration, or restart it yourself."
    )


def _restarted(ret, done):
    """
    ``ret`` once the restart of the daemon is on its way: a job cannot
    restart its daemon and return (the daemon ends its jobs when it stops),
    so a detached restarter (_modules/_arp_hygiene_restart.py) does it once
    this job has returned.
    """
    how, command = _restart_way()
    # The restarter, a program beside the arp module (the same directory, synced or installed with it).
    program = os.path.join(os.path.dirname(__salt__["arp.version"]()["file"]), "_arp_hygiene_restart.py")
    plan = {"job": os.getpid(), "daemon": __grains__["pid"], "how": how, "command": command}
    started = subprocess.run(
        [sys.executable, program, "start", json.dumps(plan)], capture_output=True, text=True, timeout=30, check=False
    )
    if started.returncode:
        said = started.stderr.strip() or f"exit {started.returncode}"
        ret.update(result=False, comment=f"{done}Cannot start the restarter {program}: {said}")
        return ret
    said = "systemctl restart salt-minion" if how == "systemd" else " ".join(command)
    ret["comment"] = (
        f"{done}The salt-minion daemon restarts once this run has returned ({said}); "
        "the system log says how it went (tag arp-hygiene)."
    )
    return ret


def _would(write, restart, name):
    said = [f"write {name}"] if write else []
    if restart:
        said.append("restart the salt-minion daemon so that it runs the engine " + WATCH_ENGINE)
    return "Would " + " and ".join(said) + "."
