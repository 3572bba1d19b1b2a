"""
List, flush and verify the kernel's neighbour table (ARP and IPv6 NDP), and
announce this host's own addresses.

:depends: pyroute2
:platform: Linux

Every function takes ``netns``, a named network namespace. This file is the
Salt page; the work is in the helpers beside it (HELPERS), plain Python that
Salt syncs with it and never loads as modules: the policy (what may change,
what an answer means), argument checks, rtnetlink, frames, metrics.
"""

import contextlib
import importlib.util
import os
import sys

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "arp"
__func_alias__ = {"list_": "list"}
# The release, here so that every copy (synced, pip-installed) says which it is; setup.cfg reads it.
__version__ = "0.1.0"

# In the order they import each other.
PARTS = "errors policy netlink layouts neighbours writes arguments probe metrics watch".split()
HELPERS = tuple(f"_arp_hygiene_{part}" for part in PARTS)


def _load_helpers():
    """
    The helpers beside this file, executed afresh (at a module refresh too)
    from this copy, each in ``sys.modules`` before the next imports it:
    {name: module}, or why not (a str, for ``__virtual__``).
    """
    loaded = {}
    for name in HELPERS:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        if not os.path.isfile(path):
            return (
                f"The arp module cannot load: its helper {path} is missing: sync every file of _modules/ again "
                f"(saltutil.sync_modules), and if extmod_whitelist names modules, list {', '.join(HELPERS)} too."
            )
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except ImportError as err:  # pyroute2, which the helpers import
            del sys.modules[name]
            return (
                "The arp module needs the pyroute2 library: install it for the Python that runs Salt, "
                f"e.g. 'salt-pip install pyroute2' or 'pip install pyroute2' ({err})."
            )
        loaded[name] = module
    return loaded


HELPERS_LOADED = _load_helpers()
if isinstance(HELPERS_LOADED, dict):
    errors, policy, netlink, layouts, neighbours, writes, arguments, probe, metrics, watcher = HELPERS_LOADED.values()


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "The arp module needs Linux: it manages the Linux neighbour table over netlink.")
    if not isinstance(HELPERS_LOADED, dict):
        return (False, HELPERS_LOADED)
    return __virtualname__


def list_(interface=None, states=None, family="inet", network=None, exclude=None, min_age=0, netns=None):
    """
    List neighbour entries (the ARP table, and with ``family=inet6`` or
    ``family=all`` the IPv6 neighbour table).

    CLI Example:

    .. code-block:: bash

        salt '*' arp.list
        salt '*' arp.list interface=eth0 states=stale,failed
        salt '*' arp.list family=all network=192.0.2.0/24 netns=blue

    interface
        An interface name or a list of names. Default: every interface.

    states
        NUD state names: one name, a comma-separated string or a list, from
        ``incomplete reachable stale delay probe failed noarp permanent none``.
        Default: every state.

    family
        ``inet`` (IPv4, the default), ``inet6`` (IPv6) or ``all``.

    network, exclude
        Only entries whose address lies in this IPv4 or IPv6 CIDR; and not in
        these addresses or CIDRs (one, a comma-separated string or a list).

    min_age
        Only entries last confirmed at least this many seconds ago.

    netns
        A named network namespace (as ``ip netns list`` shows it). Default:
        the minion's own.

    Returns a list of entries, each a dict with the keys ``dst``,
    ``lladdr``, ``ifname``, ``ifindex``, ``family``, ``state``, ``flags``,
    ``probes``, ``confirmed``, ``used``, ``updated`` (the last three are ages
    in seconds).
    """
    with _salt_errors(netns):
        checked = arguments.selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
        with netlink.Socket(netns) as sock:
            ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
            return neighbours.scan(sock, arguments.on_links(checked, ifnames), ifnames)


def flush_stale(
    interface=None, states="stale", family="inet", network=None, exclude=None, min_age=0, netns=None, test=None,
    metrics_dir=None,
):  # fmt: skip
    """
    Delete the neighbour entries in the given NUD states (default: ``stale``)
    and report them. ``permanent`` and ``noarp`` entries, and entries that a
    routing daemon installed (flag ``extern_learn``), are never deleted.

    Returns ``{"deleted": {ifname: {dst: lladdr}}, "vanished": {...}}``: the
    entries deleted (by interface, address and the MAC they held; ``None``
    for none), and those that the dump showed but that were gone before
    their delete (the kernel or another flush removed them first; that is
    not an error). With ``test=True`` nothing is deleted and the return is
    ``{"would_delete": {ifname: {dst: lladdr}}}``.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.flush_stale
        salt '*' arp.flush_stale interface=eth0 test=True
        salt '*' arp.flush_stale states=stale,failed exclude=192.0.2.1 min_age=300
        salt '*' arp.flush_stale family=all netns=blue

    interface, family, network, netns
        As for :py:func:`arp.list <list_>`.

    states
        The NUD states to flush: one name, a comma-separated string or a
        list, from ``incomplete reachable stale delay probe failed none``.
        Default: ``stale``.

    exclude, min_age
        Addresses or CIDRs never to touch (e.g. the default gateway); keep
        entries confirmed less than ``min_age`` seconds ago.

    test
        Report what would be deleted, delete nothing. Default: the minion's
        ``test`` option.

    metrics_dir
        A directory that node_exporter's textfile collector reads: the run,
        failed or not, replaces ``arp_hygiene_flush.prom`` there (the docs,
        "Metrics"). Not in test mode. Default: no metrics.
    """
    if states is None:  # `states: ~` in an SLS: the documented default, never every state
        states = "stale"
    return flush(interface, states, family, network, exclude, min_age, netns, test, metrics_dir)


def flush(
    interface=None, states=None, family="inet", network=None, exclude=None, min_age=0, netns=None, test=None,
    metrics_dir=None,
):  # fmt: skip
    """
    Delete every learned neighbour entry (every state but ``permanent`` and
    ``noarp``; not a routing daemon's, ``extern_learn``) on the chosen
    interfaces: what ``ip neigh flush`` and the field's cron job do.
    Returns the same data as :py:func:`arp.flush_stale <flush_stale>`.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.flush interface=eth0
        salt '*' arp.flush family=all exclude=192.0.2.1 test=True

    The arguments are those of :py:func:`arp.flush_stale <flush_stale>`;
    ``states`` defaults to every learned state.
    """

    def run():
        with _salt_errors(netns):
            checked = arguments.selection(interface, states, family, network, exclude, min_age, netns, flushing=True)
            dry = _test(test)
            with netlink.Socket(netns) as sock:
                ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
                chosen = arguments.on_links(checked, ifnames)
                plan = neighbours.scan(sock, chosen, ifnames, neighbours.FlushPlan(requests=not dry))
                if dry:
                    return {"would_delete": plan.outcome()[0]}
                return neighbours.delete(sock, plan)

    return _metered("flush", metrics_dir, netns, test, run)


def verify(
    interface=None, states=None, family="inet", network=None, exclude=None, min_age=0, netns=None, timeout=1,
    rate=200, fix=False, sweep=False, test=None, metrics_dir=None,
):  # fmt: skip
    """
    Ask the network whether each cached neighbour entry still holds the MAC
    that owns its address, and report the entries that do not: the black
    holes that are not ``stale`` (an old MAC kept ``reachable`` by unrelated
    traffic, or a static entry gone wrong).

    Only the questions the kernel itself asks go out, from this host's own
    address and MAC, never a probe that a host taking the address over would
    count as a rival (the docs, "What verify sends"); ``rate`` a second, with
    answers collected for ``timeout`` seconds after the last question.

    - First, as the kernel confirms its entries, each cached MAC is asked
      alone (unicast: no other host receives it): ``ok`` if it answers, else
      ``unanswered``. A confirmed entry may turn ``reachable``; no MAC changes.
    - With ``fix=True``, the entries whose MAC did not answer are then asked
      of the whole segment (an ARP broadcast, a solicitation to the
      solicited-node group), which finds who holds the address now:
      ``mismatch`` if one other MAC answered (the entry is replaced with it:
      its state becomes ``reachable``, its flags stay), ``conflict`` if
      several did (never repaired; if this host's kernel took an answer, the
      cached MAC is put back), ``unanswered`` if nobody did (``stale`` and
      ``failed`` entries are deleted). Entries whose MAC answers cost no
      broadcast and are never touched, nor ``permanent``, ``noarp``,
      ``extern_learn`` and ``managed`` entries; the last two (a routing
      daemon's) are asked of their cached MAC alone, never of the whole
      segment, whose answer the kernel would take into them. The return also has
      ``replaced`` (``{"old": MAC, "new": MAC}``) and ``deleted``.
    - With ``fix=True`` and ``sweep=True``, every entry is asked of the whole
      segment (a broadcast each): the only way to hear a second MAC claiming
      an address whose cached MAC answers. Now and then, not every run.
    - With ``test=True`` nothing is sent and nothing changes: the return is
      ``{"would_ask": ..., "skipped": ...}``, what a live run would ask about.

    Returns ``{"ok", "mismatch", "conflict", "unanswered", "skipped"}``, each
    ``{ifname: {dst: ...}}``: ``ok`` and ``unanswered`` map to the cached MAC,
    ``mismatch`` and ``conflict`` to ``{"cached": MAC, "answered": [MACs]}``,
    ``skipped`` to why an entry could not be asked about. A repair that fails
    midway raises with what it changed so far.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.verify
        salt '*' arp.verify interface=eth0 fix=True
        salt '*' arp.verify family=all states=reachable,stale fix=True test=True
        salt '*' arp.verify network=192.0.2.0/24 timeout=2 netns=blue

    interface, states, family, network, exclude, min_age, netns
        The selection, as for :py:func:`arp.flush_stale <flush_stale>`.
        ``states`` defaults to every state whose entries hold a MAC:
        ``reachable stale delay probe permanent``.

    timeout
        Seconds to wait for answers after the last question, above 0 and at
        most TIMEOUT_MAX. Default: 1.

    rate
        Questions per second, from RATE_MIN to RATE_MAX. Default: 200. A run whose
        questions would take more than RUN_LIMIT seconds is refused before
        anything is sent: raise ``rate`` or narrow the selection.

    fix
        Ask the whole segment about the entries whose MAC did not answer, and
        repair what the answers show to be wrong. Default: False.

    sweep
        With ``fix``: ask the whole segment about every entry. Default: False.

    test
        Send nothing, change nothing; report what a live run would ask
        about. Default: the minion's ``test`` option.

    metrics_dir
        As for :py:func:`arp.flush_stale <flush_stale>`, in
        ``arp_hygiene_verify.prom`` (a sweep's in ``arp_hygiene_sweep.prom``,
        task ``sweep``), with the entries of each outcome.
    """
    if states is None:
        states = list(policy.VERIFIED_STATES)

    def run():
        with _salt_errors(netns):
            checked = arguments.selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
            wait = arguments.number(timeout, "timeout", "seconds", *policy.TIMEOUT_LIMITS, above_low=True)
            pace = arguments.number(rate, "rate", "questions a second", *policy.RATE_LIMITS)
            (repair, whole), dry = arguments.fix_and_sweep(fix, sweep), _test(test)
            with netlink.Socket(netns) as sock:
                links = netlink.read_links(sock, addresses=True)
                arguments.ethernet(checked["interfaces"], checked["family"], links, netns)
                ifnames = netlink.LinkNames(netns, links)
                entries = neighbours.scan(sock, arguments.on_links(checked, ifnames), ifnames)
            asked, skipped = probe.split_askable(entries, links)
            if dry:
                return {"would_ask": policy.cached_macs(asked), "skipped": skipped}
            arguments.run_length(len(asked), pace)
            answers = probe.ask_like_the_kernel(asked, links, netns, wait, pace, repair, whole)
            found = policy.verdicts(asked, answers, skipped)
            if repair:
                found.update(writes.repair(found, asked, netns))
            return found

    # A sweep's metrics are a task of their own (sweep must be a bool: run() says so otherwise).
    return _metered("sweep" if sweep is True else "verify", metrics_dir, netns, test, run)


def announce(interface=None, family="all", netns=None, wait=0, count=3, interval=1, mode="request", test=None):
    """
    Tell the segment this host's MAC for each of its addresses, ``count``
    times (one lost frame must not leave a host on the old MAC): a gratuitous
    ARP request (IPv4) and an unsolicited neighbour advertisement (IPv6, with
    the override flag) per address, so that hosts holding an old MAC for an
    address that this host now has (a worker relaunched with a reused IP)
    replace it at once. Hosts without an entry for the address learn nothing
    (Linux's default ``arp_accept`` and ``accept_untracked_na``). Addresses
    in duplicate address detection are not announced.

    Returns ``{"announced": {ifname: [addresses]}}``; with ``test=True``,
    ``{"would_announce": ...}`` and nothing is sent. If sending fails on an
    interface, the error names it and carries what was announced before.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.announce
        salt -G 'roles:worker' arp.announce interface=eth0 family=inet
        salt -G 'roles:worker' arp.announce count=5 interval=0.5 mode=both

    interface
        An interface name or a list of names (each must be up). Default:
        every Ethernet interface that is up and has an address.

    family
        ``inet``, ``inet6`` or ``all`` (the default).

    netns
        A named network namespace. Default: the minion's own.

    wait
        Seconds to wait for something to announce, as at boot, when the
        network may not be up yet: the interfaces are read again every second
        until the named ones are up (or one has an address), then an error
        if there is still nothing. Default 0: no wait, and nothing to announce
        is no error. Test mode does not wait.

    count, interval, mode
        Announcements of each address (1 to 100; default 3), the seconds
        between two (0 to 60; default 1), and for IPv4 ``request`` (default),
        ``reply`` (for hosts that ignore requests) or ``both``.

    test
        Report what would be announced, send nothing. Default: the minion's
        ``test`` option.
    """
    with _salt_errors(netns):
        number = arguments.family(family)
        names = arguments.names(interface, "interface", split=False)
        arguments.namespace(netns)
        wait = arguments.number(wait, "wait", "seconds", 0, 3600)
        repeat, dry = arguments.announcing(count, interval, mode), _test(test)
        chosen = probe.announceable_within(names, number, netns, wait, dry)
    if dry:
        return {"would_announce": {link["ifname"]: [a for _, a, _ in found] for link, found in chosen}}
    announced = {}
    with _salt_errors(netns, info={"announced": announced}):
        for ifname, address in probe.announce(chosen, netns, *repeat):
            announced.setdefault(ifname, []).append(address)
    return {"announced": announced}


def diagnose(interface=None, family="all", netns=None, fail_on=None):
    """
    Why a black hole can last on this host, and what to change. Returns per
    family the facts: ``entries`` (the namespace's), ``kernel_entries`` (all
    namespaces'), ``gc_thresh1/2/3``, the kernel's table ``counters``, per
    Ethernet interface the NUD timers in force (and ``arp_accept``,
    ``arp_notify``); and the ``findings`` that follow, each with its risk in
    one sentence and the formula's ``pillar`` that changes it. Reads only.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:database' arp.diagnose
        salt db1 arp.diagnose interface=eth0 family=inet netns=blue
        salt db1 arp.diagnose fail_on='[near_gc_thresh3, table_full]'

    interface, family, netns
        As for :py:func:`arp.announce <announce>`.

    fail_on
        Findings that must not hold: a list of ``below_gc_thresh1``,
        ``near_gc_thresh3``, ``table_full``, ``slow_reprobe``,
        ``arp_notify_off``. When one is found, the return is the same and
        the call's exit status is 1, for a script or a check to act on.
        Default: none.
    """
    with _salt_errors(netns):
        wanted = arguments.findings(fail_on)
        families = [netlink.FAMILY_NAMES[number] for number in arguments.families(arguments.family(family))]
        names = arguments.names(interface, "interface", split=False)
        found = metrics.facts(arguments.namespace(netns), families, names)
    diagnosed = {name: {**facts, "findings": policy.findings(name, facts)} for name, facts in found.items()}
    if any(finding["finding"] in wanted for report in diagnosed.values() for finding in report["findings"]):
        __context__["retcode"] = 1
    return diagnosed


def version():
    """
    This module's release and the file the minion runs it from: a minion can
    hold a copy synced from the master and one of the pip package, and since
    Salt 3006 the synced copy wins; after an upgrade, this says which runs.

    Returns ``{"version": "0.1.0", "file": path, "copy": how}``, ``copy``:
    ``synced``, ``package`` (the pip package's ``salt.loader`` entry point;
    an editable install's checkout) or ``module_dirs`` (another directory).

    CLI Example:

    .. code-block:: bash

        salt '*' arp.version
    """
    here = os.path.dirname(os.path.abspath(__file__))
    copy = "module_dirs"
    if os.path.dirname(here) == os.path.abspath(__opts__["extension_modules"]):
        copy = "synced"
    else:
        with contextlib.suppress(ImportError):
            import arp_hygiene  # pylint: disable=import-outside-toplevel  (the pip package, where installed)

            copy = "package" if here in map(os.path.abspath, arp_hygiene.loader_dirs().get("modules", [])) else copy
    return {"version": __version__, "file": os.path.join(here, "arp.py"), "copy": copy}


def addresses(interface=None, family="all", netns=None, settings=None):
    """
    This host's own addresses and the MAC each is on, as it says so itself:
    of global scope (private ones too; not link-local or loopback ones, which
    no other machine reuses), none in duplicate address detection, on
    Ethernet interfaces.

    Returns ``{address: mac}``.

    CLI Example:

    .. code-block:: bash

        salt worker7 arp.addresses
        salt worker7 arp.addresses interface=eth0 family=inet
        salt worker7 arp.addresses settings=arp_hygiene:announce

    interface, family, netns
        As for :py:func:`arp.announce <announce>`.

    settings
        A configuration key (``config.get``: configuration, grains or pillar)
        whose ``interfaces``, ``family`` and ``netns`` apply where the
        arguments are not given; the runner ``arp_hygiene.forget`` passes
        ``arp_hygiene:announce``, what the formula announces as this host's.
    """
    interface, family, netns = _configured(
        settings, interfaces=interface, family=None if family == "all" else family, netns=netns
    )
    family = "all" if family is None else family
    with _salt_errors(netns):
        families = arguments.families(arguments.family(family))
        names = arguments.names(interface, "interface", split=False)
        arguments.namespace(netns)
        with netlink.Socket(netns) as sock:
            links = netlink.read_links(sock, addresses=True)
        arguments.known(names, {link["ifname"] for link in links.values()}, netns)
        return probe.own_addresses(links, names, families)


def forget(
    addresses, lladdr=None, interface=None, family="all", network=None, exclude=None, netns=None, settings=None,
    test=None,
):  # fmt: skip
    """
    Delete the learned entries for ``addresses``, except those that hold
    their owner's MAC: when a machine with those addresses starts, a
    database host then asks for the new MAC instead of sending to the old
    one. A correct entry is never churned. Never a ``permanent`` or
    ``noarp`` entry, nor a routing daemon's (``extern_learn``, ``managed``),
    nor one holding no MAC (``incomplete``, ``failed``): reported as kept.

    The only change is a delete: a MAC the caller names is compared, never
    written (a wrong ``lladdr`` costs one resolution, never a redirect).

    Returns ``{"deleted": {ifname: {dst: lladdr}}, "vanished": {...},
    "kept": {ifname: {dst: why}}, "not_cached": [addresses]}``
    (``vanished``: gone before their delete; ``not_cached``: the single
    addresses no entry holds); with ``test=True`` ``would_delete`` instead
    of ``deleted`` and ``vanished``, and nothing changes. A delete that
    fails raises with what was deleted.

    CLI Example:

    .. code-block:: bash

        salt db1 arp.forget 192.0.2.20
        salt db1 arp.forget 192.0.2.20,2001:db8::20 lladdr=02:00:00:00:20:02
        salt db1 arp.forget 192.0.2.0/24 interface=eth0 test=True
        salt db1 arp.forget 192.0.2.20 settings=arp_hygiene:flush

    addresses
        Addresses or CIDRs: one, a comma-separated string or a list.

    lladdr
        The owner's MAC: one MAC for every address, or ``{address: MAC}``.
        Entries that hold it are kept. Default: none, every learned entry
        for the addresses is deleted.

    interface, family, network, exclude, netns
        As for :py:func:`arp.list <list_>`; ``family`` defaults to ``all``.
        Only the entries that ``network`` holds and ``exclude`` does not are
        forgotten (an excluded entry is reported as kept).

    settings
        As for :py:func:`arp.addresses <addresses>`, for ``interfaces``,
        ``network``, ``exclude`` and ``netns``: the runner passes
        ``arp_hygiene:flush``, the selection the formula's pillar names.

    test
        Report what would be deleted, delete nothing. Default: the minion's
        ``test`` option.
    """
    interface, network, exclude, netns = _configured(
        settings, interfaces=interface, network=network, exclude=exclude, netns=netns
    )
    with _salt_errors(netns):
        places = arguments.places(addresses)
        owners = arguments.owner_macs(lladdr)
        checked = arguments.selection(interface, None, family, network, exclude, 0, netns, flushing=False)
        targets = policy.Targets(places)
        dry = _test(test)
        with netlink.Socket(netns) as sock:
            ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
            arguments.known(targets.scopes, set(ifnames.values()), netns)
            chosen = arguments.on_links(checked, ifnames)
            chosen.exclude = []  # excluded entries come back, to be reported as kept
            entries = neighbours.scan(sock, chosen, ifnames)
            doomed, kept, not_cached = policy.forgotten(entries, targets, checked["exclude"], owners)
            plan = neighbours.FlushPlan(requests=not dry)
            plan.choose(doomed, sock.seq + 1)
            if dry:
                return {"would_delete": plan.outcome()[0], "kept": kept, "not_cached": not_cached}
            return {**neighbours.delete(sock, plan), "kept": kept, "not_cached": not_cached}


# ------------------------------------------------------------ Salt's side


def _configured(key, **given):
    """Each argument of ``given`` (name=value), or where it is None, what configuration key ``key`` sets."""
    found = {}
    if not isinstance(key, (str, type(None))):
        raise SaltInvocationError(f"settings must be a configuration key such as arp_hygiene:flush, not {key!r}")
    if key:
        found = __salt__["config.get"](key, {})
    if found is None or found == "":
        found = {}
    if not isinstance(found, dict):
        raise SaltInvocationError(f"settings: {key} must be a mapping (of {', '.join(given)}), not {found!r}")
    return [found.get(name) if value is None else value for name, value in given.items()]


def watch(
    interface=None, family="all", network=None, exclude=None, netns=None, seconds=60, timeout=0.3, window=10,
    rate=20, test=None, metrics_dir=None,
):  # fmt: skip
    """
    Watch for the first packet that reveals a black hole: a frame whose sender claims a cached address on another MAC
    (a new TCP connection, ARP, a neighbour solicitation or advertisement).
    The cached MAC is asked alone, as verify asks; only if it stays silent is
    the segment asked and the entry repaired as ``arp.verify fix=True``
    would, with the same exclusions. A MAC seen only in a frame is never
    written.

    Returns ``{"seen", "contradicted", "asked", "answered", "limited", ...}``
    and verify's outcomes of the repairs; with ``test=True``, ``would_ask``
    and nothing is sent.

    CLI Example:

    .. code-block:: bash

        salt db1 arp.watch interface=eth0 seconds=60

    interface, family, network, exclude, netns
        The selection, as for :py:func:`arp.verify <verify>`.

    seconds
        How long to watch, above 0 and at most 86400.

    timeout
        Seconds to wait for each answer, above 0, at most TIMEOUT_MAX. Default: 0.3.

    window, rate
        At most one question per address per ``window`` seconds (default 10),
        and ``rate`` questions a second in all (default 20).

    metrics_dir
        As for :py:func:`arp.flush_stale <flush_stale>`, in
        ``arp_hygiene_watch.prom`` (task ``watch``): the entries of each
        outcome, and the frames read and questions limited
        (``arp_hygiene_last_run_total``).
    """
    return _metered(
        "watch",
        metrics_dir,
        netns,
        test,
        lambda: _watch(interface, family, network, exclude, netns, seconds, timeout, window, rate, test),
    )


def _watch(interface, family, network, exclude, netns, seconds, timeout, window, rate, test):
    with _salt_errors(netns):
        checked = arguments.selection(
            interface, list(policy.WATCHED_STATES), family, network, exclude, 0, netns, flushing=False
        )
        span = arguments.number(seconds, "seconds", "seconds", 0, 86400, above_low=True)
        wait = arguments.number(timeout, "timeout", "seconds", *policy.TIMEOUT_LIMITS, above_low=True)
        every = arguments.number(window, "window", "seconds", 0, 86400)
        pace = arguments.number(rate, "rate", "questions a second", *policy.RATE_LIMITS)
        dry = _test(test)
        with netlink.Socket(netns) as sock:
            links = netlink.read_links(sock, addresses=True)
            arguments.ethernet(checked["interfaces"], checked["family"], links, netns)
            ifnames = netlink.LinkNames(netns, links)
            chosen = arguments.on_links(checked, ifnames)
        return watcher.run(netns, chosen, links, ifnames, span, wait, watcher.Limits(every, pace), dry)


def _test(test):
    """The test argument, or the minion's ``test`` option when it is not given."""
    return __opts__.get("test", False) if test is None else arguments.boolean(test, "test")


def _metered(job, metrics_dir, netns, test, run):
    """``run()``, and with ``metrics_dir`` (not in test mode) the job's metrics written afterwards."""
    if metrics_dir is None or metrics_dir == "":
        return run()
    with _salt_errors(netns):
        arguments.directory(metrics_dir, "metrics_dir")
    if test is True or (test is None and __opts__.get("test", False)):
        return run()
    return metrics.metered(metrics_dir, job, netns, run)


# Verify's limits in their documentation, from their one home (the policy).
if isinstance(HELPERS_LOADED, dict):
    verify.__doc__, watch.__doc__ = policy.limits_in_words(verify.__doc__), policy.limits_in_words(watch.__doc__)


@contextlib.contextmanager
def _salt_errors(netns, info=None):
    """
    The one place where the helpers' errors become Salt's, naming what failed
    and where, with what was changed before (the error's ``info``, else ``info``).
    """
    try:
        yield
    except errors.ArgumentError as err:
        raise SaltInvocationError(str(err)) from err
    except errors.RunError as err:
        raise CommandExecutionError(str(err), info=err.info if err.info is not None else info) from err
    except errors.KernelError as err:
        where = arguments.in_words(netns)
        changed = getattr(err, "info", None) or info
        raise CommandExecutionError(f"{err.doing} in {where}: {errors.errno_text(err.errno)}", info=changed) from err
    except errors.PacketError as err:
        raise CommandExecutionError(err.words(arguments.in_words(netns)), info=info) from err
