"""
List, flush and verify the kernel's neighbour table (ARP and IPv6 NDP), and
announce this host's own addresses.

:depends: pyroute2
:platform: Linux

``list``, ``flush_stale`` and ``flush`` read and delete entries over
rtnetlink; ``verify`` asks the segment who owns each cached address, and
``announce`` tells it this host's MACs, over AF_PACKET sockets; ``forget``
deletes the entries for given addresses that do not hold their owner's MAC,
and ``addresses`` is this host's own addresses and MACs, for a host that
forgets on another's behalf. Every function takes ``netns``, a named network
namespace.

``list`` returns entries as dicts with the keys ``dst``, ``lladdr``,
``ifname``, ``ifindex``, ``family``, ``state``, ``flags``, ``probes``,
``confirmed``, ``used``, ``updated`` (the last three are ages in seconds).
The flushes report entries as ``{ifname: {dst: lladdr}}``.

The protocol code is in ``_arp_hygiene_netlink.py`` (rtnetlink) and
``_arp_hygiene_probe.py`` (ARP and NDP frames), and the Prometheus text
format in ``_arp_hygiene_metrics.py``, beside this file: Salt syncs them
with it and never loads them as modules of their own.
"""

import contextlib
import errno
import importlib.util
import ipaddress
import logging
import os
import socket
import sys
import time

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "arp"
__func_alias__ = {"list_": "list"}


def _helper(name):
    """
    The helper ``name``.py beside this file, executed afresh: Salt runs this
    module again on a module refresh, where a plain ``import`` would keep the
    helper first imported for the life of the minion. Loading by path also
    takes this copy's helper (a minion may hold a synced and a pip copy).
    """
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


try:
    netlink = _helper("_arp_hygiene_netlink")
    probe = _helper("_arp_hygiene_probe")
    metrics = _helper("_arp_hygiene_metrics")
    HELPERS_FAILED = None
except ImportError as err:  # pyroute2, which the helpers import
    HELPERS_FAILED = err

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "all": socket.AF_UNSPEC}
# "permanent" and "noarp" entries are configuration, not learned state.
CONFIGURED_STATES = ("permanent", "noarp")
# What verify asks about by default: the states whose entries hold a MAC.
VERIFIED_STATES = ("reachable", "stale", "delay", "probe", "permanent")
# A verify run: seconds to wait for answers, questions a second, and how long
# the questions may take in all, so that a scheduled run always ends.
TIMEOUT_LIMIT, RATE_LIMITS, RUN_LIMIT = 30, (1, 10000), 300
NO_IPV6 = "IPv6 address: it takes no part in neighbour discovery"


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "The arp module needs Linux: it manages the Linux neighbour table over netlink.")
    if HELPERS_FAILED is not None:
        return (
            False,
            "The arp module needs the pyroute2 library: install it for the Python that runs Salt, "
            f"e.g. 'salt-pip install pyroute2' or 'pip install pyroute2' ({HELPERS_FAILED}).",
        )
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

    network
        Only entries whose address lies in this IPv4 or IPv6 CIDR.

    exclude
        Addresses or CIDRs (one, a comma-separated string or a list) whose
        entries are left out.

    min_age
        Only entries last confirmed at least this many seconds ago.

    netns
        A named network namespace (as ``ip netns list`` shows it). Default:
        the minion's own.
    """
    checked = _selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
        return netlink.scan(sock, _on_links(checked, ifnames), ifnames)


def flush_stale(
    interface=None,
    states="stale",
    family="inet",
    network=None,
    exclude=None,
    min_age=0,
    netns=None,
    test=None,
    metrics_dir=None,
):
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

    exclude
        Addresses or CIDRs (one, a comma-separated string or a list) never
        to touch, e.g. the default gateway.

    min_age
        Keep entries confirmed less than this many seconds ago.

    test
        Report what would be deleted, delete nothing. Default: the minion's
        ``test`` option.

    metrics_dir
        A directory that node_exporter's textfile collector reads (e.g.
        ``/var/lib/prometheus/node-exporter``): the run, failed or not,
        writes ``arp_hygiene_flush.prom`` there (replaced atomically): when
        it ran, how long it took, whether it succeeded, the entries deleted
        and vanished, and the table's entries by interface, family and
        state afterwards. Not in test mode. Default: no metrics.
    """
    if states is None:  # `states: ~` in an SLS: the documented default, never every state
        states = "stale"
    return flush(interface, states, family, network, exclude, min_age, netns, test, metrics_dir)


def flush(
    interface=None,
    states=None,
    family="inet",
    network=None,
    exclude=None,
    min_age=0,
    netns=None,
    test=None,
    metrics_dir=None,
):
    """
    Delete every learned neighbour entry (every state but ``permanent`` and
    ``noarp``) on the chosen interfaces: what ``ip neigh flush`` does, and
    what the field's cron job did. Entries flagged ``extern_learn`` belong
    to routing daemons and are kept.

    Returns the same data as :py:func:`arp.flush_stale <flush_stale>`.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.flush interface=eth0
        salt '*' arp.flush family=all exclude=192.0.2.1 test=True

    The arguments are those of :py:func:`arp.flush_stale <flush_stale>`;
    ``states`` defaults to every learned state.
    """

    def run():
        checked = _selection(interface, states, family, network, exclude, min_age, netns, flushing=True)
        return _flush(checked, netns, _test(test))

    return _metered("flush", metrics_dir, netns, test, run)


def verify(
    interface=None,
    states=None,
    family="inet",
    network=None,
    exclude=None,
    min_age=0,
    netns=None,
    timeout=1,
    rate=200,
    fix=False,
    test=None,
    metrics_dir=None,
):
    """
    Ask the network whether each cached neighbour entry still holds the MAC
    that owns its address, and report the entries that do not: the black
    holes that are not ``stale`` (an old MAC kept ``reachable`` by unrelated
    traffic, or a static entry gone wrong).

    Only the questions the kernel itself asks go out, from this host's own
    address and MAC, never a probe that a host taking the address over would
    count as a rival (README, "What verify sends"); ``rate`` a second, with
    answers collected for ``timeout`` seconds after the last question.

    - Without ``fix``, each entry's cached MAC alone is asked (the kernel's
      unicast reachability probe): ``ok`` if it answers, ``unanswered`` if
      not (its host is gone, or the address moved). This host's kernel takes
      an answer as it takes its own: a confirmed entry may turn
      ``reachable``; no MAC changes.
    - With ``fix=True``, the whole segment is asked (the kernel's own address
      resolution: an ARP broadcast, a solicitation to the solicited-node
      group), which also finds who holds the address now: ``mismatch`` if
      one other MAC answered (the entry is replaced with it: the MAC
      changes, its state becomes ``reachable``, its flags stay), ``conflict``
      if several MACs answered (never repaired: if this host's kernel took
      one of the answers, the cached MAC is put back), ``unanswered`` if
      nobody did (``stale`` and ``failed`` entries are deleted). Entries that
      answer as cached are never touched, nor ``permanent``, ``noarp``,
      ``extern_learn`` and ``managed`` entries. The return then also has
      ``replaced`` (``{"old": MAC, "new": MAC}``) and ``deleted``.
    - With ``test=True`` nothing at all is sent and nothing changes: the
      return is ``{"would_ask": ..., "skipped": ...}``, the entries a live
      run would ask about.

    Returns ``{"ok": ..., "mismatch": ..., "conflict": ..., "unanswered":
    ..., "skipped": ...}``, each ``{ifname: {dst: ...}}``: ``ok`` and
    ``unanswered`` map to the cached MAC, ``mismatch`` and ``conflict`` to
    ``{"cached": MAC, "answered": [MACs]}``, ``skipped`` to why an entry
    could not be asked about. A repair that fails midway raises with what it
    changed so far.

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
        most 30. Default: 1.

    rate
        Questions per second, from 1 to 10000. Default: 200. A run whose
        questions would take more than 300 seconds is refused before
        anything is sent: raise ``rate`` or narrow the selection.

    fix
        Ask the whole segment and repair what the answers show to be wrong.
        Default: False.

    test
        Send nothing, change nothing; report what a live run would ask
        about. Default: the minion's ``test`` option.

    metrics_dir
        As for :py:func:`arp.flush_stale <flush_stale>`: the run writes
        ``arp_hygiene_verify.prom``, with its counts of entries ok,
        mismatch, conflict, unanswered and skipped, and, with ``fix``, of
        entries replaced and deleted.
    """
    if states is None:
        states = list(VERIFIED_STATES)

    def run():
        checked = _selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
        checked_timeout = _number(timeout, "timeout", "seconds", 0, TIMEOUT_LIMIT, above_low=True)
        checked_rate = _number(rate, "rate", "questions a second", *RATE_LIMITS)
        return _verify(checked, netns, checked_timeout, checked_rate, _boolean(fix, "fix"), _test(test))

    return _metered("verify", metrics_dir, netns, test, run)


def _verify(checked, netns, timeout, rate, fix, test):
    """verify, its arguments checked."""
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        links = netlink.read_links(sock, addresses=True)
        _check_ethernet(checked["interfaces"], checked["family"], links, netns)
        ifnames = netlink.LinkNames(netns, links)
        entries = netlink.scan(sock, _on_links(checked, ifnames), ifnames)
    skipped, asked = {}, []
    for entry in entries:
        why = _why_not_askable(entry, links)
        if why:
            _add_to(skipped, entry, why)
        else:
            asked.append(entry)
    if test:
        would_ask = {}
        for entry in asked:
            _add_to(would_ask, entry, entry["lladdr"])
        return {"would_ask": would_ask, "skipped": skipped}
    if len(asked) / rate > RUN_LIMIT:
        raise SaltInvocationError(
            f"asking about {len(asked)} entries at {rate:g} a second would take {len(asked) / rate:.0f} s, "
            f"over the {RUN_LIMIT} s a verify run may take: raise rate or narrow the selection"
        )
    # The whole segment is asked only when a repair is wanted: its answers
    # reach this host's kernel, which may take them as its own.
    with _salt_errors(netns):
        answers = probe.collect_answers(asked, links, netns, timeout, rate, whole_segment=fix)
    result = {"ok": {}, "mismatch": {}, "conflict": {}, "unanswered": {}, "skipped": skipped}
    for entry in asked:
        answered = answers.get((entry["ifindex"], entry["dst"]), [])
        if not answered:
            _add_to(result["unanswered"], entry, entry["lladdr"])
        elif len(answered) > 1:
            _add_to(result["conflict"], entry, {"cached": entry["lladdr"], "answered": answered})
        elif answered[0] == entry["lladdr"]:
            _add_to(result["ok"], entry, entry["lladdr"])
        else:
            _add_to(result["mismatch"], entry, {"cached": entry["lladdr"], "answered": answered})
    for ifname, conflicts in result["conflict"].items():
        for dst, macs in conflicts.items():
            answered = ", ".join(macs["answered"])
            log.warning("arp: several MACs answer for %s on %s: %s; left alone", dst, ifname, answered)
    if fix:
        result.update(_repair(result, asked, netns))
    return result


def announce(interface=None, family="all", netns=None, wait=0, test=None):
    """
    Tell the segment this host's MAC for each of its addresses: a gratuitous
    ARP request (IPv4) and an unsolicited neighbour advertisement (IPv6, with
    the override flag) per address, so that hosts holding an old MAC for an
    address that this host now has (a worker relaunched with a reused IP)
    replace it at once. Hosts that have no entry for the address learn
    nothing new (Linux's default ``arp_accept`` and ``accept_untracked_na``).
    Addresses still in duplicate address detection are not announced.

    Returns ``{"announced": {ifname: [addresses]}}``; with ``test=True``,
    ``{"would_announce": ...}`` and nothing is sent. If sending fails on an
    interface, the error names it and carries what was announced before.

    CLI Example:

    .. code-block:: bash

        salt '*' arp.announce
        salt -G 'roles:worker' arp.announce interface=eth0 family=inet

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

    test
        Report what would be announced, send nothing. Default: the minion's
        ``test`` option.
    """
    family = _family(family)
    names = _names(interface, "interface", split=False)
    _check_netns(netns)
    wait = _number(wait, "wait", "seconds", 0, 3600)
    test = _test(test)
    deadline = time.monotonic() + (0 if test else wait)
    while True:
        try:
            chosen = _announceable(names, family, netns)
            if chosen or not wait:
                break
            waited = "" if test else f" after {wait:g} s"
            problem = CommandExecutionError(f"nothing to announce{waited}: no interface up with an address")
        except SaltInvocationError as exc:
            if not wait:
                raise
            problem = exc if test else CommandExecutionError(f"after {wait:g} s: {exc}")
        if time.monotonic() >= deadline:
            raise problem
        time.sleep(1)
    if test:
        return {"would_announce": {link["ifname"]: [a for _, a, _ in addresses] for link, addresses in chosen}}
    announced = {}
    with _salt_errors(netns, info={"announced": announced}):
        for ifname, address in probe.announce(chosen, netns):
            announced.setdefault(ifname, []).append(address)
    return {"announced": announced}


def addresses(interface=None, family="all", netns=None, settings=None):
    """
    This host's own addresses and the MAC each is on: what the host would
    answer for, as it says so itself. Addresses of global scope only
    (private ones included; not link-local or loopback ones, which no other
    machine reuses), none still in duplicate address detection, on Ethernet
    interfaces.

    Returns ``{address: mac}``.

    CLI Example:

    .. code-block:: bash

        salt worker7 arp.addresses
        salt worker7 arp.addresses interface=eth0 family=inet
        salt worker7 arp.addresses settings=arp_hygiene:announce

    interface
        An interface name or a list of names. Default: every Ethernet
        interface.

    family
        ``inet``, ``inet6`` or ``all`` (the default).

    netns
        A named network namespace. Default: the minion's own.

    settings
        A configuration key (read with ``config.get``: the minion's
        configuration, grains or pillar) whose ``interfaces``, ``family``
        and ``netns`` apply where the arguments are not given; the runner
        ``arp_hygiene.forget`` passes ``arp_hygiene:announce``, the
        addresses the formula announces as this host's own.
    """
    given = _settings(settings, ("interfaces", "family", "netns"))
    interface = given.get("interfaces") if interface is None else interface
    family = given.get("family", family) if family == "all" else family
    netns = given.get("netns") if netns is None else netns
    family = _family(family)
    names = _names(interface, "interface", split=False)
    _check_netns(netns)
    wanted = (socket.AF_INET, socket.AF_INET6) if family == socket.AF_UNSPEC else (family,)
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        links = netlink.read_links(sock, addresses=True)
    _check_names(names, {link["ifname"] for link in links.values()}, netns)
    owned = {}
    for link in links.values():
        if (names and link["ifname"] not in names) or not probe.is_ethernet(link):
            continue
        for found, address, _ in link["addresses"]:
            ip = ipaddress.ip_address(address)
            if found in wanted and not (ip.is_link_local or ip.is_loopback or ip.is_multicast):
                owned[address] = link["mac"].hex(":")
    return owned


def forget(
    addresses,
    lladdr=None,
    interface=None,
    family="all",
    network=None,
    exclude=None,
    netns=None,
    settings=None,
    test=None,
):
    """
    Delete the learned entries for ``addresses``, except those that already
    hold their owner's MAC: what a database host needs when a machine that
    owns those addresses starts, so that it asks for the new MAC instead of
    sending to the old one. Only the entries that are wrong are deleted; a
    correct entry is never churned. Never a ``permanent`` or ``noarp``
    entry, nor one a routing daemon owns (``extern_learn``, ``managed``):
    those are reported as kept. Entries holding no MAC (``incomplete``,
    ``failed``) are kept too: nothing is sent to them. One dump of the
    table serves any number of addresses.

    The only change is a delete: a MAC that the caller names is compared,
    never written, so a wrong ``lladdr`` costs at most one address
    resolution, never a redirect of traffic.

    Returns ``{"deleted": {ifname: {dst: lladdr}}, "vanished": {...},
    "kept": {ifname: {dst: why}}, "not_cached": [addresses]}``
    (``vanished``: entries gone between the dump and their delete;
    ``not_cached``: the single addresses given that no entry holds); with
    ``test=True`` ``would_delete`` instead of ``deleted`` and ``vanished``,
    and nothing changes. The deletes go in batches, as a flush's do; a
    delete that fails raises with what was deleted.

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
        A configuration key (read with ``config.get``: the minion's
        configuration, grains or pillar) whose ``interfaces``, ``network``,
        ``exclude`` and ``netns`` apply where the arguments are not given:
        the runner ``arp_hygiene.forget`` passes ``arp_hygiene:flush``, so
        that a database minion forgets only in the selection that its
        formula's pillar names (gateways excluded, its namespace).

    test
        Report what would be deleted, delete nothing. Default: the minion's
        ``test`` option.
    """
    given = _settings(settings, ("interfaces", "network", "exclude", "netns"))
    interface = given.get("interfaces") if interface is None else interface
    network = given.get("network") if network is None else network
    exclude = given.get("exclude") if exclude is None else exclude
    netns = given.get("netns") if netns is None else netns
    targets = [_network(item, "addresses") for item in _names(addresses, "addresses")]
    if not targets:
        raise SaltInvocationError("addresses is empty: give the addresses or CIDRs whose entries to forget")
    owners = _owners(lladdr)
    checked = _selection(interface, None, family, network, exclude, 0, netns, flushing=False)
    # Single addresses (a fleet's worth, for the audit) by set, CIDRs by walk.
    singles = {}
    for network, on in targets:
        if network.num_addresses == 1:
            # Keyed without the scope id, as the table's addresses come.
            singles.setdefault(type(network.network_address)(int(network.network_address)), set()).add(on)
    cidrs = [(network, on) for network, on in targets if network.num_addresses > 1]
    test = _test(test)
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
        _check_names(sorted({on for _, on in targets if on}), set(ifnames.values()), netns)
        chosen = _on_links(checked, ifnames)
        # Excluded entries come back, to be reported as kept.
        chosen.exclude = []
        doomed, kept, cached = [], {}, set()
        for entry in netlink.scan(sock, chosen, ifnames):
            address = ipaddress.ip_address(entry["dst"])
            scope = entry["ifname"]
            if not (
                (address in singles and not singles[address].isdisjoint((None, scope)))
                or any(address in network and on in (None, scope) for network, on in cidrs)
            ):
                continue
            cached.add(address)
            if any(address in network and on in (None, scope) for network, on in checked["exclude"]):
                why = "excluded"
            else:
                why = _why_kept(entry, owners.get(address, owners.get(None)))
            if why:
                kept.setdefault(entry["ifname"], {})[entry["dst"]] = why
            else:
                doomed.append(entry)
        not_cached = [str(address) for address in singles if address not in cached]
        plan = netlink.FlushPlan(requests=not test)
        plan.choose(doomed, sock.seq + 1)
        if test:
            return {"would_delete": plan.outcome()[0], "kept": kept, "not_cached": not_cached}
        return {**_delete(sock, plan), "kept": kept, "not_cached": not_cached}


def _settings(key, keys):
    """The ``keys`` that configuration key ``key`` sets (config.get), checked to be a mapping."""
    if key is None or key == "":
        return {}
    if not isinstance(key, str):
        raise SaltInvocationError(f"settings must be a configuration key such as arp_hygiene:flush, not {key!r}")
    found = __salt__["config.get"](key, {})
    if found is None or found == "":
        return {}
    if not isinstance(found, dict):
        raise SaltInvocationError(f"settings: {key} must be a mapping (of {', '.join(keys)}), not {found!r}")
    return {name: found[name] for name in keys if found.get(name) is not None}


def _owners(lladdr):
    """``lladdr`` as {address or None (every address): normalised MAC}."""
    if lladdr is None or lladdr == "":
        return {}
    if isinstance(lladdr, str):
        return {None: _mac(lladdr)}
    if not isinstance(lladdr, dict):
        raise SaltInvocationError(f"lladdr must be a MAC or a mapping of address to MAC, not {lladdr!r}")
    owners = {}
    for address, mac in lladdr.items():
        try:
            owners[ipaddress.ip_address(str(address).strip())] = _mac(mac)
        except ValueError:
            raise SaltInvocationError(f"lladdr: {address!r} is not an IPv4 or IPv6 address") from None
    return owners


def _mac(value):
    """A MAC as six colon-separated hex bytes, lower case; any other form is refused."""
    text = value.strip().lower().replace("-", ":") if isinstance(value, str) else None
    parts = text.split(":") if text else []
    if len(parts) != 6 or not all(len(part) == 2 and all(c in "0123456789abcdef" for c in part) for part in parts):
        raise SaltInvocationError(f"lladdr: {value!r} is not a MAC (six hex bytes, e.g. 02:00:00:00:20:02)")
    return ":".join(parts)


def _why_kept(entry, owner):
    """Why ``forget`` leaves the entry alone, or None: it goes."""
    if entry["state"] in CONFIGURED_STATES:
        return f"{entry['state']}: configuration, never forgotten"
    for flag in ("extern_learn", "managed"):
        if flag in entry["flags"]:
            return f"{flag}: a routing daemon's entry"
    if not entry["lladdr"]:
        return f"{entry['state']}: holds no MAC"
    if owner and entry["lladdr"] == owner:
        return "holds the owner's MAC"
    return None


def _announceable(names, family, netns):
    """[(link, [(family, address, prefix)])] that announce would send for."""
    wanted = (socket.AF_INET, socket.AF_INET6) if family == socket.AF_UNSPEC else (family,)
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        links = netlink.read_links(sock, addresses=True)
    _check_ethernet(names, family, links, netns, need_up=True)
    chosen = []
    for link in links.values():
        if names and link["ifname"] not in names:
            continue
        if not names and (not link["up"] or not probe.is_ethernet(link)):
            continue
        addresses = [address for address in link["addresses"] if address[0] in wanted]
        if addresses:
            chosen.append((link, addresses))
    return chosen


# ---------------------------------------------------------------- arguments


def _names(value, what, split=True):
    """A name, a comma-separated string (when ``split``) or a list -> list of str."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        value = value.decode() if isinstance(value, bytes) else value
        items = value.split(",") if split else [value]
    elif isinstance(value, (list, tuple, set)):
        items = list(value)
    else:
        raise SaltInvocationError(f"{what} must be a string or a list, not {type(value).__name__}: {value!r}")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise SaltInvocationError(f"{what} must hold strings, not {type(item).__name__}: {item!r}")
        if item.strip():
            names.append(item.strip())
        elif not split:
            # An empty name must never widen the selection to every interface.
            raise SaltInvocationError(f"{what} names cannot be empty or blank: {value!r}")
    return names


def _family(value):
    """``inet``, ``inet6`` or ``all`` (any case) -> its address family."""
    if not isinstance(value, str) or value.lower() not in FAMILIES:
        raise SaltInvocationError(f"unknown family {value!r}; valid families: {', '.join(FAMILIES)}")
    return FAMILIES[value.lower()]


def _boolean(value, what):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"{what} must be True or False, not {value!r}")
    return value


def _test(test):
    """The test argument, or the minion's ``test`` option when it is not given."""
    return __opts__.get("test", False) if test is None else _boolean(test, "test")


def _network(value, what):
    """
    An address or CIDR -> (network, scope): ``scope`` is the interface name
    of an IPv6 scope id (``fe80::1%eth0``, ``fe80::%eth0/64``), which limits
    the network to the entries on that interface, or None.
    """
    if not isinstance(value, str):
        kind = type(value).__name__
        raise SaltInvocationError(f"{what} must be an address or CIDR as a string, not {kind}: {value!r}")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as err:
        raise SaltInvocationError(f"{what}: {value!r} is not an IPv4 or IPv6 address or CIDR ({err})") from None
    return network, getattr(network.network_address, "scope_id", None)


def _check_netns(netns):
    if netns is not None and (not isinstance(netns, str) or netns not in netlink.namespaces()):
        raise SaltInvocationError(f"network namespace {netns!r} does not exist (`ip netns list` shows the named ones)")


def _number(value, what, unit, low, high=None, above_low=False):
    """A number (a numeric string too, never a bool) from ``low`` (above it: ``above_low``), finite, up to ``high``."""
    bounds = f"{'above' if above_low else 'from'} {low:g}, " + (f"at most {high:g}" if high is not None else "finite")
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)
        # The comparisons also refuse NaN.
        if not (number > low if above_low else number >= low) or not number < float("inf") or number > (high or number):
            raise ValueError
    except ValueError:
        raise SaltInvocationError(f"{what} must be a number of {unit} {bounds}, not {value!r}") from None
    return number


def _selection(interface, states, family, network, exclude, min_age, netns, flushing):
    """Check the selection's arguments before anything touches the kernel; return them as a dict."""
    valid = [name for name in netlink.NUD_STATES if not (flushing and name in CONFIGURED_STATES)]
    names = valid if states is None else _names(states, "states")
    if not names:
        raise SaltInvocationError(f"states is empty; choose from: {', '.join(valid)}")
    for name in names:
        if name.lower() in CONFIGURED_STATES and flushing:
            raise SaltInvocationError(
                f"state {name!r} is configuration, not learned state, and is never flushed; "
                f"flushable states: {', '.join(valid)}"
            )
        if name.lower() not in valid:
            raise SaltInvocationError(f"unknown NUD state {name!r}; valid states: {', '.join(valid)}")
    family = _family(family)
    if network is not None and network != "":
        network = _network(network, "network")
        version = network[0].version
        if family != socket.AF_UNSPEC and family != (socket.AF_INET if version == 4 else socket.AF_INET6):
            raise SaltInvocationError(
                f"network {network[0]} is IPv{version} but family is {netlink.FAMILY_NAMES[family]!r}; "
                f"use family={'inet' if version == 4 else 'inet6'} or family=all"
            )
    else:
        network = None
    excluded = [_network(item, "exclude") for item in _names(exclude, "exclude")]
    min_age = _number(0 if min_age is None else min_age, "min_age", "seconds", 0)
    _check_netns(netns)
    return {
        "interfaces": _names(interface, "interface", split=False),
        "states": {netlink.NUD_STATES[name.lower()] for name in names},
        "family": family,
        "network": network,
        "exclude": excluded,
        "min_age": min_age,
        "flushing": flushing,
        "netns": netns,
    }


def _on_links(checked, ifnames):
    """
    The checked selection as the helper's Selection, interface names (of
    arguments and scope ids) turned into the namespace's link indexes;
    names that no link has are refused.
    """
    by_name = {name: index for index, name in ifnames.items()}
    scoped = [item for item in [checked["network"], *checked["exclude"]] if item and item[1] is not None]
    _check_names([*checked["interfaces"], *sorted({scope for _, scope in scoped})], by_name, checked["netns"])

    def on_link(item):
        return None if item is None else (item[0], None if item[1] is None else by_name[item[1]])

    return netlink.Selection(
        family=checked["family"],
        states=checked["states"],
        ifindexes={by_name[name] for name in checked["interfaces"]} if checked["interfaces"] else None,
        network=on_link(checked["network"]),
        exclude=[on_link(item) for item in checked["exclude"]],
        min_age=checked["min_age"],
        flushing=checked["flushing"],
    )


def _check_names(names, existing, netns):
    """Refuse interface names (arguments, scope ids) that name no link of the namespace."""
    unknown = [name for name in names if name not in existing]
    if unknown:
        raise SaltInvocationError(
            f"no interface named {', '.join(map(repr, unknown))} in {_namespace(netns)}; "
            f"interfaces there: {', '.join(map(repr, sorted(existing)))}"
        )


def _check_ethernet(interfaces, family, links, netns, need_up=False):
    """Refuse named interfaces that cannot speak ARP or NDP for the family."""
    by_name = {link["ifname"]: link for link in links.values()}
    _check_names(interfaces, by_name, netns)
    for name in interfaces:
        link = by_name[name]
        if not probe.is_ethernet(link):
            raise SaltInvocationError(
                f"interface {name!r} is not an Ethernet interface (link {probe.link_type(link)}): "
                "ARP and neighbour discovery need one"
            )
        if need_up and not link["up"]:
            raise SaltInvocationError(f"interface {name!r} is down: nothing can be sent from it")
        for wanted, words in ((socket.AF_INET, "IPv4 address: it takes no part in ARP"), (socket.AF_INET6, NO_IPV6)):
            if family == wanted and not any(f == wanted for f, _, _ in link["addresses"]):
                raise SaltInvocationError(f"interface {name!r} has no {words}")


# ------------------------------------------------------------------ metrics

LAST_SUCCESS = "arp_hygiene_last_success_timestamp_seconds"
RESULT_COUNTS = {
    "flush": ("deleted", "vanished"),
    "verify": ("ok", "mismatch", "conflict", "unanswered", "skipped", "replaced", "deleted"),
}


def _metered(job, metrics_dir, netns, test, run):
    """
    ``run()``, and with ``metrics_dir`` (not in test mode) the job's metrics
    written afterwards, whether it succeeded or raised (then from what its
    error says it changed).
    """
    if metrics_dir is None or metrics_dir == "":
        return run()
    if not isinstance(metrics_dir, str) or not os.path.isabs(metrics_dir) or not os.path.isdir(metrics_dir):
        raise SaltInvocationError(
            f"metrics_dir must be the absolute path of an existing directory, not {metrics_dir!r}"
        )
    if test is True or (test is None and __opts__.get("test", False)):
        return run()
    began, clock = time.time(), time.monotonic()
    result, success = {}, False
    try:
        result = run()
        success = True
        return result
    except Exception as err:  # a bad argument or namespace too: the run failed, success 0
        info = getattr(err, "info", None)
        result = info if isinstance(info, dict) else {}
        raise
    finally:
        _write_metrics(job, metrics_dir, netns, began, time.monotonic() - clock, success, result)


def _write_metrics(job, metrics_dir, netns, began, seconds, success, result):
    found = metrics.Metrics()
    found.add("arp_hygiene_last_run_timestamp_seconds", "When the last run started (Unix time).", began, task=job)
    found.add("arp_hygiene_last_run_duration_seconds", "How long the last run took.", seconds, task=job)
    found.add("arp_hygiene_last_run_success", "1 if the last run succeeded, 0 if it failed.", int(success), task=job)
    # Carried over from the file while runs fail: what "no successful run for so long" alerts on.
    last_success = began if success else metrics.previous_value(metrics_dir, job, LAST_SUCCESS)
    if last_success is not None:
        found.add(LAST_SUCCESS, "When the last successful run started (Unix time).", last_success, task=job)
    for outcome in RESULT_COUNTS[job]:
        for ifname, entries in (result.get(outcome) or {}).items():
            found.add(
                "arp_hygiene_last_run_entries",
                "Neighbour entries the last run found or changed, by outcome and interface.",
                len(entries),
                task=job,
                outcome=outcome,
                interface=ifname,
            )
    try:
        with netlink.Socket(netns) as sock:
            ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
            every = netlink.Selection(family=socket.AF_UNSPEC, states=set(netlink.NUD_STATES.values()))
            counts = {}
            for entry in netlink.scan(sock, every, ifnames):
                key = (entry["ifname"], entry["family"], entry["state"])
                counts[key] = counts.get(key, 0) + 1
        for (ifname, family, state), count in sorted(counts.items()):
            found.add(
                "arp_hygiene_neighbour_entries",
                "Entries in the neighbour table after the last run, by interface, family and NUD state.",
                count,
                task=job,
                interface=ifname,
                family=family,
                state=state,
            )
    except Exception as err:  # pylint: disable=broad-except  (a gone namespace: the metrics still go out)
        # After a failed run (its namespace gone, say) that is expected, and the run's own error says why.
        (log.warning if success else log.debug)("arp: metrics without the table's composition: %s", err)
    for family, proc in (("inet", "ipv4"), ("inet6", "ipv6")):
        try:
            with open(f"/proc/sys/net/{proc}/neigh/default/gc_thresh3", encoding="ascii") as knob:
                limit = int(knob.read())
        except (OSError, ValueError):
            continue
        found.add(
            "arp_hygiene_gc_thresh3",
            "The kernel's hard limit of neighbour entries for the family (all namespaces together).",
            limit,
            task=job,
            family=family,
        )
    try:
        metrics.write(metrics_dir, job, found)
    except OSError as err:
        log.error("arp: cannot write the metrics in %s: %s", metrics_dir, err)


# ------------------------------------------------------------------ policy


def _flush(checked, netns, test):
    """Delete the selected entries (``test``: only report them)."""
    with _salt_errors(netns), netlink.Socket(netns) as sock:
        ifnames = netlink.LinkNames(netns, netlink.read_links(sock))
        plan = netlink.scan(sock, _on_links(checked, ifnames), ifnames, netlink.FlushPlan(requests=not test))
        if test:
            return {"would_delete": plan.outcome()[0]}
        return _delete(sock, plan)


def _delete(sock, plan):
    """
    Send the plan's delete requests, batched; ``{"deleted": ..., "vanished":
    ...}``, or raise with them and the failures.
    """
    if plan.count and not netlink.has_net_admin():
        raise CommandExecutionError(
            "permission denied: deleting neighbour entries needs CAP_NET_ADMIN; "
            "run the Salt minion as root. Nothing was deleted."
        )
    failed = sock.delete(plan.messages, plan.positions)
    plan.messages = None
    deleted, vanished, errors = plan.outcome(failed)
    count = sum(map(len, deleted.values())), sum(map(len, vanished.values()))
    log.info("arp: deleted %d neighbour entries, %d vanished first", *count)
    if errors:
        # What was deleted is reported with the error (``info``, as pkg.install does).
        failures = {}
        for ifname, dst, code in errors:
            failures.setdefault(ifname, {})[dst] = _errno_text(code)
        raise CommandExecutionError(
            f"{len(errors)} of {plan.count} deletes failed ({plan.count - len(errors)} deleted or gone): "
            + "; ".join(f"{dst} on {ifname}: {_errno_text(code)}" for ifname, dst, code in errors[:10]),
            info={"deleted": deleted, "vanished": vanished, "failed": failures},
        )
    return {"deleted": deleted, "vanished": vanished}


def _why_not_askable(entry, links):
    """Why verify cannot ask about an entry's address, or None."""
    link = links.get(entry["ifindex"])
    if link is None:
        return "its interface is gone"
    if not probe.is_ethernet(link):
        return f"{link['ifname']} is not an Ethernet interface (link {probe.link_type(link)})"
    if not link["up"]:
        return f"{link['ifname']} is down"
    if not entry["lladdr"]:
        return "the entry holds no MAC"
    family = FAMILIES[entry["family"]]
    if probe.source_address(link, family, entry["dst"]) is None:
        return f"{link['ifname']} has no {'IPv4' if family == socket.AF_INET else 'IPv6'} address to ask from"
    return None


def _add_to(report, entry, value):
    """Put ``value`` under the entry's interface and address in ``report`` ({ifname: {dst: value}})."""
    report.setdefault(entry["ifname"], {})[entry["dst"]] = value


def _fixable(entry):
    """May a repair change this entry? Not configuration: permanent, noarp, extern_learn or managed entries."""
    return entry["state"] not in CONFIGURED_STATES and not {"extern_learn", "managed"} & set(entry["flags"])


def _repair(result, entries, netns):
    """
    Replace the learned entries that one other MAC answered for (the MAC
    changes, the flags stay), delete unanswered stale and failed ones, and
    put back the cached MAC of entries in conflict if this host's kernel took
    one of the answers meanwhile. Returns ``{"replaced", "deleted"}``; on an
    error, raises with them in ``info``.
    """

    def listed(entry, outcome):
        return entry["dst"] in result[outcome].get(entry["ifname"], {})

    replace = [e for e in entries if _fixable(e) and listed(e, "mismatch")]
    delete = [e for e in entries if _fixable(e) and e["state"] in ("stale", "failed") and listed(e, "unanswered")]
    conflicts = [e for e in entries if _fixable(e) and listed(e, "conflict")]
    replaced, deleted = {}, {}
    if (replace or delete or conflicts) and not netlink.has_net_admin():
        raise CommandExecutionError(
            "permission denied: repairing neighbour entries needs CAP_NET_ADMIN; run the Salt minion as root"
        )
    with _salt_errors(netns, info={"replaced": replaced, "deleted": deleted}), netlink.Writer(netns) as writer:
        for entry in replace:
            key = (FAMILIES[entry["family"]], entry["ifindex"], entry["dst"])
            new = result["mismatch"][entry["ifname"]][entry["dst"]]["answered"][0]
            writer.replace(*key, new, netlink.NUD_REACHABLE, entry["flags"])
            _add_to(replaced, entry, {"old": entry["lladdr"], "new": new})
        for entry in delete:
            if writer.delete(FAMILIES[entry["family"]], entry["ifindex"], entry["dst"]):
                _add_to(deleted, entry, entry["lladdr"])
        for entry in conflicts:
            key = (FAMILIES[entry["family"]], entry["ifindex"], entry["dst"])
            if writer.lladdr(*key) not in (None, entry["lladdr"]):
                # Several MACs claim the address: a human decides, not the fastest answer.
                writer.replace(*key, entry["lladdr"], netlink.NUD_STALE, entry["flags"])
    return {"replaced": replaced, "deleted": deleted}


# ------------------------------------------------------------------ errors


def _namespace(netns):
    return f"network namespace {netns!r}" if netns else "the minion's network namespace"


def _errno_text(code):
    """An errno in words; a refusal for want of privilege says which."""
    if code in (errno.EPERM, errno.EACCES):
        return (
            f"{os.strerror(code)} ({errno.errorcode[code]}): changing the neighbour table needs CAP_NET_ADMIN; "
            "run the Salt minion as root"
        )
    return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})" if code else "timed out"


@contextlib.contextmanager
def _salt_errors(netns, info=None):
    """
    The one place where the helpers' errors become Salt's: each names what
    failed and the namespace; ``info`` (what was changed before the error,
    filled in as the work goes) goes with it.
    """
    try:
        yield
    except netlink.KernelError as err:
        raise CommandExecutionError(f"{err.doing} in {_namespace(netns)}: {_errno_text(err.errno)}", info=info) from err
    except probe.PacketError as err:
        if err.errno in (errno.EPERM, errno.EACCES):
            why = "permission denied: ARP and neighbour discovery need CAP_NET_RAW; run the Salt minion as root"
        else:
            why = _errno_text(err.errno)
        on = f" on {err.ifname!r}" if err.ifname else ""
        raise CommandExecutionError(f"{err.doing}{on} in {_namespace(netns)}: {why}", info=info) from err
