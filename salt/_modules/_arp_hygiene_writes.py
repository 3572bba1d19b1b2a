"""
verify's repair in plain Python (no Salt): the few single writes that put
right what verify found, each as the policy says, through pyroute2.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory.
"""

import errno

import _arp_hygiene_errors as errors
import _arp_hygiene_policy as policy
import pyroute2
from _arp_hygiene_netlink import FAMILIES, FLAG_NAMES, NUD_REACHABLE, NUD_STALE, has_net_admin
from pyroute2.netlink.exceptions import NetlinkError


def repair(found, entries, netns):
    """
    The repair of verify's ``found`` (its return) for the asked ``entries``,
    each as the policy says (:func:`_arp_hygiene_policy.repair`), through
    :class:`Writer`. Returns ``{"replaced", "deleted"}``; an error carries
    them in ``info`` (a :class:`RunError`, or a :class:`KernelError`
    whose ``info`` is set).
    """
    actions = []
    for entry in entries:
        outcome = next((name for name in policy.OUTCOMES if entry["dst"] in found[name].get(entry["ifname"], {})), None)
        action = policy.repair(entry, outcome)
        if action:
            actions.append((action, entry))
    replaced, deleted = {}, {}
    if actions and not has_net_admin():
        raise errors.RunError(
            "permission denied: repairing neighbour entries needs CAP_NET_ADMIN; run the Salt minion as root"
        )
    order = {"replace": 0, "delete": 1, "restore": 2}
    try:
        with Writer(netns) as writer:
            for action, entry in sorted(actions, key=lambda pair: order[pair[0]]):
                key = (FAMILIES[entry["family"]], entry["ifindex"], entry["dst"])
                if action == "replace":
                    new = found["mismatch"][entry["ifname"]][entry["dst"]]["answered"][0]
                    writer.replace(*key, new, NUD_REACHABLE, entry["flags"])
                    policy.place(replaced, entry, {"old": entry["lladdr"], "new": new})
                elif action == "delete":
                    if writer.delete(*key):
                        policy.place(deleted, entry, entry["lladdr"])
                elif writer.lladdr(*key) not in (None, entry["lladdr"]):
                    writer.replace(*key, entry["lladdr"], NUD_STALE, entry["flags"])
    except (errors.KernelError, errors.RunError) as err:
        err.info = {"replaced": replaced, "deleted": deleted}
        raise
    return {"replaced": replaced, "deleted": deleted}


class Writer:
    """pyroute2's IPRoute in a namespace (never creating it), for the few single writes of a repair."""

    def __init__(self, netns=None):
        try:
            self.ipr = pyroute2.IPRoute(netns=netns, flags=0) if netns else pyroute2.IPRoute()
        except OSError as err:
            raise errors.KernelError(err.errno, "cannot open a netlink socket") from err

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.ipr.close()

    def _call(self, command, gone_is_fine=False, **request):
        doing = f"cannot {({'del': 'delete', 'get': 'read'}).get(command, command)} the entry for {request['dst']}"
        try:
            return self.ipr.neigh(command, **request)
        except NetlinkError as err:
            if gone_is_fine and err.code in (errno.ENOENT, errno.ENODEV):
                return None
            raise errors.KernelError(err.code, doing) from err
        except OSError as err:
            raise errors.KernelError(err.errno, doing) from err

    def replace(self, family, ifindex, dst, lladdr, state, flags):
        """Make the entry hold ``lladdr`` in ``state`` with the NTF_* ``flags`` (a list of flag names)."""
        bits = sum(bit for bit, name in FLAG_NAMES.items() if name in flags)
        self._call("replace", family=family, ifindex=ifindex, dst=dst, lladdr=lladdr, state=state, flags=bits)

    def delete(self, family, ifindex, dst):
        """Delete the entry; False if it was gone already."""
        return self._call("del", True, family=family, ifindex=ifindex, dst=dst) is not None

    def lladdr(self, family, ifindex, dst):
        """The MAC the entry holds now (None if it holds none, or is gone)."""
        found = self._call("get", True, family=family, ifindex=ifindex, dst=dst)
        return found[0].get("NDA_LLADDR") if found else None
