"""
What the ``arp`` module may change in the neighbour table, and what an
answer means: its rules, each one function or table here, on plain data
(entries as ``_arp_hygiene_netlink.scan`` returns them), with no Salt, no
kernel and no other helper.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory (a name that starts with ``_`` is never loaded by Salt as a
module of its own, but is synced with ``_modules/``).
"""

import ipaddress
import logging

log = logging.getLogger(__name__)

# Entries that are configuration, not learned state: never flushed, repaired or forgotten.
CONFIGURED_STATES = ("permanent", "noarp")
# Entries a routing daemon owns (extern_learn) or the administrator asked the
# kernel to keep resolved (managed): never flushed, repaired or forgotten.
OWNED_FLAGS = ("extern_learn", "managed")
# What verify asks about by default: the states whose entries hold a MAC.
VERIFIED_STATES = ("reachable", "stale", "delay", "probe", "permanent")
# Unanswered entries that a repair deletes; a reachable one is left to the kernel's own probes.
DELETED_WHEN_UNANSWERED = ("stale", "failed")
# What verify's answers mean for an entry: one of these.
OUTCOMES = ("ok", "mismatch", "conflict", "unanswered")


def untouchable(entry):
    """Why nothing here may change the entry (configuration, or a daemon's), or None."""
    if entry["state"] in CONFIGURED_STATES:
        return f"{entry['state']}: configuration"
    for flag in OWNED_FLAGS:
        if flag in entry["flags"]:
            return f"{flag}: a routing daemon's entry"
    return None


def flushable_states(names):
    """The NUD state names that a flush may choose from, of ``names`` (every state the kernel has)."""
    return [name for name in names if name not in CONFIGURED_STATES]


def outcome(cached, answered):
    """What the MACs ``answered`` for an entry holding ``cached`` mean: one of OUTCOMES."""
    if not answered:
        return "unanswered"
    if len(answered) > 1:
        return "conflict"
    return "ok" if answered[0] == cached else "mismatch"


def repair(entry, found):
    """
    What a repair does to an entry that verify found ``found`` (an outcome):
    ``replace`` its MAC with the one answer, ``delete`` it, ``restore`` its
    cached MAC if the kernel took one of several answers meanwhile (a human
    settles a conflict, not the fastest answer), or None: leave it.
    """
    if untouchable(entry):
        return None
    if found == "mismatch":
        return "replace"
    if found == "unanswered" and entry["state"] in DELETED_WHEN_UNANSWERED:
        return "delete"
    if found == "conflict":
        return "restore"
    return None


def why_kept(entry, owner):
    """Why ``forget`` leaves an entry for its address alone, or None: it goes. ``owner``: the owner's MAC or None."""
    why = untouchable(entry)
    if why:
        return why + (", never forgotten" if entry["state"] in CONFIGURED_STATES else "")
    if not entry["lladdr"]:
        return f"{entry['state']}: holds no MAC"
    if owner and entry["lladdr"] == owner:
        return "holds the owner's MAC"
    return None


def inside(address, ifname, places):
    """Is ``address`` on interface ``ifname`` in one of ``places``, [(network, interface name or None: any)]?"""
    return any(address in network and scope in (None, ifname) for network, scope in places)


class Targets:
    """
    The addresses and CIDRs whose entries ``forget`` looks at, each as
    (network, interface name or None), from an IPv6 scope id. Single
    addresses (a fleet's worth, for the audit) are looked up in a dict,
    CIDRs walked.
    """

    def __init__(self, places):
        self.singles, self.cidrs = {}, []
        for network, scope in places:
            if network.num_addresses == 1:
                # Keyed without the scope id, as the table's addresses come.
                address = type(network.network_address)(int(network.network_address))
                self.singles.setdefault(address, set()).add(scope)
            else:
                self.cidrs.append((network, scope))
        self.scopes = sorted({scope for _, scope in places if scope})

    def hold(self, address, ifname):
        scopes = self.singles.get(address)
        return (scopes is not None and not scopes.isdisjoint((None, ifname))) or inside(address, ifname, self.cidrs)


def forgotten(entries, targets, exclude, owners):
    """
    ``forget``'s choice among the ``entries``: the entries to delete, ``{ifname: {dst: why}}`` of those
    kept, and the single addresses that no entry holds. ``exclude``: places
    as for :func:`inside`; ``owners``: {address or None (any): MAC}.
    """
    doomed, kept, cached = [], {}, set()
    for entry in entries:
        address = ipaddress.ip_address(entry["dst"])
        if not targets.hold(address, entry["ifname"]):
            continue
        cached.add(address)
        if inside(address, entry["ifname"], exclude):
            why = "excluded"
        else:
            why = why_kept(entry, owners.get(address, owners.get(None)))
        if why:
            place(kept, entry, why)
        else:
            doomed.append(entry)
    return doomed, kept, [str(address) for address in targets.singles if address not in cached]


def place(report, entry, value):
    """Put ``value`` under the entry's interface and address in ``report`` ({ifname: {dst: value}})."""
    report.setdefault(entry["ifname"], {})[entry["dst"]] = value


def cached_macs(entries):
    """{ifname: {dst: lladdr}} of the entries."""
    report = {}
    for entry in entries:
        place(report, entry, entry["lladdr"])
    return report


def verdicts(asked, answers, skipped):
    """
    verify's return for the ``asked`` entries, given ``answers`` ({(ifindex,
    dst): [MACs]}): each entry under its outcome, ``ok`` and ``unanswered``
    with the cached MAC, the others with ``{"cached", "answered"}``.
    """
    found = {name: {} for name in OUTCOMES}
    for entry in asked:
        answered = answers.get((entry["ifindex"], entry["dst"]), [])
        result = outcome(entry["lladdr"], answered)
        value = entry["lladdr"] if result in ("ok", "unanswered") else {"cached": entry["lladdr"], "answered": answered}
        place(found[result], entry, value)
        if result == "conflict":
            macs = ", ".join(answered)
            log.warning("arp: several MACs answer for %s on %s: %s; left alone", entry["dst"], entry["ifname"], macs)
    found["skipped"] = skipped
    return found


def count(report):
    """The entries of a report {ifname: {dst: ...}}."""
    return sum(len(entries) for entries in report.values())
