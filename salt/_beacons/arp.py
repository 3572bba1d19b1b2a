"""
Beacon ``arp``: fires events when the neighbour table is in trouble.

- ``salt/beacon/<minion>/arp/table_nearly_full``: a family's entries above
  ``table_share`` (default 0.8) of the kernel's ``gc_thresh3`` (past it, the
  kernel refuses new entries: "neighbour table overflow").
- ``salt/beacon/<minion>/arp/failed_entries``: an interface holds
  ``failed_threshold`` or more ``failed`` and ``incomplete`` entries (off
  unless set): addresses that stopped answering, by the dozen.
- ``salt/beacon/<minion>/arp/mac_changed``: with ``mac_changes: true``, an
  address whose MAC differs from the one it held at the previous look.
- ``salt/beacon/<minion>/arp/table_full`` and ``.../unresolved_discards``:
  the kernel's counter of that name for a family's table
  (``/proc/net/stat/arp_cache``, ``ndisc_cache``: all namespaces together)
  grew since the previous look: new entries were refused ("neighbour table
  overflow"), or packets dropped while their neighbour was unresolved.

Each event's data names the minion (``id``), the namespace, the interface or
family, the counts and the thresholds.

.. code-block:: yaml

    beacons:
      arp:
        - interval: 60
        - table_share: 0.8
        - failed_threshold: 50
        - mac_changes: false
        - family: all          # inet, inet6 or all
        - netns: null          # a named network namespace; default the minion's own

The table is read with the ``arp`` execution module (``arp.list``), and the
kernel's limit and counters with ``arp.diagnose``.
"""

import importlib.util
import logging
import os

import salt.utils.beacons

log = logging.getLogger(__name__)

__virtualname__ = "arp"

DEFAULTS = {"table_share": 0.8, "failed_threshold": None, "mac_changes": False, "family": "all", "netns": None}
KNOWN = set(DEFAULTS) | {"interval", "disable_during_state_run"}


def _policy():
    """
    The arp module's policy (``_arp_hygiene_policy.py``: the families, each
    rule of the module declared once), from the modules' directory beside
    this one: ``modules/`` of a sync's extmods or of the pip package,
    ``_modules/`` of the master's copy; None if it is not there.
    """
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for kind in ("modules", "_modules"):
        path = os.path.join(parent, kind, "_arp_hygiene_policy.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("arp_hygiene_beacon_policy", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


POLICY = _policy()


def __virtual__():
    return __virtualname__


def validate(config):
    """Salt's beacon check of the configuration: (True, message) or (False, why)."""
    if not isinstance(config, list) or not all(isinstance(item, dict) for item in config):
        return False, "Configuration for the arp beacon must be a list of one-key mappings."
    merged = salt.utils.beacons.list_to_dict(config)
    unknown = sorted(set(merged) - KNOWN)
    if unknown:
        return False, f"Unknown keys for the arp beacon: {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}."
    settings = {**DEFAULTS, **merged}
    problem = settings_problem(settings)
    if problem:
        key, allowed = problem
        return False, f"arp beacon: {key} is {settings[key]!r}; allowed: {allowed}."
    return True, "Valid beacon configuration."


def settings_problem(settings):
    """
    The first of ``settings`` (all keys of DEFAULTS) that the beacon does not
    take, as ``(key, what is allowed)``; None if it takes them all. The
    rules' one home: the formula asks this function about pillar
    ``arp_hygiene:beacon`` (salt/arp_hygiene/map.py).
    """
    share = settings["table_share"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        return "table_share", "a number above 0, at most 1 (a share of gc_thresh3)"
    threshold = settings["failed_threshold"]
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1):
        return "failed_threshold", "a whole number from 1, or null for no failed_entries events"
    if not isinstance(settings["mac_changes"], bool):
        return "mac_changes", "true or false"
    if POLICY is None:
        return "family", "a family the arp module's policy names; it is not beside the beacon: sync _modules too"
    if settings["family"] not in (*POLICY.FAMILIES, "all"):
        return "family", POLICY.FAMILY_ALLOWED
    if settings["netns"] is not None and not isinstance(settings["netns"], str):
        return "netns", "the name of a network namespace, or null for the minion's own"
    return None


def beacon(config):
    """The events of one look at the table."""
    settings = {**DEFAULTS, **salt.utils.beacons.list_to_dict(config)}
    netns = settings["netns"]
    try:
        entries = __salt__["arp.list"](family=settings["family"], netns=netns)
        facts = __salt__["arp.diagnose"](family=settings["family"], netns=netns)
    except Exception as err:  # pylint: disable=broad-except  (one bad look must not stop the beacons)
        log.error("arp beacon: cannot read the neighbour table: %s", err)
        return []
    where = {"id": __opts__["id"], "netns": netns}
    events = []
    by_family = {}
    for entry in entries:
        by_family[entry["family"]] = by_family.get(entry["family"], 0) + 1
    for family, count in sorted(by_family.items()):
        limit = facts.get(family, {}).get("gc_thresh3")
        if limit and count > settings["table_share"] * limit:
            events.append(
                {
                    "tag": "table_nearly_full",
                    **where,
                    "family": family,
                    "entries": count,
                    "gc_thresh3": limit,
                    "table_share": settings["table_share"],
                }
            )
    if settings["failed_threshold"] is not None:
        failed = {}
        for entry in entries:
            if entry["state"] in ("failed", "incomplete"):
                failed[entry["ifname"]] = failed.get(entry["ifname"], 0) + 1
        for ifname, count in sorted(failed.items()):
            if count >= settings["failed_threshold"]:
                events.append(
                    {
                        "tag": "failed_entries",
                        **where,
                        "interface": ifname,
                        "failed": count,
                        "failed_threshold": settings["failed_threshold"],
                    }
                )
    events.extend(_counters_grown(facts, where))
    if settings["mac_changes"]:
        seen = {(entry["ifname"], entry["dst"]): entry["lladdr"] for entry in entries if entry["lladdr"]}
        key = f"arp.beacon.macs.{netns}.{settings['family']}"
        before = __context__.get(key)
        __context__[key] = seen
        for (ifname, dst), mac in sorted(seen.items()):
            old = (before or {}).get((ifname, dst))
            if old and old != mac:
                events.append(
                    {"tag": "mac_changed", **where, "interface": ifname, "address": dst, "old": old, "new": mac}
                )
    return events


# The kernel's counters that the beacon watches, and the tag of the event when one grows.
WATCHED_COUNTERS = {"table_fulls": "table_full", "unresolved_discards": "unresolved_discards"}


def _counters_grown(facts, where):
    """Events for the WATCHED_COUNTERS of arp.diagnose's ``facts`` that grew since the previous look (none at first)."""
    events = []
    for name, found in sorted(facts.items()):
        now = found["counters"]
        key = f"arp.beacon.kernel.{name}"
        before = __context__.get(key)
        __context__[key] = now
        for counter, tag in WATCHED_COUNTERS.items():
            if before and now and now[counter] > before[counter]:
                grown = now[counter] - before[counter]
                events.append({"tag": tag, **where, "family": name, counter: now[counter], "grown": grown})
    return events
