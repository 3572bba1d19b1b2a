"""
The ``arp`` module's argument checks, in plain Python (no Salt): each
argument as the functions take it (a name, a comma-separated string or a
list; a number as a string too), checked before anything touches the kernel.
A bad one raises :class:`ArgumentError`, whose words the module gives its
caller as they are.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory.
"""

import ipaddress
import os
import socket

import _arp_hygiene_neighbours as neighbours
import _arp_hygiene_netlink as netlink
import _arp_hygiene_policy as policy
from _arp_hygiene_errors import ArgumentError

NO_ADDRESS = {
    socket.AF_INET: "IPv4 address: it takes no part in ARP",
    socket.AF_INET6: "IPv6 address: it takes no part in neighbour discovery",
}


def names(value, what, split=True):
    """A name, a comma-separated string (when ``split``) or a list -> list of str."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        value = value.decode() if isinstance(value, bytes) else value
        items = value.split(",") if split else [value]
    elif isinstance(value, (list, tuple, set)):
        items = list(value)
    else:
        raise ArgumentError(f"{what} must be a string or a list, not {type(value).__name__}: {value!r}")
    found = []
    for item in items:
        if not isinstance(item, str):
            raise ArgumentError(f"{what} must hold strings, not {type(item).__name__}: {item!r}")
        if item.strip():
            found.append(item.strip())
        elif not split:
            # An empty name must never widen the selection to every interface.
            raise ArgumentError(f"{what} names cannot be empty or blank: {value!r}")
    return found


def family(value):
    """``inet``, ``inet6`` or ``all`` (any case) -> its address family."""
    if not isinstance(value, str) or value.lower() not in netlink.FAMILIES:
        raise ArgumentError(f"unknown family {value!r}; valid families: {', '.join(netlink.FAMILIES)}")
    return netlink.FAMILIES[value.lower()]


def families(number):
    """The address families that a family argument's number stands for."""
    return (socket.AF_INET, socket.AF_INET6) if number == socket.AF_UNSPEC else (number,)


def boolean(value, what):
    if not isinstance(value, bool):
        raise ArgumentError(f"{what} must be True or False, not {value!r}")
    return value


def announcing(count, interval, mode):
    """announce's (count, interval, mode): a whole count from 1, seconds from 0, a mode: the policy's limits."""
    found = number(count, "count", "announcements", 1, policy.ANNOUNCE_COUNT_LIMIT)
    if found != int(found):
        raise ArgumentError(
            f"count must be a whole number of announcements from 1, at most {policy.ANNOUNCE_COUNT_LIMIT}, "
            f"not {count!r}"
        )
    seconds = number(interval, "interval", "seconds", 0, policy.ANNOUNCE_INTERVAL_LIMIT)
    if mode not in policy.ANNOUNCE_MODES:
        raise ArgumentError(f"mode must be {policy.in_words(policy.ANNOUNCE_MODES)}, not {mode!r}")
    return int(found), seconds, mode


def fix_and_sweep(fix, sweep):
    """verify's (fix, sweep): a sweep's answers may change entries (the kernel takes them), so only with fix."""
    if boolean(sweep, "sweep") and not boolean(fix, "fix"):
        raise ArgumentError("sweep asks the whole segment, whose answers may change entries: use it with fix=True")
    return boolean(fix, "fix"), sweep


def network(value, what):
    """
    An address or CIDR -> (network, scope): ``scope`` is the interface name
    of an IPv6 scope id (``fe80::1%eth0``, ``fe80::%eth0/64``), which limits
    the network to the entries on that interface, or None.
    """
    if not isinstance(value, str):
        kind = type(value).__name__
        raise ArgumentError(f"{what} must be an address or CIDR as a string, not {kind}: {value!r}")
    try:
        found = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as err:
        raise ArgumentError(f"{what}: {value!r} is not an IPv4 or IPv6 address or CIDR ({err})") from None
    return found, getattr(found.network_address, "scope_id", None)


def number(value, what, unit, low, high=None, above_low=False):
    """A number (a numeric string too, never a bool) from ``low`` (above it: ``above_low``), finite, up to ``high``."""
    bounds = f"{'above' if above_low else 'from'} {low:g}, " + (f"at most {high:g}" if high is not None else "finite")
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        found = float(value)
        # The comparisons also refuse NaN.
        if not (found > low if above_low else found >= low) or not found < float("inf") or found > (high or found):
            raise ValueError
    except ValueError:
        raise ArgumentError(f"{what} must be a number of {unit} {bounds}, not {value!r}") from None
    return found


def namespace(netns):
    """A named network namespace that exists, or None (the caller's own)."""
    if netns is not None and (not isinstance(netns, str) or netns not in netlink.namespaces()):
        raise ArgumentError(f"network namespace {netns!r} does not exist (`ip netns list` shows the named ones)")
    return netns


def findings(fail_on):
    """The findings' names of ``fail_on`` (None: none), as policy.FINDINGS names them."""
    wanted = [] if fail_on is None else fail_on
    problem = policy.settings_problem({"fail_on": wanted})
    if problem:
        raise ArgumentError(f"fail_on must be {problem[1]}, not {fail_on!r}")
    return wanted


def in_words(netns):
    """The namespace as errors name it."""
    return f"network namespace {netns!r}" if netns else "the minion's network namespace"


def places(value):
    """``forget``'s addresses: addresses or CIDRs (one, a comma-separated string or a list), at least one."""
    found = [network(item, "addresses") for item in names(value, "addresses")]
    if not found:
        raise ArgumentError("addresses is empty: give the addresses or CIDRs whose entries to forget")
    return found


def mac(value):
    """A MAC as six colon-separated hex bytes, lower case; any other form is refused."""
    text = value.strip().lower().replace("-", ":") if isinstance(value, str) else None
    parts = text.split(":") if text else []
    if len(parts) != 6 or not all(len(part) == 2 and all(c in "0123456789abcdef" for c in part) for part in parts):
        raise ArgumentError(f"lladdr: {value!r} is not a MAC (six hex bytes, e.g. 02:00:00:00:20:02)")
    return ":".join(parts)


def owner_macs(lladdr):
    """``lladdr`` as {address or None (every address): normalised MAC}."""
    if lladdr is None or lladdr == "":
        return {}
    if isinstance(lladdr, str):
        return {None: mac(lladdr)}
    if not isinstance(lladdr, dict):
        raise ArgumentError(f"lladdr must be a MAC or a mapping of address to MAC, not {lladdr!r}")
    owners = {}
    for address, value in lladdr.items():
        owner = mac(value)  # the MAC first, as the checks always went
        try:
            owners[ipaddress.ip_address(str(address).strip())] = owner
        except ValueError:
            raise ArgumentError(f"lladdr: {address!r} is not an IPv4 or IPv6 address") from None
    return owners


def selection(interface, states, family_name, network_text, exclude, min_age, netns, flushing):
    """Check the selection's arguments before anything touches the kernel; return them as a dict."""
    valid = policy.flushable_states(netlink.NUD_STATES) if flushing else list(netlink.NUD_STATES)
    chosen = valid if states is None else names(states, "states")
    if not chosen:
        raise ArgumentError(f"states is empty; choose from: {', '.join(valid)}")
    for name in chosen:
        if name.lower() in policy.CONFIGURED_STATES and flushing:
            raise ArgumentError(
                f"state {name!r} is configuration, not learned state, and is never flushed; "
                f"flushable states: {', '.join(valid)}"
            )
        if name.lower() not in valid:
            raise ArgumentError(f"unknown NUD state {name!r}; valid states: {', '.join(valid)}")
    wanted = family(family_name)
    within = None
    if network_text is not None and network_text != "":
        within = network(network_text, "network")
        version = within[0].version
        if wanted not in (socket.AF_UNSPEC, socket.AF_INET if version == 4 else socket.AF_INET6):
            raise ArgumentError(
                f"network {within[0]} is IPv{version} but family is {netlink.FAMILY_NAMES[wanted]!r}; "
                f"use family={'inet' if version == 4 else 'inet6'} or family=all"
            )
    excluded = [network(item, "exclude") for item in names(exclude, "exclude")]
    min_age = number(0 if min_age is None else min_age, "min_age", "seconds", 0)
    netns = namespace(netns)
    return {
        "interfaces": names(interface, "interface", split=False),
        "states": {netlink.NUD_STATES[name.lower()] for name in chosen},
        "family": wanted,
        "network": within,
        "exclude": excluded,
        "min_age": min_age,
        "flushing": flushing,
        "netns": netns,
    }


def on_links(checked, ifnames):
    """
    The checked selection as the netlink helper's Selection, interface names
    (of arguments and scope ids) turned into the namespace's link indexes;
    names that no link has are refused.
    """
    by_name = {name: index for index, name in ifnames.items()}
    scoped = [item for item in [checked["network"], *checked["exclude"]] if item and item[1] is not None]
    known(checked["interfaces"] + sorted({scope for _, scope in scoped}), by_name, checked["netns"])

    def on_link(item):
        return None if item is None else (item[0], None if item[1] is None else by_name[item[1]])

    return neighbours.Selection(
        family=checked["family"],
        states=checked["states"],
        ifindexes={by_name[name] for name in checked["interfaces"]} if checked["interfaces"] else None,
        network=on_link(checked["network"]),
        exclude=[on_link(item) for item in checked["exclude"]],
        min_age=checked["min_age"],
        flushing=checked["flushing"],
    )


def known(interfaces, existing, netns):
    """Refuse interface names (arguments, scope ids) that name no link of the namespace."""
    unknown = [name for name in interfaces if name not in existing]
    if unknown:
        raise ArgumentError(
            f"no interface named {', '.join(map(repr, unknown))} in {in_words(netns)}; "
            f"interfaces there: {', '.join(map(repr, sorted(existing)))}"
        )


def ethernet(interfaces, family_number, links, netns, need_up=False):
    """Refuse named interfaces that cannot speak ARP or NDP for the family."""
    by_name = {link["ifname"]: link for link in links.values()}
    known(interfaces, by_name, netns)
    for name in interfaces:
        link = by_name[name]
        if not netlink.is_ethernet(link):
            raise ArgumentError(
                f"interface {name!r} is not an Ethernet interface (link {netlink.link_type(link)}): "
                "ARP and neighbour discovery need one"
            )
        if need_up and not link["up"]:
            raise ArgumentError(f"interface {name!r} is down: nothing can be sent from it")
        for wanted, words in NO_ADDRESS.items():
            if family_number == wanted and not any(f == wanted for f, _, _ in link["addresses"]):
                raise ArgumentError(f"interface {name!r} has no {words}")


def directory(value, what):
    """The absolute path of an existing directory."""
    if not isinstance(value, str) or not os.path.isabs(value) or not os.path.isdir(value):
        raise ArgumentError(f"{what} must be the absolute path of an existing directory, not {value!r}")
    return value


def run_length(questions, rate):
    """Refuse a verify run whose questions would take longer than policy.RUN_LIMIT."""
    if questions / rate > policy.RUN_LIMIT:
        raise ArgumentError(
            f"asking about {questions} entries at {rate:g} a second would take {questions / rate:.0f} s, "
            f"over the {policy.RUN_LIMIT} s a verify run may take: raise rate or narrow the selection"
        )
