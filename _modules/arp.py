"""
List, flush and verify the kernel's neighbour table (ARP and IPv6 NDP), and
announce this host's own addresses.

``list``, ``flush_stale`` and ``flush`` work over netlink (below);
``verify`` asks the segment who owns each cached address and ``announce``
sends gratuitous ARP and unsolicited neighbour advertisements, both through
AF_PACKET sockets (see the section "ARP and NDP packets").

:depends: pyroute2 (sockets, network namespaces, netlink constants)
:platform: Linux

The module talks rtnetlink directly: one socket per call, one dump (one per
interface when interfaces are named: the kernel filters by NDA_IFINDEX under
strict checking), and deletes sent 512 to a ``send`` with no round trip per
entry. The dump is decoded here, because pyroute2's generic decoder costs
about 100 microseconds an entry: a flush decodes whole buffers column by
column, a list each message with one unpack. At 100,000 entries a flush takes
about 1.8 times as long as ``ip neigh flush`` (bench/, README "Performance").

``list`` returns entries as dicts with the keys ``dst``, ``lladdr``,
``ifname``, ``ifindex``, ``family``, ``state``, ``flags``, ``probes``,
``confirmed``, ``used``, ``updated`` (the last three are ages in seconds).
The flushes report entries as ``{ifname: {dst: lladdr}}``: about a third of
the memory of those dicts (some 230 bytes an entry instead of 650), built at C
speed from whole columns.

A note on a race the kernel leaves open: ``RTM_DELNEIGH`` deletes the entry
for an address whatever its state is at that moment. An entry that turns
``reachable`` between the dump and the delete (a few milliseconds, even for
large tables) is deleted all the same; that is harmless, the kernel resolves
the address again on the next packet.
"""

import array
import ctypes
import errno
import gc
import ipaddress
import itertools
import logging
import os
import select
import socket
import struct
import time

import salt.utils.platform
from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    import pyroute2
    import pyroute2.netns
    from pyroute2.netlink import (
        NETLINK_ROUTE,
        NLM_F_ACK,
        NLM_F_DUMP,
        NLM_F_REQUEST,
        NLMSG_DONE,
        NLMSG_ERROR,
        SOL_NETLINK,
    )
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.rtnl import (
        RTM_DELNEIGH,
        RTM_GETADDR,
        RTM_GETLINK,
        RTM_GETNEIGH,
        RTM_NEWADDR,
        RTM_NEWLINK,
        RTM_NEWNEIGH,
    )
    from pyroute2.netlink.rtnl.ndmsg import NTF_EXT_LEARNED, flags as NTF_BITS, states as NUD_BITS

    STATE_NAMES = {bit: name for name, bit in NUD_BITS.items()}
    # iproute2's word for NTF_EXT_LEARNED, the one operators see in `ip neigh`.
    FLAG_NAMES = {bit: ("extern_learn" if name == "ext_learned" else name) for name, bit in NTF_BITS.items()}
    HAS_PYROUTE2 = True
except ImportError:
    HAS_PYROUTE2 = False

log = logging.getLogger(__name__)

__virtualname__ = "arp"
__func_alias__ = {"list_": "list"}

# Not in pyroute2: errors then echo only the failed message's header; and
# strict checking, under which the kernel filters a dump by NDA_IFINDEX.
NETLINK_CAP_ACK = 10
NETLINK_GET_STRICT_CHK = 12
CAP_NET_ADMIN = 12

NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
NLATTR = struct.Struct("=HH")  # len, type
CACHEINFO = struct.Struct("=IIII")  # confirmed, used, updated, refcnt (clock ticks)
U32 = struct.Struct("=I")
ERRNO = struct.Struct("=i")

NDA_DST, NDA_LLADDR, NDA_CACHEINFO, NDA_PROBES, NDA_IFINDEX = 1, 2, 3, 4, 8
NLMSG_HEAD = struct.Struct("=IH")  # len, type
NLMSG_FLAGS = struct.Struct("=H")
NDHEAD = struct.Struct("=16xBxxxiHB")  # family, ifindex, state, flags of a whole message
# A delete request: header, ndmsg, NDA_DST; all the kernel needs.
DELETE = {
    socket.AF_INET: struct.Struct("=IHHIIBxxxiHBBHH4s"),
    socket.AF_INET6: struct.Struct("=IHHIIBxxxiHBBHH16s"),
}
# The layout the kernel gives nearly every entry that has a MAC address
# (neigh_fill_info: NDA_DST, NDA_LLADDR, NDA_PROBES, NDA_CACHEINFO), by
# message length, decoded with one unpack; the fields: len, type, flags, seq,
# pid, family, ifindex, state, flags, type, then (len, type, value) of the
# four attributes (NDA_CACHEINFO's value: confirmed, used, updated, refcnt).
# Any other layout goes through the attribute loop of _entry().
USUAL_LAYOUTS = {
    76: struct.Struct("=IHHIIBxxxiHBBHH4sHH6s2xHHIHHIIII"),
    88: struct.Struct("=IHHIIBxxxiHBBHH16sHH6s2xHHIHHIIII"),
}
USUAL_ATTRIBUTES = (NDA_DST, NDA_LLADDR, NDA_PROBES, NDA_CACHEINFO)
# Links and their addresses (struct ifinfomsg, struct ifaddrmsg and attributes).
IFLA_ADDRESS, IFLA_IFNAME = 1, 3
IFF_UP = 0x1
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40
# NDA_FLAGS_EXT (Linux 5.16): NTF_EXT_MANAGED marks an entry the administrator
# asked the kernel to keep resolved (`ip neigh add ... managed`): configuration.
NDA_FLAGS_EXT, NTF_EXT_MANAGED = 15, 0x1

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "all": socket.AF_UNSPEC}
FAMILY_NAMES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
# "permanent" and "noarp" entries are configuration, not learned state.
CONFIGURED_STATES = ("permanent", "noarp")
# Deletes per send(2). The kernel handles a whole buffer in the sender's
# context; only failures and the last message of a batch are answered.
BATCH = 512


def __virtual__():
    if not salt.utils.platform.is_linux():
        return (False, "The arp module needs Linux: it manages the Linux neighbour table over netlink.")
    if not HAS_PYROUTE2:
        return (
            False,
            "The arp module needs the pyroute2 library: install it for the Python that runs Salt, "
            "e.g. 'salt-pip install pyroute2' or 'pip install pyroute2'.",
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
    selection = _selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
    with _Socket(netns) as sock:
        return _scan(sock, selection)


def flush_stale(
    interface=None, states="stale", family="inet", network=None, exclude=None, min_age=0, netns=None, test=None
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

    interface
        An interface name or a list of names. Default: every interface.

    states
        The NUD states to flush: one name, a comma-separated string or a
        list, from ``incomplete reachable stale delay probe failed none``.
        Default: ``stale``.

    family
        ``inet`` (IPv4, the default), ``inet6`` (IPv6) or ``all``.

    network
        Only entries whose address lies in this IPv4 or IPv6 CIDR.

    exclude
        Addresses or CIDRs (one, a comma-separated string or a list) never
        to touch, e.g. the default gateway.

    min_age
        Keep entries confirmed less than this many seconds ago.

    netns
        A named network namespace (as ``ip netns list`` shows it). Default:
        the minion's own.

    test
        Report what would be deleted, delete nothing. Default: the minion's
        ``test`` option.
    """
    if states is None:  # `states: ~` in an SLS: the documented default, never every state
        states = "stale"
    selection = _selection(interface, states, family, network, exclude, min_age, netns, flushing=True)
    return _flush(selection, netns, test)


def flush(interface=None, states=None, family="inet", network=None, exclude=None, min_age=0, netns=None, test=None):
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
    selection = _selection(interface, states, family, network, exclude, min_age, netns, flushing=True)
    return _flush(selection, netns, test)


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
):
    """
    Ask the network whether each cached neighbour entry still holds the MAC
    that owns its address, and report the entries that do not: the black
    holes that are not ``stale`` (an old MAC kept ``reachable`` by unrelated
    traffic, or a static entry gone wrong).

    Only the questions the kernel itself asks go out, from this host's own
    address and MAC (README, "What verify sends"): never an RFC 5227 ARP
    probe (sender 0.0.0.0) nor a duplicate address detection solicitation
    (source ``::``), which a host taking the address over would count as a
    rival. All are in flight at once, ``rate`` per second, and answers are
    collected for ``timeout`` seconds after the last question.

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
    """
    if states is None:
        states = list(VERIFIED_STATES)
    selection = _selection(interface, states, family, network, exclude, min_age, netns, flushing=False)
    timeout = _bounded(timeout, "timeout", 0, TIMEOUT_LIMIT, "seconds")
    rate = _bounded(rate, "rate", RATE_LIMITS[0], RATE_LIMITS[1], "questions a second")
    fix, test = _boolean(fix, "fix"), _test(test)
    links = _links(netns)
    _check_named_links(selection["interfaces"], selection["family"], links, selection["where"])
    with _Socket(netns) as sock:
        entries = _scan(sock, selection, ifnames=_LinkNames(netns, links))
    skipped, asked = {}, []
    for entry in entries:
        why = _unaskable(entry, links)
        if why:
            _put(skipped, entry, why)
        else:
            asked.append(entry)
    if test:
        would_ask = {}
        for entry in asked:
            _put(would_ask, entry, entry["lladdr"])
        return {"would_ask": would_ask, "skipped": skipped}
    if len(asked) / rate > RUN_LIMIT:
        raise SaltInvocationError(
            f"asking about {len(asked)} entries at {rate:g} a second would take {len(asked) / rate:.0f} s, "
            f"over the {RUN_LIMIT} s a verify run may take: raise rate or narrow the selection"
        )
    # The whole segment is asked only when a repair is wanted: its answers
    # reach this host's kernel, which may take them as its own.
    answers = _ask(asked, links, netns, timeout, rate, whole_segment=fix)
    result = {"ok": {}, "mismatch": {}, "conflict": {}, "unanswered": {}, "skipped": skipped}
    for entry in asked:
        answered = answers.get((entry["ifindex"], entry["dst"]), [])
        if not answered:
            _put(result["unanswered"], entry, entry["lladdr"])
        elif len(answered) > 1:
            _put(result["conflict"], entry, {"cached": entry["lladdr"], "answered": answered})
        elif answered[0] == entry["lladdr"]:
            _put(result["ok"], entry, entry["lladdr"])
        else:
            _put(result["mismatch"], entry, {"cached": entry["lladdr"], "answered": answered})
    for ifname, conflicts in result["conflict"].items():
        for dst, macs in conflicts.items():
            log.warning("arp: several MACs answer for %s on %s: %s; left alone", dst, ifname, ", ".join(macs["answered"]))
    if fix:
        result.update(_repair(result, asked, netns))
    return result


def announce(interface=None, family="all", netns=None, test=None):
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

    test
        Report what would be announced, send nothing. Default: the minion's
        ``test`` option.
    """
    family = _family(family)
    wanted = (socket.AF_INET, socket.AF_INET6) if family == socket.AF_UNSPEC else (family,)
    names = _names(interface, "interface", split=False)
    _check_netns(netns)
    test = _test(test)
    links = _links(netns)
    _check_named_links(names, family, links, _where(netns), need_up=True)
    chosen = []  # (link, [(family, address, prefix)])
    for link in links.values():
        if names and link["ifname"] not in names:
            continue
        if not names and (not link["up"] or link["type"] != ARPHRD_ETHER or not link["mac"]):
            continue
        addresses = [address for address in link["addresses"] if address[0] in wanted]
        if addresses:
            chosen.append((link, addresses))
    if test:
        return {"would_announce": {link["ifname"]: [address for _, address, _ in addresses] for link, addresses in chosen}}
    return {"announced": _send(chosen, netns)}


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
        raise SaltInvocationError(f"{what} must be an address or CIDR as a string, not {type(value).__name__}: {value!r}")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as err:
        raise SaltInvocationError(f"{what}: {value!r} is not an IPv4 or IPv6 address or CIDR ({err})") from None
    scope = getattr(network.network_address, "scope_id", None)
    if scope == "":
        raise SaltInvocationError(f"{what}: {value!r} has an empty scope id after '%'")
    return network, scope


def _check_netns(netns):
    if netns is not None:
        if not isinstance(netns, str) or netns not in pyroute2.netns.listnetns():
            raise SaltInvocationError(
                f"network namespace {netns!r} does not exist (`ip netns list` shows the named namespaces)"
            )


def _seconds(value, what):
    """A finite number of seconds, zero or more (numbers or numeric strings; never a bool or a list)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SaltInvocationError(f"{what} must be a number of seconds, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise SaltInvocationError(f"{what} must be a number of seconds, not {value!r}") from None
    if not 0 <= number < float("inf"):  # also refuses NaN
        raise SaltInvocationError(f"{what} must be zero or more seconds, finite, not {value!r}")
    return number


def _bounded(value, what, low, high, unit):
    """A number above ``low`` (0) or from ``low`` (otherwise), at most ``high``: what bounds a verify run."""
    lowest = "above 0" if low == 0 else f"from {low}"
    message = f"{what} must be a number of {unit} {lowest}, at most {high}, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SaltInvocationError(message)
    try:
        number = float(value)
    except ValueError:
        raise SaltInvocationError(message) from None
    if not (number > 0 if low == 0 else number >= low) or not number <= high:  # also refuses NaN
        raise SaltInvocationError(message)
    return number


def _selection(interface, states, family, network, exclude, min_age, netns, flushing):
    """Check every argument before anything touches the kernel; return a dict."""
    valid = [name for name in NUD_BITS if not (flushing and name in CONFIGURED_STATES)]
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
    wanted = {NUD_BITS[name.lower()] for name in names}

    family = _family(family)
    if network is not None and network != "":
        network = _network(network, "network")
        version = network[0].version
        if family != socket.AF_UNSPEC and family != (socket.AF_INET if version == 4 else socket.AF_INET6):
            raise SaltInvocationError(
                f"network {network[0]} is IPv{version} but family is {FAMILY_NAMES[family]!r}; "
                f"use family={'inet' if version == 4 else 'inet6'} or family=all"
            )
    else:
        network = None
    excluded = [_network(item, "exclude") for item in _names(exclude, "exclude")]
    min_age = _seconds(0 if min_age is None else min_age, "min_age")
    _check_netns(netns)
    interfaces = _names(interface, "interface", split=False)
    scopes = {scope for _, scope in ([network] if network else []) + excluded if scope is not None}

    return {
        "interfaces": interfaces,
        "states": wanted,
        "family": family,
        "network": network,
        "exclude": excluded,
        # Interface names of scope ids, checked against the namespace's links by _scan().
        "scopes": scopes,
        "min_age": min_age,
        "flushing": flushing,
        "where": _where(netns),
        # NUD state byte -> 1 if selected, for column decoding
        "state_table": bytes(1 if value in wanted else 0 for value in range(256)),
    }


# ------------------------------------------------------------------ netlink


class _Socket:
    """A bound rtnetlink socket, opened in a named namespace through pyroute2."""

    def __init__(self, netns):
        self.netns = netns
        self.where = _where(netns)
        try:
            if netns is None:
                self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            else:
                # flags=0: never create a namespace that is missing.
                self.sock = pyroute2.netns.create_socket(
                    netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE, flags=0
                )
            self.sock.settimeout(60)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.bind((0, 0))
        except OSError as err:
            raise CommandExecutionError(f"cannot open a netlink socket in {self.where}: {_why(err.errno)}") from err
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            self.strict = True
        except OSError:  # kernels before 4.20: filter in user space only
            self.strict = False
        self.seq = 0
        self.buf = bytearray(1 << 16)
        self.view = memoryview(self.buf)

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        self.sock.close()
        if isinstance(err, OSError):
            why = _why(err.errno) if err.errno else str(err) or "timed out"
            raise CommandExecutionError(f"netlink in {self.where} failed: {why}") from err

    def request(self, msg_type, payload):
        """Start a dump."""
        self.seq += 1
        header = NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
        self.sock.send(header + payload)

    def receive(self):
        """The next buffer of a dump, as bytes."""
        return bytes(self.view[: self.sock.recv_into(self.buf)])

    def dump(self, msg_type, payload):
        """Yield (type, data, offset, length) for each message of a dump."""
        self.request(msg_type, payload)
        while True:
            data = self.receive()
            offset = 0
            while offset + NLMSG_HDR.size <= len(data):
                length, kind = NLMSG_HDR.unpack_from(data, offset)[:2]
                if kind == NLMSG_DONE:
                    return
                _refused(kind, data, offset)
                yield kind, data, offset, length
                offset += (length + 3) & ~3

    def delete(self, messages, positions):
        """
        Send the delete requests that _scan() laid end to end in the
        bytearray ``messages`` (the i-th at ``positions[i]``, sequence number
        ``first_seq + i``), ``BATCH`` to a ``send``. Only the last of a batch
        is made to ask for an ack; failures are answered anyway. Returns
        ``{index: errno}`` for the requests that failed.
        """
        failed = {}
        total = len(positions)
        first = self.seq + 1
        view = memoryview(messages)
        for start in range(0, total, BATCH):
            end = min(start + BATCH, total)
            # The batch's last request asks for the ack that ends its answers.
            NLMSG_FLAGS.pack_into(messages, positions[end - 1] + 6, NLM_F_REQUEST | NLM_F_ACK)
            self.sock.send(view[positions[start] : positions[end] if end < total else len(messages)])
            for seq, code in self._answers(first + end - 1):
                if code:
                    failed[seq - first] = code
        self.seq = first + total
        return failed

    def _answers(self, last_seq):
        """Yield (seq, errno) of error/ack messages until the ack of ``last_seq``."""
        while True:
            size = self.sock.recv_into(self.buf)
            offset = 0
            while offset + NLMSG_HDR.size <= size:
                length, kind, _, seq, _ = NLMSG_HDR.unpack_from(self.buf, offset)
                if kind == NLMSG_ERROR:
                    (code,) = ERRNO.unpack_from(self.buf, offset + NLMSG_HDR.size)
                    yield seq, -code
                    if seq == last_seq:
                        return
                offset += (length + 3) & ~3


def _refused(kind, data, offset):
    """Raise if a dump's message is the kernel's error."""
    if kind == NLMSG_ERROR:
        (code,) = ERRNO.unpack_from(data, offset + NLMSG_HDR.size)
        raise CommandExecutionError(f"the kernel refused the dump: {_why(-code)}")


def _where(netns):
    return f"network namespace {netns!r}" if netns else "the minion's network namespace"


def _why(code):
    """An errno in words."""
    if code in (errno.EPERM, errno.EACCES):
        return (
            f"{os.strerror(code)} ({errno.errorcode[code]}): changing the neighbour table needs "
            "CAP_NET_ADMIN; run the Salt minion as root"
        )
    return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"


def _link_name(raw):
    """
    A link's name (the kernel's bytes) as a str that maps back to that link
    alone: UTF-8 as it is; a name that is not UTF-8, or holds a backslash,
    with each other byte as ``\\xHH`` and each backslash doubled (what
    Python's ``backslashreplace`` does, made reversible). Interface
    arguments are compared with these names.
    """
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        name = None
    if name is not None and "\\" not in name:
        return name
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def _read_links(sock, addresses=False):
    """
    {ifindex: {index, ifname, mac, type, up, addresses}} of the namespace,
    ``addresses`` (with ``addresses=True``) as [(family, address, prefix
    length)] of the addresses that are not tentative or failed DAD.
    """
    links = {}
    for kind, data, offset, length in sock.dump(RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if kind != RTM_NEWLINK:
            continue
        _, link_type, index, flags, _ = IFINFOMSG.unpack_from(data, offset + NLMSG_HDR.size)
        link = {"index": index, "ifname": None, "mac": None, "type": link_type, "up": bool(flags & IFF_UP), "addresses": []}
        for kind_, value in _attrs(data, offset + NLMSG_HDR.size + IFINFOMSG.size, offset + length):
            if kind_ == IFLA_IFNAME:
                link["ifname"] = _link_name(value.rstrip(b"\0"))
            elif kind_ == IFLA_ADDRESS:
                link["mac"] = bytes(value)
        links[index] = link
    if not addresses:
        return links
    for kind, data, offset, length in sock.dump(RTM_GETADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if kind != RTM_NEWADDR:
            continue
        family, prefix, flags, _, index = IFADDRMSG.unpack_from(data, offset + NLMSG_HDR.size)
        local = address = None
        for kind_, value in _attrs(data, offset + NLMSG_HDR.size + IFADDRMSG.size, offset + length):
            if kind_ == IFA_LOCAL:
                local = value
            elif kind_ == IFA_ADDRESS:
                address = value
            elif kind_ == IFA_FLAGS:
                flags = U32.unpack_from(value)[0]
        link = links.get(index)
        if link is None or family not in FAMILY_NAMES or flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        link["addresses"].append((family, socket.inet_ntop(family, local or address), prefix))
    return links


class _LinkNames(dict):
    """
    {ifindex: name} of a namespace's links. An entry on a link made after
    this was read makes it read the links again, once; a link that is gone
    by then is named ``(ifindex N)``, which no interface can be called.
    """

    def __init__(self, netns, links):
        super().__init__((index, link["ifname"]) for index, link in links.items())
        self.netns = netns
        self.fresh = False

    def __missing__(self, index):
        if not self.fresh:
            self.fresh = True
            with _Socket(self.netns) as sock:
                self.update((number, link["ifname"]) for number, link in _read_links(sock).items())
            if index in self:
                return self[index]
        return f"(ifindex {index})"


def _attrs(data, offset, end):
    """Yield (type, payload) of the netlink attributes in data[offset:end]."""
    while offset + NLATTR.size <= end:
        length, kind = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size:
            return
        yield kind & 0x3FFF, data[offset + NLATTR.size : offset + length]
        offset += (length + 3) & ~3


HZ = os.sysconf("SC_CLK_TCK")


def _entry(header, data, offset, length, ifnames):
    """The neighbour entry dict for the RTM_NEWNEIGH message at data[offset:], whose ndmsg is ``header``."""
    family, ifindex, state, flags, _ = header
    entry = {
        "dst": None,
        "lladdr": None,
        "ifname": ifnames[ifindex],
        "ifindex": ifindex,
        "family": FAMILY_NAMES.get(family, str(family)),
        "state": STATE_NAMES.get(state) or "|".join(n for b, n in STATE_NAMES.items() if b & state),
        "flags": [name for bit, name in FLAG_NAMES.items() if bit & flags],
        "probes": 0,
        "confirmed": None,
        "used": None,
        "updated": None,
    }
    for kind, value in _attrs(data, offset + NLMSG_HDR.size + NDMSG.size, offset + length):
        if kind == NDA_DST:
            entry["dst"] = socket.inet_ntop(family, value)
        elif kind == NDA_LLADDR:
            entry["lladdr"] = value.hex(":") if value else None
        elif kind == NDA_CACHEINFO:
            confirmed, used, updated, _ = CACHEINFO.unpack_from(value)
            entry["confirmed"], entry["used"], entry["updated"] = _age(confirmed), _age(used), _age(updated)
        elif kind == NDA_PROBES:
            entry["probes"] = U32.unpack_from(value)[0]
        elif kind == NDA_FLAGS_EXT and U32.unpack_from(value)[0] & NTF_EXT_MANAGED:
            entry["flags"].append("managed")
    return entry


def _scan(sock, selection, chosen=None, ifnames=None):
    """
    The entries of the table that the selection matches, in dump order: as
    entry dicts, or, for a flush (``chosen``, a :class:`_Chosen`), as
    interface names, addresses and MACs, with a delete request for each
    unless ``chosen`` is for a test run. ``ifnames`` ({ifindex: name}): the
    namespace's interfaces when the caller has read them already.

    This is the hot path at 100,000 entries. A flush decodes each dump buffer
    whose messages all have the usual layout column by column
    (:func:`_choose_columns`), any other buffer message by message
    (:func:`_scan_buffer`, which also serves ``list``): one unpack per
    message, ages shared per clock tick (a table's entries have few distinct
    ages, and a float costs 24 bytes). The cyclic garbage collector, which
    would walk the growing list of entries again and again, is paused
    (entries hold no cycles).
    """
    if ifnames is None:
        ifnames = _LinkNames(sock.netns, _read_links(sock))
    by_name = {name: index for index, name in ifnames.items()}
    _check_names([*selection["interfaces"], *sorted(selection["scopes"])], by_name, selection["where"])
    indexes = {by_name[name] for name in selection["interfaces"]} if selection["interfaces"] else None
    header = NDMSG.pack(selection["family"], 0, 0, 0, 0)
    if indexes is not None and sock.strict:
        # One dump per interface, filtered by the kernel.
        requests = [header + NLATTR.pack(8, NDA_IFINDEX) + U32.pack(index) for index in sorted(indexes)]
    else:
        requests = [header]
    first_seq = sock.seq + len(requests) + 1  # of the first delete request
    # Column decoding knows no address or age filter.
    columns = chosen is not None and not (selection["network"] or selection["exclude"] or selection["min_age"])
    ages = {}  # clock ticks -> seconds, shared by the entries
    collecting = gc.isenabled()
    gc.disable()
    try:
        entries = []
        for request in requests:
            sock.request(RTM_GETNEIGH, request)
            more = True
            while more:
                data = sock.receive()
                if columns and _choose_columns(data, selection, indexes, ifnames, chosen, first_seq):
                    continue
                if chosen is None:
                    more = _scan_buffer(data, selection, indexes, ifnames, ages, entries, None, None, first_seq)
                    continue
                found = []
                more = _scan_buffer(
                    data, selection, indexes, ifnames, ages, found, chosen.messages, chosen.positions,
                    first_seq + chosen.count,
                )
                chosen.add([e["ifname"] for e in found], [e["dst"] for e in found], [e["lladdr"] for e in found])
        return chosen if chosen is not None else entries
    finally:
        if collecting:
            gc.enable()


class _Chosen:
    """
    The entries a flush chose, in dump order, as pieces of parallel lists:
    (interface name, or a list of one name per entry; addresses; MACs). With
    ``requests``, also their delete requests laid end to end in
    ``messages`` (the i-th starting at ``positions[i]``), ready for
    :meth:`_Socket.delete`.
    """

    def __init__(self, requests):
        self.pieces = []
        self.count = 0
        self.messages = bytearray() if requests else None
        self.positions = array.array("I") if requests else None

    def add(self, ifnames, dsts, lladdrs):
        if dsts:
            self.pieces.append((ifnames, dsts, lladdrs))
            self.count += len(dsts)

    def entries(self):
        """Yield (index, ifname, dst, lladdr) of every chosen entry."""
        index = 0
        for ifnames, dsts, lladdrs in self.pieces:
            names = ifnames if isinstance(ifnames, list) else [ifnames] * len(dsts)
            for ifname, dst, lladdr in zip(names, dsts, lladdrs):
                yield index, ifname, dst, lladdr
                index += 1

    def report(self, failed=None):
        """
        ``{ifname: {dst: lladdr}}`` of the chosen entries whose index is not
        in ``failed``, and that of those that failed with ENOENT or ENODEV
        (vanished: the entry, or its whole link, was gone first),
        and the other failures as [(ifname, dst, errno)].
        """
        done, vanished, errors = {}, {}, []
        if not failed:
            for ifnames, dsts, lladdrs in self.pieces:
                if isinstance(ifnames, list):
                    for ifname, dst, lladdr in zip(ifnames, dsts, lladdrs):
                        done.setdefault(ifname, {})[dst] = lladdr
                else:
                    done.setdefault(ifnames, {}).update(zip(dsts, lladdrs))
            return done, vanished, errors
        for index, ifname, dst, lladdr in self.entries():
            code = failed.get(index)
            if code is None:
                done.setdefault(ifname, {})[dst] = lladdr
            elif code in (errno.ENOENT, errno.ENODEV):  # gone first, or with its link
                vanished.setdefault(ifname, {})[dst] = lladdr
            else:
                errors.append((ifname, dst, code))
        return done, vanished, errors


def _scan_buffer(data, selection, indexes, ifnames, ages, entries, messages, positions, first_seq):
    """Decode one buffer of a neighbour dump into ``entries``; False once the dump is done."""
    states, skip_learned = selection["states"], selection["flushing"]
    network, exclude, min_age = selection["network"], selection["exclude"], selection["min_age"]
    size = len(data)
    offset = 0
    while offset + NLMSG_HDR.size <= size:
        length, kind = NLMSG_HEAD.unpack_from(data, offset)
        step = (length + 3) & ~3
        if kind != RTM_NEWNEIGH:
            if kind == NLMSG_DONE:
                return False
            _refused(kind, data, offset)
            offset += step
            continue
        usual = USUAL_LAYOUTS.get(length)
        if usual:
            fields = usual.unpack_from(data, offset)
            family, ifindex, state, flags = fields[5], fields[6], fields[7], fields[8]
        else:
            family, ifindex, state, flags = NDHEAD.unpack_from(data, offset)
        if (
            state not in states
            or family not in FAMILY_NAMES
            or (indexes is not None and ifindex not in indexes)
            or (skip_learned and flags & NTF_EXT_LEARNED)
        ):
            offset += step
            continue
        if usual and fields[11:21:3] == USUAL_ATTRIBUTES:
            dst, confirmed, used, updated = fields[12], fields[21], fields[22], fields[23]
            entry = {
                "dst": socket.inet_ntop(family, dst),
                "lladdr": fields[15].hex(":"),
                "ifname": ifnames[ifindex],
                "ifindex": ifindex,
                "family": FAMILY_NAMES[family],
                "state": STATE_NAMES[state],
                "flags": [name for bit, name in FLAG_NAMES.items() if bit & flags] if flags else [],
                "probes": fields[18],
                "confirmed": ages.get(confirmed) or ages.setdefault(confirmed, _age(confirmed)),
                "used": ages.get(used) or ages.setdefault(used, _age(used)),
                "updated": ages.get(updated) or ages.setdefault(updated, _age(updated)),
            }
        else:
            entry = _entry((family, ifindex, state, flags, 0), data, offset, length, ifnames)
            if entry["dst"] is None or (skip_learned and "managed" in entry["flags"]):
                offset += step  # managed entries are configuration: never flushed
                continue
            dst = socket.inet_pton(family, entry["dst"])
        offset += step
        if network is not None or exclude:
            address = ipaddress.ip_address(entry["dst"])
            if (network is not None and not _inside(address, entry["ifname"], network)) or any(
                _inside(address, entry["ifname"], item) for item in exclude
            ):
                continue
        if min_age and (entry["confirmed"] or 0) < min_age:
            continue
        if messages is not None:
            request = DELETE[family]
            positions.append(len(messages))
            messages += request.pack(
                request.size, RTM_DELNEIGH, NLM_F_REQUEST, first_seq + len(entries), 0, family, ifindex, 0, 0, 0,
                len(dst) + 4, NDA_DST, dst,
            )
        entries.append(entry)
    return True


def _check_names(names, existing, where):
    """Refuse interface names (arguments, scope ids) that name no link of the namespace."""
    unknown = [name for name in names if name not in existing]
    if unknown:
        raise SaltInvocationError(
            f"no interface named {', '.join(map(repr, unknown))} in {where}; "
            f"interfaces there: {', '.join(map(repr, sorted(existing)))}"
        )


def _inside(address, ifname, item):
    """Is the address, on that interface, in the (network, scope) item?"""
    network, scope = item
    return address in network and (scope is None or scope == ifname)


# Column decoding, for a buffer of messages that all have the usual layout
# of one length: the byte at offset o of every message is data[o::length],
# one C-speed slice for the whole buffer. Per usual length: the family, the
# address size, and the bytes every message must hold for the layout to be
# the usual one (message length and type, family, the high byte of the state,
# the four attribute headers), as (offset, value).


def _column_layouts():
    layouts = {}
    for length, (family, size) in {76: (socket.AF_INET, 4), 88: (socket.AF_INET6, 16)}.items():
        fixed = {0: U32.pack(length), 4: NLMSG_FLAGS.pack(RTM_NEWNEIGH), 16: bytes([family]), 25: b"\0"}
        attributes = {
            28: (NDA_DST, 4 + size),
            32 + size: (NDA_LLADDR, 10),
            44 + size: (NDA_PROBES, 8),
            52 + size: (NDA_CACHEINFO, 20),
        }
        for offset, (kind, attribute_length) in attributes.items():
            fixed[offset] = NLATTR.pack(attribute_length, kind)
        fixed_bytes = [(at + index, byte) for at, value in fixed.items() for index, byte in enumerate(value)]
        layouts[length] = (family, size, fixed_bytes)
    return layouts


COLUMN_LAYOUTS = _column_layouts() if HAS_PYROUTE2 else {}
# ndm_flags byte -> 1 where a flush may delete the entry (not extern_learn).
NOT_EXT_LEARNED = bytes(0 if value & NTF_EXT_LEARNED else 1 for value in range(256)) if HAS_PYROUTE2 else b""


def _column(data, length, offset, width):
    """Bytes offset..offset+width of every message of ``data``, laid end to end."""
    out = bytearray(width * (len(data) // length))
    for index in range(width):
        out[index::width] = data[offset + index :: length]
    return out


def _choose_columns(data, selection, indexes, ifnames, chosen, first_seq):
    """
    For a flush: choose the entries of a dump buffer made only of
    RTM_NEWNEIGH messages in the usual layout of one length (every buffer of
    a large table but the last, as a rule), column by column, and add them
    to ``chosen`` with their delete requests (byte for byte those
    :func:`_scan_buffer` builds). Returns False, having changed nothing,
    for any other buffer, and for entries on an interface that is not
    selected (kernels without strict checking dump every interface).
    """
    size = len(data)
    length = U32.unpack_from(data)[0] if size >= NLMSG_HDR.size else 0
    layout = COLUMN_LAYOUTS.get(length)
    if layout is None or size % length:
        return False
    family, address_size, fixed = layout
    count = size // length
    if selection["family"] not in (socket.AF_UNSPEC, family):
        return False
    for offset, byte in fixed:
        if data[offset::length].count(byte) != count:
            return False
    ifindexes = array.array("i", _column(data, length, 20, 4))
    if indexes is not None and not indexes.issuperset(ifindexes):
        return False

    keep = data[24::length].translate(selection["state_table"])
    deletable = data[26::length].translate(NOT_EXT_LEARNED)
    if deletable.count(0):
        keep = (int.from_bytes(keep, "little") & int.from_bytes(deletable, "little")).to_bytes(count, "little")
    selected = keep.count(1)
    if selected == 0:
        return True
    if selected < count:
        offsets = itertools.compress(range(0, size, length), keep)
        data = b"".join([data[offset : offset + length] for offset in offsets])
        ifindexes = array.array("i", _column(data, length, 20, 4))
        count = selected

    if ifindexes.count(ifindexes[0]) == count:
        names = ifnames[ifindexes[0]]
    else:
        names = [ifnames[index] for index in ifindexes]
    addresses = _column(data, length, 32, address_size)
    if family == socket.AF_INET:
        dsts = (",".join(["%d.%d.%d.%d"] * count) % tuple(addresses)).split(",")
    else:
        addresses = bytes(addresses)
        dsts = [socket.inet_ntop(family, addresses[at : at + 16]) for at in range(0, 16 * count, 16)]
    macs = _column(data, length, 36 + address_size, 6).hex(":")
    lladdrs = [macs[at : at + 17] for at in range(0, 18 * count, 18)]

    if chosen.messages is not None:
        # header, ndmsg (family, ifindex; state, flags and type zero), NDA_DST
        request_size = DELETE[family].size
        requests = bytearray(request_size * count)
        requests[0::request_size] = bytes([request_size]) * count
        requests[4::request_size] = bytes([RTM_DELNEIGH]) * count
        requests[6::request_size] = bytes([NLM_F_REQUEST]) * count
        first = first_seq + chosen.count
        seqs = array.array("I", range(first, first + count)).tobytes()
        for index in range(4):
            requests[8 + index :: request_size] = seqs[index::4]
        requests[16::request_size] = bytes([family]) * count
        for offset in [20, 21, 22, 23, *range(28, request_size)]:
            requests[offset::request_size] = data[offset::length]
        start = len(chosen.messages)
        chosen.positions.extend(range(start, start + request_size * count, request_size))
        chosen.messages += requests
    chosen.add(names, dsts, lladdrs)
    return True


def _age(ticks):
    """Clock ticks (USER_HZ) -> seconds."""
    return round(ticks / HZ, 2)


def _has_net_admin():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def _flush(selection, netns, test):
    test = _test(test)
    with _Socket(netns) as sock:
        chosen = _scan(sock, selection, _Chosen(requests=not test))
        if test:
            return {"would_delete": chosen.report()[0]}
        if chosen.count and not _has_net_admin():
            raise CommandExecutionError(
                "permission denied: deleting neighbour entries needs CAP_NET_ADMIN; "
                "run the Salt minion as root. Nothing was deleted."
            )
        failed = sock.delete(chosen.messages, chosen.positions)
        chosen.messages = None
    deleted, vanished, errors = chosen.report(failed)
    log.info(
        "arp: deleted %d neighbour entries, %d vanished first",
        sum(map(len, deleted.values())),
        sum(map(len, vanished.values())),
    )
    if errors:
        # What was deleted is reported with the error (``info``, as pkg.install does).
        failures = {}
        for ifname, dst, code in errors:
            failures.setdefault(ifname, {})[dst] = _why(code)
        raise CommandExecutionError(
            f"{len(errors)} of {chosen.count} deletes failed ({chosen.count - len(errors)} deleted or gone): "
            + "; ".join(f"{dst} on {ifname}: {_why(code)}" for ifname, dst, code in errors[:10]),
            info={"deleted": deleted, "vanished": vanished, "failed": failures},
        )
    return {"deleted": deleted, "vanished": vanished}


# ------------------------------------------------------------ ARP and NDP packets
#
# verify() and announce() speak to the segment through AF_PACKET sockets, one
# per interface and protocol, opened in the namespace by pyroute2. Frames are
# built here: Ethernet + ARP, and Ethernet + IPv6 + ICMPv6 for neighbour
# discovery (RFC 826, 4861).
#
# verify asks only the questions the kernel itself asks (RFC 826 requests and
# RFC 4861 solicitations from this host's own address and MAC), never an
# RFC 5227 probe (sender 0.0.0.0) nor a DAD solicitation (source ::): those
# tell a host that is taking an address over that another host claims it.

VERIFIED_STATES = ("reachable", "stale", "delay", "probe", "permanent")
ARPHRD_ETHER = 1
LINK_TYPES = {1: "ether", 772: "loopback", 768: "ipip", 776: "sit", 778: "gre", 65534: "none (tun, wireguard)"}
NUD_REACHABLE, NUD_STALE = 0x02, 0x04
ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 = 0x0806, 0x0800, 0x86DD
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 135, 136
ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR = 1, 2
NA_OVERRIDE = 0x20000000
IPPROTO_ICMPV6 = 58
BROADCAST = b"\xff" * 6
ALL_NODES = socket.inet_pton(socket.AF_INET6, "ff02::1")
LINK_LOCAL = ipaddress.ip_network("fe80::/10")
ETHERNET = struct.Struct("!6s6sH")  # destination, source, type
ARP_PACKET = struct.Struct("!HHBBH6s4s6s4s")  # hardware, protocol, sizes, op, sha, spa, tha, tpa
IPV6_HEADER = struct.Struct("!IHBB16s16s")  # version etc., payload length, next header, hop limit, src, dst
ND_MESSAGE = struct.Struct("!BBHI16s")  # type, code, checksum, flags/reserved, target
# A verify run: seconds to wait for answers, questions a second, and how long
# the questions may take in all, so that a scheduled run always ends.
TIMEOUT_LIMIT, RATE_LIMITS, RUN_LIMIT = 30, (1, 10000), 300


class _SockaddrLL(ctypes.Structure):
    """struct sockaddr_ll: bind(2) a packet socket by interface index (a name may not be UTF-8)."""

    _fields_ = [
        ("family", ctypes.c_ushort),
        ("protocol", ctypes.c_ushort),
        ("ifindex", ctypes.c_int),
        ("hatype", ctypes.c_ushort),
        ("pkttype", ctypes.c_ubyte),
        ("halen", ctypes.c_ubyte),
        ("addr", ctypes.c_ubyte * 8),
    ]


LIBC = ctypes.CDLL(None, use_errno=True)


def _links(netns):
    """The namespace's links with their addresses (see :func:`_read_links`)."""
    with _Socket(netns) as sock:
        return _read_links(sock, addresses=True)


def _link_type(link):
    return LINK_TYPES.get(link["type"], f"type {link['type']}")


def _check_named_links(interfaces, family, links, where, need_up=False):
    """Refuse named interfaces that cannot speak ARP or NDP for the family."""
    by_name = {link["ifname"]: link for link in links.values()}
    _check_names(interfaces, by_name, where)
    for name in interfaces:
        link = by_name[name]
        if link["type"] != ARPHRD_ETHER or not link["mac"]:
            raise SaltInvocationError(
                f"interface {name!r} is not an Ethernet interface (link {_link_type(link)}): "
                "ARP and neighbour discovery need one"
            )
        if need_up and not link["up"]:
            raise SaltInvocationError(f"interface {name!r} is down: nothing can be sent from it")
        for wanted, words in ((socket.AF_INET, "IPv4 address: it takes no part in ARP"),
                              (socket.AF_INET6, "IPv6 address: it takes no part in neighbour discovery")):
            if family == wanted and not any(f == wanted for f, _, _ in link["addresses"]):
                raise SaltInvocationError(f"interface {name!r} has no {words}")


def _source(link, family, dst):
    """
    This host's address on the link to ask about ``dst`` from, as the kernel
    picks it: one whose prefix holds ``dst``; for IPv6, the link-local
    address for a link-local ``dst``; else the first. None if the link has
    no address of the family.
    """
    address = ipaddress.ip_address(dst)
    own = [(ipaddress.ip_interface(f"{a}/{prefix}"), a) for f, a, prefix in link["addresses"] if f == family]
    if family == socket.AF_INET6:
        local = [pair for pair in own if pair[0].ip in LINK_LOCAL]
        if address in LINK_LOCAL:
            return local[0][1] if local else None
        own = [pair for pair in own if pair[0].ip not in LINK_LOCAL] + local
    for interface, text in own:
        if address in interface.network:
            return text
    return own[0][1] if own else None


def _unaskable(entry, links):
    """Why an entry's address cannot be asked about, or None."""
    link = links.get(entry["ifindex"])
    if link is None:
        return "its interface is gone"
    if link["type"] != ARPHRD_ETHER or not link["mac"]:
        return f"{link['ifname']} is not an Ethernet interface (link {_link_type(link)})"
    if not link["up"]:
        return f"{link['ifname']} is down"
    if not entry["lladdr"]:
        return "the entry holds no MAC"
    family = FAMILIES[entry["family"]]
    if _source(link, family, entry["dst"]) is None:
        return f"{link['ifname']} has no {'IPv4' if family == socket.AF_INET else 'IPv6'} address to ask from"
    return None


def _put(report, entry, value):
    report.setdefault(entry["ifname"], {})[entry["dst"]] = value


def _fixable(entry):
    """May a repair change this entry? Not configuration: permanent, noarp, extern_learn or managed entries."""
    return entry["state"] not in CONFIGURED_STATES and not {"extern_learn", "managed"} & set(entry["flags"])


def _packet_socket(netns, link, family):
    """An AF_PACKET socket bound to the link (by index), for ARP (AF_INET) or IPv6 frames."""
    proto = ETH_P_ARP if family == socket.AF_INET else ETH_P_IPV6
    try:
        if netns:
            sock = pyroute2.netns.create_socket(
                netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto), flags=0
            )
        else:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        address = _SockaddrLL(family=socket.AF_PACKET, protocol=socket.htons(proto), ifindex=link["index"])
        if LIBC.bind(sock.fileno(), ctypes.byref(address), ctypes.sizeof(address)):
            code = ctypes.get_errno()
            sock.close()
            raise OSError(code, os.strerror(code))
        try:  # Linux 4.20: our own frames are not read back
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass
        sock.setblocking(False)
    except OSError as err:
        if err.errno in (errno.EPERM, errno.EACCES):
            why = "permission denied: ARP and neighbour discovery need CAP_NET_RAW; run the Salt minion as root"
        else:
            why = _why(err.errno) if err.errno else str(err)
        where = f"{link['ifname']} in {_where(netns)}"
        raise CommandExecutionError(f"cannot open a packet socket on {where}: {why}") from err
    return sock


def _icmpv6(src, dst, message):
    """An IPv6 header and the ICMPv6 message with its checksum filled in."""
    pseudo = src + dst + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6) + message
    if len(pseudo) % 2:
        pseudo += b"\0"
    total = sum(array.array("H", pseudo))  # native order; folded and swapped below
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = socket.htons(~total & 0xFFFF)
    message = message[:2] + struct.pack("!H", checksum) + message[4:]
    return IPV6_HEADER.pack(6 << 28, len(message), IPPROTO_ICMPV6, 255, src, dst) + message


def _question(mac, source, family, dst, to=None):
    """
    The frame that asks who has ``dst``, from this host's ``source`` address
    and ``mac``, exactly as the kernel asks: to the MAC ``to`` alone (the
    kernel's unicast reachability probe), or with ``to=None`` to the whole
    segment (its address resolution: an ARP broadcast, an IPv6 solicitation
    to the address's solicited-node group).
    """
    if family == socket.AF_INET:
        arp = ARP_PACKET.pack(
            1, ETH_P_IP, 6, 4, ARPOP_REQUEST, mac, socket.inet_aton(source), bytes(6), socket.inet_aton(dst)
        )
        return ETHERNET.pack(to or BROADCAST, mac, ETH_P_ARP) + arp
    target = socket.inet_pton(socket.AF_INET6, dst)
    group = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + target[13:]
    solicitation = ND_MESSAGE.pack(ND_NEIGHBOR_SOLICIT, 0, 0, 0, target) + bytes([ND_OPT_SOURCE_LLADDR, 1]) + mac
    own = socket.inet_pton(socket.AF_INET6, source)
    if to:
        return ETHERNET.pack(to, mac, ETH_P_IPV6) + _icmpv6(own, target, solicitation)
    return ETHERNET.pack(b"\x33\x33" + group[12:], mac, ETH_P_IPV6) + _icmpv6(own, group, solicitation)


def _announcement(mac, family, address):
    """A gratuitous ARP request, or an unsolicited neighbour advertisement with the override flag."""
    if family == socket.AF_INET:
        own = socket.inet_aton(address)
        return ETHERNET.pack(BROADCAST, mac, ETH_P_ARP) + ARP_PACKET.pack(
            1, ETH_P_IP, 6, 4, ARPOP_REQUEST, mac, own, bytes(6), own
        )
    own = socket.inet_pton(socket.AF_INET6, address)
    advert = ND_MESSAGE.pack(ND_NEIGHBOR_ADVERT, 0, 0, NA_OVERRIDE, own) + bytes([ND_OPT_TARGET_LLADDR, 1]) + mac
    return ETHERNET.pack(b"\x33\x33\x00\x00\x00\x01", mac, ETH_P_IPV6) + _icmpv6(own, ALL_NODES, advert)


def _answers_in(sock, family, mac):
    """Yield (address, MAC) of the answers waiting on a link's packet socket (``mac``: the link's own)."""
    while True:
        try:
            frame = sock.recv(2048)
        except BlockingIOError:
            return
        if frame[6:12] == mac:
            continue  # our own frame, on kernels that read them back
        if family == socket.AF_INET:
            if len(frame) < ETHERNET.size + ARP_PACKET.size:
                continue
            fields = ARP_PACKET.unpack_from(frame, ETHERNET.size)
            if fields[4] == ARPOP_REPLY:
                yield socket.inet_ntoa(fields[6]), fields[5].hex(":")
            continue
        start = ETHERNET.size + IPV6_HEADER.size
        if len(frame) < start + ND_MESSAGE.size or frame[ETHERNET.size + 6] != IPPROTO_ICMPV6:
            continue
        kind, _, _, _, target = ND_MESSAGE.unpack_from(frame, start)
        if kind != ND_NEIGHBOR_ADVERT:
            continue
        answered = frame[6:12]
        offset = start + ND_MESSAGE.size
        while offset + 8 <= len(frame) and frame[offset + 1]:
            if frame[offset] == ND_OPT_TARGET_LLADDR:
                answered = frame[offset + 2 : offset + 8]
                break
            offset += frame[offset + 1] * 8
        yield socket.inet_ntop(socket.AF_INET6, target), answered.hex(":")


def _ask(entries, links, netns, timeout, rate, whole_segment):
    """
    Ask about every entry's address at once, ``rate`` questions a second:
    the whole segment (``whole_segment``), else each entry's cached MAC
    alone. Answers are collected for ``timeout`` seconds
    after the last question (all of them, so that a second MAC claiming an
    address is seen); a run that asked only cached MACs ends as soon as each
    has answered. Returns {(ifindex, dst): [MACs, in the order they
    answered]}.
    """
    if not entries:
        return {}
    sockets, questions = {}, []
    try:
        for entry in entries:
            family = FAMILIES[entry["family"]]
            link = links[entry["ifindex"]]
            key = (link["index"], family)
            if key not in sockets:
                sockets[key] = _packet_socket(netns, link, family)
            to = None if whole_segment else bytes.fromhex(entry["lladdr"].replace(":", ""))
            source = _source(link, family, entry["dst"])
            questions.append((sockets[key], _question(link["mac"], source, family, entry["dst"], to)))
        waiting = {(entry["ifindex"], entry["dst"]) for entry in entries}
        readers = {sock.fileno(): (index, family, sock) for (index, family), sock in sockets.items()}
        answers, sent, deadline = {}, 0, None
        start = time.monotonic()
        while True:
            now = time.monotonic()
            while sent < len(questions) and start + sent / rate <= now:
                sock, frame = questions[sent]
                sock.send(frame)
                sent += 1
            if sent == len(questions):
                deadline = deadline or now + timeout
                if (not whole_segment and not waiting) or now >= deadline:
                    break
                wait = deadline - now
            else:
                wait = start + sent / rate - now
            for fileno in select.select(list(readers), [], [], max(wait, 0))[0]:
                index, family, sock = readers[fileno]
                for dst, mac in _answers_in(sock, family, links[index]["mac"]):
                    key = (index, dst)
                    if key in waiting or key in answers:
                        macs = answers.setdefault(key, [])
                        if mac not in macs:
                            macs.append(mac)
                        waiting.discard(key)
    except OSError as err:
        raise CommandExecutionError(f"asking the segment failed in {_where(netns)}: {_why(err.errno)}") from err
    finally:
        for sock in sockets.values():
            sock.close()
    return answers


def _flag_bits(entry):
    return sum(bit for bit, name in FLAG_NAMES.items() if name in entry["flags"])


def _repair(result, entries, netns):
    """
    Replace the learned entries that one other MAC answered for (the MAC
    changes, the flags stay), delete unanswered stale and failed ones, and
    put back the cached MAC of entries in conflict if this host's kernel took
    one of the answers meanwhile. Returns ``{"replaced", "deleted"}``; on an
    error, raises with them in ``info``.
    """
    replace = [(e, result["mismatch"][e["ifname"]][e["dst"]]["answered"][0]) for e in entries if _fixable(e)
               and e["dst"] in result["mismatch"].get(e["ifname"], {})]
    delete = [e for e in entries if _fixable(e) and e["state"] in ("stale", "failed")
              and e["dst"] in result["unanswered"].get(e["ifname"], {})]
    conflicts = [e for e in entries if e["dst"] in result["conflict"].get(e["ifname"], {})]
    replaced, deleted = {}, {}
    if (replace or delete or conflicts) and not _has_net_admin():
        raise CommandExecutionError(
            "permission denied: repairing neighbour entries needs CAP_NET_ADMIN; run the Salt minion as root"
        )
    try:
        with _iproute(netns) as ipr:
            for entry, new in replace:
                ipr.neigh("replace", dst=entry["dst"], lladdr=new, ifindex=entry["ifindex"], state=NUD_REACHABLE,
                          family=FAMILIES[entry["family"]], flags=_flag_bits(entry))
                _put(replaced, entry, {"old": entry["lladdr"], "new": new})
            for entry in delete:
                try:
                    ipr.neigh("del", dst=entry["dst"], ifindex=entry["ifindex"], family=FAMILIES[entry["family"]])
                except NetlinkError as err:
                    if err.code not in (errno.ENOENT, errno.ENODEV):  # gone already: fine
                        raise
                    continue
                _put(deleted, entry, entry["lladdr"])
            for entry in conflicts:
                try:
                    now = ipr.neigh("get", dst=entry["dst"], ifindex=entry["ifindex"], family=FAMILIES[entry["family"]])
                except NetlinkError as err:
                    if err.code not in (errno.ENOENT, errno.ENODEV):
                        raise
                    continue
                if now and now[0].get("NDA_LLADDR") not in (None, entry["lladdr"]) and _fixable(entry):
                    # Several MACs claim the address: a human decides, not the fastest answer.
                    ipr.neigh("replace", dst=entry["dst"], lladdr=entry["lladdr"], ifindex=entry["ifindex"],
                              state=NUD_STALE, family=FAMILIES[entry["family"]], flags=_flag_bits(entry))
    except (OSError, NetlinkError) as err:
        code = getattr(err, "code", None) or getattr(err, "errno", None)
        why = _why(code) if code else err
        raise CommandExecutionError(
            f"repairing neighbour entries in {_where(netns)} failed: {why}",
            info={"replaced": replaced, "deleted": deleted},
        ) from err
    return {"replaced": replaced, "deleted": deleted}


def _iproute(netns):
    """pyroute2's IPRoute in the namespace (never creating it), for the few writes of a repair."""
    return pyroute2.IPRoute(netns=netns, flags=0) if netns else pyroute2.IPRoute()


def _send(chosen, netns):
    """
    Announce each (link, [(family, address, prefix)]) out of its link: one
    packet socket per link. Returns {ifname: [addresses]}; on an error,
    raises naming the link, with what was announced before in ``info``.
    """
    announced = {}
    for link, addresses in chosen:
        try:
            sock = _packet_socket(netns, link, addresses[0][0])
        except CommandExecutionError as err:
            raise CommandExecutionError(str(err), info={"announced": announced}) from err
        try:
            for family, address, _ in addresses:
                sock.send(_announcement(link["mac"], family, address))
                announced.setdefault(link["ifname"], []).append(address)
        except OSError as err:
            raise CommandExecutionError(
                f"sending announcements on {link['ifname']!r} in {_where(netns)} failed: {_why(err.errno)}",
                info={"announced": announced},
            ) from err
        finally:
            sock.close()
    return announced
