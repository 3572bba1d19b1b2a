"""
Keep the kernel's neighbour table (ARP, IPv6 NDP) free of stale entries.

:depends: the ``arp`` execution module of arp-hygiene (and so pyroute2)
:platform: Linux

.. code-block:: yaml

    no stale neighbour entries:
      arp.no_stale:
        - interface: [eth0, eth1]
        - states: [stale, failed]
        - exclude: 192.0.2.1
"""

import logging

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
    name, interface=None, states="stale", family="inet", network=None, exclude=None, min_age=0, netns=None
):
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
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    selection = {
        "interface": interface,
        "states": states,
        "family": family,
        "network": network,
        "exclude": exclude,
        "min_age": min_age,
        "netns": netns,
    }
    where = f"the neighbour table of network namespace {netns}" if netns else "the neighbour table"
    wanted = ", ".join(states) if isinstance(states, (list, tuple)) else str(states)
    try:
        if __opts__["test"]:
            planned = __salt__["arp.flush_stale"](test=True, **selection)["would_delete"]
            if planned:
                ret["result"] = None
                ret["changes"] = {"deleted": planned}
                ret["comment"] = f"Would flush {_count(planned)} ({wanted}) from {where}."
            else:
                ret["comment"] = f"No {wanted} entries in {where}: already clean."
            return ret
        flushed = __salt__["arp.flush_stale"](test=False, **selection)
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["result"] = False
        ret["comment"] = f"Cannot flush neighbour entries: {err}"
        return ret
    if flushed["deleted"] or flushed["vanished"]:
        ret["changes"] = {key: value for key, value in flushed.items() if value}
        ret["comment"] = f"Flushed {_count(flushed['deleted'])} ({wanted}) from {where}."
        if flushed["vanished"]:
            ret["comment"] += f" {_count(flushed['vanished'])} vanished before their delete."
    else:
        ret["comment"] = f"No {wanted} entries in {where}: already clean."
    return ret


def _count(report):
    """'N neighbour entries' of a flush's report {interface: {address: MAC}}."""
    count = sum(len(entries) for entries in report.values())
    return f"{count} neighbour {'entry' if count == 1 else 'entries'}"
