"""
What the ``arp`` module may change in the neighbour table, what an answer
means, and what the kernel's settings mean for how long a wrong entry can
last (diagnose's findings): its rules, each one function or table here, on
plain data (entries as ``_arp_hygiene_neighbours.scan`` returns them), with no
Salt, no kernel and no other helper.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory (a name that starts with ``_`` is never loaded by Salt as a
module of its own, but is synced with ``_modules/``).
"""

import ipaddress
import logging

log = logging.getLogger(__name__)

# The address families by the names the functions take and entries show
# (socket.AF_INET, AF_INET6): in words, the directory of their settings under
# /proc/sys/net, and their table's statistics under /proc/net/stat. "all"
# names both.
FAMILIES = {
    "inet": {"words": "IPv4", "proc": "ipv4", "stat": "arp_cache"},
    "inet6": {"words": "IPv6", "proc": "ipv6", "stat": "ndisc_cache"},
}


def in_words(choices):
    """'request, reply or both' of ``choices``: how an error lists what is allowed."""
    return ", ".join(choices[:-1]) + " or " + choices[-1]


# What a family may be, in the words of an error (the formula's pillar).
FAMILY_ALLOWED = in_words([f"{name} ({family['words']})" for name, family in FAMILIES.items()] + ["all"])
# The kernel's NUD states, by the names ip-neighbour(8) uses (pyroute2 gives their bits).
NUD_NAMES = ("incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent", "none")
# Entries that are configuration, not learned state: never flushed, repaired or forgotten.
CONFIGURED_STATES = ("permanent", "noarp")
# Entries a routing daemon owns (extern_learn) or the administrator asked the
# kernel to keep resolved (managed): never flushed, repaired or forgotten.
OWNED_FLAGS = ("extern_learn", "managed")
# What verify asks about by default: the states whose entries hold a MAC.
VERIFIED_STATES = ("reachable", "stale", "delay", "probe", "permanent")
# What the watcher watches: the learned entries that hold a MAC.
WATCHED_STATES = tuple(name for name in VERIFIED_STATES if name not in CONFIGURED_STATES)
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


def asked_of_the_segment(entry):
    """
    May verify ask the whole segment about ``entry``? Not a routing daemon's
    (``extern_learn``, ``managed``): the kernel would take another host's
    answer into it, an entry verify promises never to change (it never
    takes one into ``permanent`` and ``noarp`` entries). Its cached MAC
    alone is asked.
    """
    return not any(flag in entry["flags"] for flag in OWNED_FLAGS)


def flushable_states(names=NUD_NAMES):
    """The NUD state names that a flush may choose from, of ``names`` (every state the kernel has)."""
    return [name for name in names if name not in CONFIGURED_STATES]


# What the formula's verify job may be told to ask about: every state but
# noarp, whose entries hold no MAC to ask (pillar verify:states).
VERIFIABLE_STATES = tuple(name for name in NUD_NAMES if name != "noarp")


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


# ----------------------------------------------------------- diagnose

# The findings of diagnose, in the order it reports them.
FINDINGS = ("below_gc_thresh1", "near_gc_thresh3", "table_full", "slow_reprobe", "arp_notify_off")
# A table this full of gc_thresh3 is near overflow.
NEAR_FULL = 0.8
# The kernel's defaults for how long a MAC that no longer answers is used
# (delay_first_probe_time s, then ucast_solicit probes retrans_time_ms apart).
REPROBE_DEFAULTS = {"delay_first_probe_time": 5, "ucast_solicit": 3, "retrans_time_ms": 1000}


# ----------------------------------------------------------- verify's limits

# A verify run: seconds to wait for answers (above the first, at most the
# second), questions a second, and how long the questions may take in all,
# so that a scheduled run always ends. arp.verify, arp.watch and the formula's
# pillar (verify:timeout, verify:rate) read these.
TIMEOUT_LIMITS = (0, 30)
RATE_LIMITS = (1, 10000)
RUN_LIMIT = 300


def limits_in_words(text):
    """``text`` (a function's documentation) with TIMEOUT_MAX, RATE_MIN, RATE_MAX and RUN_LIMIT as the limits."""
    limits = {
        "TIMEOUT_MAX": TIMEOUT_LIMITS[1],
        "RATE_MIN": RATE_LIMITS[0],
        "RATE_MAX": RATE_LIMITS[1],
        "RUN_LIMIT": RUN_LIMIT,
    }
    for name, value in limits.items():
        text = text.replace(name, f"{value:g}")
    return text


# ---------------------------------------------------------- announce's limits

# How announce tells the segment: gratuitous ARP requests, replies or both.
ANNOUNCE_MODES = ("request", "reply", "both")
# At most this many announcements of each address, this many seconds apart.
ANNOUNCE_COUNT_LIMIT, ANNOUNCE_INTERVAL_LIMIT = 100, 60


# ------------------------------------------------ what pillar and calls may say

# What each setting ruled here allows, in the words of an error.
ALLOWED = {
    "fail_on": "a list of " + ", ".join(FINDINGS),
    "timeout": f"a number of seconds above {TIMEOUT_LIMITS[0]}, at most {TIMEOUT_LIMITS[1]}",
    "rate": f"questions per second, from {RATE_LIMITS[0]} to {RATE_LIMITS[1]}",
    "count": f"a whole number of announcements from 1 to {ANNOUNCE_COUNT_LIMIT}",
    "interval": f"a number of seconds from 0 to {ANNOUNCE_INTERVAL_LIMIT}",
    "mode": in_words(ANNOUNCE_MODES),
}
# The formula's pillar sections whose keys' rules live here: map.py asks
# settings_problem about them (checks.yaml's ``ask``), as arp.diagnose does
# about fail_on, arp.verify about timeout and rate, arp.announce about count,
# interval and mode.
SECTIONS = {"diagnose": ("fail_on",), "verify": ("timeout", "rate"), "announce": ("count", "interval", "mode")}
# The formula's defaults that are the module's own (map.py adds them): the
# verify job asks about what arp.verify asks about by default, and diagnose
# fails on no finding, as arp.diagnose does without fail_on.
SECTION_DEFAULTS = {"diagnose": {"fail_on": []}, "verify": {"states": list(VERIFIED_STATES)}}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def settings_problem(settings):
    """
    ``(key, what is allowed)`` for the first key of ``settings`` ruled here
    (``fail_on``: a list of FINDINGS; ``timeout``, ``rate``: within verify's
    limits; ``count``, ``interval``, ``mode``: announce's; a number as YAML
    gives it) that breaks its rule, else None.
    Other keys are not looked at.
    """
    rules = {
        "fail_on": lambda value: (
            isinstance(value, list) and all(isinstance(name, str) and name in FINDINGS for name in value)
        ),
        "timeout": lambda value: _number(value) and TIMEOUT_LIMITS[0] < value <= TIMEOUT_LIMITS[1],
        "rate": lambda value: _number(value) and RATE_LIMITS[0] <= value <= RATE_LIMITS[1],
        "count": lambda value: _number(value) and isinstance(value, int) and 1 <= value <= ANNOUNCE_COUNT_LIMIT,
        "interval": lambda value: _number(value) and 0 <= value <= ANNOUNCE_INTERVAL_LIMIT,
        "mode": lambda value: isinstance(value, str) and value in ANNOUNCE_MODES,
    }
    for key, good in rules.items():
        if key in settings and not good(settings[key]):
            return key, ALLOWED[key]
    return None


def reprobe_seconds(timers):
    """How long the kernel uses a MAC that stopped answering before it asks the whole segment again."""
    return timers["delay_first_probe_time"] + timers["ucast_solicit"] * timers["retrans_time_ms"] / 1000


def findings(family, facts):
    """
    What follows from a family's ``facts`` (diagnose's: ``kernel_entries``,
    ``gc_thresh1/2/3``, ``counters``, ``interfaces`` {ifname: timers and
    conf}): [{"finding", "risk" (one sentence), "facts", "pillar" (the
    formula's pillar that changes it)}], in the order of this function.
    """
    proc, found = FAMILIES[family]["proc"], []
    entries, low, middle, high = (facts[key] for key in ("kernel_entries", "gc_thresh1", "gc_thresh2", "gc_thresh3"))
    bigger = {f"net.{proc}.neigh.default.gc_thresh2": middle * 2, f"net.{proc}.neigh.default.gc_thresh3": high * 2}

    def add(name, risk, numbers, pillar):
        found.append({"finding": name, "risk": risk, "facts": numbers, "pillar": {"arp_hygiene": pillar}})

    if entries is not None and low is not None and entries < low:
        add(
            "below_gc_thresh1",
            f"The kernel's {family} table holds {entries} entries, below gc_thresh1 ({low}), where the kernel "
            "never collects STALE entries: a reused address's old MAC can stay until an interval job or the "
            "reactor removes it.",
            {"kernel_entries": entries, "gc_thresh1": low},
            {"sysctl": {f"net.{proc}.neigh.default.gc_thresh1": 0}},
        )
    if entries is not None and high is not None and middle is not None and entries >= NEAR_FULL * high:
        add(
            "near_gc_thresh3",
            f"The kernel's {family} table holds {entries} entries, near gc_thresh3 ({high}), past which it refuses "
            "new entries (ENOBUFS, 'neighbour table overflow') and hosts this one has not talked to lately "
            "become unreachable.",
            {"kernel_entries": entries, "gc_thresh3": high},
            {"sysctl": bigger},
        )
    refused = (facts["counters"] or {}).get("table_fulls")
    if refused and high is not None and middle is not None:
        add(
            "table_full",
            f"The kernel refused {refused} new {family} entries since boot (table_fulls): its table overflowed "
            "at gc_thresh3, and hosts were unreachable while it was full.",
            {"table_fulls": refused, "gc_thresh3": high},
            {"sysctl": bigger},
        )
    for ifname, timers in sorted(facts["interfaces"].items()):
        seconds = reprobe_seconds(timers)
        if seconds > reprobe_seconds(REPROBE_DEFAULTS):
            add(
                "slow_reprobe",
                f"On {ifname}, a MAC that stopped answering is used for up to {seconds:g} s "
                f"(delay_first_probe_time {timers['delay_first_probe_time']} s, then {timers['ucast_solicit']} "
                f"unicast probes {timers['retrans_time_ms']} ms apart) before the kernel asks the segment again, "
                f"longer than the kernel's default {reprobe_seconds(REPROBE_DEFAULTS):g} s.",
                {"interface": ifname, "seconds": seconds, **{key: timers[key] for key in REPROBE_DEFAULTS}},
                {
                    "sysctl": {
                        f"net.{proc}.neigh.{ifname}.{key}": value
                        for key, value in REPROBE_DEFAULTS.items()
                        if timers[key] != value
                    }
                },
            )
        if family == "inet" and timers.get("arp_notify") == 0:
            add(
                "arp_notify_off",
                f"When {ifname} comes up or its address changes, this host announces nothing (arp_notify 0): "
                "hosts that cached its address's previous owner keep the old MAC until they ask again.",
                {"interface": ifname, "arp_notify": 0},
                {"announce": {"arp_notify": True}},
            )
    return found
