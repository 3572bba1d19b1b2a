"""
The neighbour table's entries in plain Python (no Salt): which a dump keeps
(:class:`Selection`), their decoding, one entry's lookup, and a flush's
deletes (:class:`FlushPlan`, :func:`delete`).

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory. Dumps are decoded here, not by pyroute2: a flush decodes whole
buffers column by column, a list each message with one unpack; both read the
one description of the usual RTM_NEWNEIGH message
(``_arp_hygiene_layouts.NEIGHBOUR_MESSAGE``).
"""

import array
import errno
import gc
import ipaddress
import itertools
import logging
import socket

import _arp_hygiene_errors as errors
import _arp_hygiene_policy as policy
from _arp_hygiene_layouts import (
    CACHEINFO,
    DELETE_REQUEST,
    NDA_CACHEINFO,
    NDA_DST,
    NDA_FLAGS_EXT,
    NDA_IFINDEX,
    NDA_LLADDR,
    NDA_PROBES,
    NDHEAD,
    NDMSG,
    NEIGHBOUR_MESSAGE,
    NOT_OWNED,
    NTF_EXT_MANAGED,
    OWNED_BITS,
    delete_request,
)
from _arp_hygiene_netlink import (
    ERRNO,
    FAMILIES,
    FAMILY_NAMES,
    FLAG_NAMES,
    HZ,
    NLATTR,
    NLMSG_HDR,
    NLMSG_HEAD,
    STATE_NAMES,
    U32,
    attributes,
    has_net_admin,
    raise_if_refused,
)
from pyroute2.netlink import NLMSG_DONE, NLMSG_ERROR
from pyroute2.netlink.rtnl import RTM_GETNEIGH, RTM_NEWNEIGH

log = logging.getLogger(__name__)


class Selection:
    """
    Which entries a dump keeps: ``family`` (AF_INET, AF_INET6 or AF_UNSPEC),
    ``states`` (NUD bits), ``ifindexes`` (a set, or None for every link),
    ``network`` and each of ``exclude`` as (ip_network, ifindex or None: an
    IPv6 scope), ``min_age`` (seconds since confirmed) and ``flushing``
    (leave out what a flush never touches: extern_learn and managed).
    """

    def __init__(self, family, states, ifindexes=None, network=None, exclude=(), min_age=0, flushing=False):
        self.family, self.states, self.ifindexes = family, set(states), ifindexes
        self.network, self.exclude, self.min_age, self.flushing = network, list(exclude), min_age, flushing
        # NUD state byte -> 1 if selected, for column decoding
        self.state_table = bytes(1 if value in self.states else 0 for value in range(256))

    def keeps_address(self, address, ifindex):
        """Is the address, on that link, inside ``network`` and outside every ``exclude``?"""
        return (self.network is None or _inside(address, ifindex, self.network)) and not any(
            _inside(address, ifindex, item) for item in self.exclude
        )


def _inside(address, ifindex, item):
    network, scope = item
    return address in network and (scope is None or scope == ifindex)


def age(ticks):
    """Clock ticks (USER_HZ) -> seconds."""
    return round(ticks / HZ, 2)


def entry_of(header, data, offset, length, ifnames):
    """The entry dict for the RTM_NEWNEIGH message at data[offset:], of any layout; ``header`` its ndmsg."""
    family, ifindex, state, flags = header
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
    for kind, value in attributes(data, offset + NLMSG_HDR.size + NDMSG.size, offset + length):
        if kind == NDA_DST:
            entry["dst"] = socket.inet_ntop(family, value)
        elif kind == NDA_LLADDR:
            entry["lladdr"] = value.hex(":") if value else None
        elif kind == NDA_CACHEINFO:
            confirmed, used, updated, _ = CACHEINFO.unpack_from(value)
            entry["confirmed"], entry["used"], entry["updated"] = age(confirmed), age(used), age(updated)
        elif kind == NDA_PROBES:
            entry["probes"] = U32.unpack_from(value)[0]
        elif kind == NDA_FLAGS_EXT and U32.unpack_from(value)[0] & NTF_EXT_MANAGED:
            entry["flags"].append("managed")
    return entry


def neighbour(sock, selection, ifnames, ifindex, address):
    """
    The entry for ``address`` (a string) on link ``ifindex``, if
    ``selection`` keeps it, else None: one lookup (RTM_GETNEIGH for one
    entry, Linux 5.0 and later), not a dump of the table. Where the kernel
    has no such lookup (it answers EOPNOTSUPP or EINVAL), a dump of the
    link's entries, for this and every later call on ``sock``.
    """
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    if sock.lookups:
        payload = NDMSG.pack(family, ifindex, 0, 0, 0) + NLATTR.pack(NLATTR.size + len(ip.packed), NDA_DST) + ip.packed
        data = sock.ask(RTM_GETNEIGH, payload)
        code = -ERRNO.unpack_from(data, NLMSG_HDR.size)[0] if NLMSG_HEAD.unpack_from(data, 0)[1] == NLMSG_ERROR else 0
        if code == errno.ENOENT:
            return None
        if code not in (errno.EOPNOTSUPP, errno.EINVAL):
            if code:
                raise errors.KernelError(code, f"cannot read the entry for {address}")
            entries = []
            decode_buffer(data, selection, ifnames, {}, entries)
            return entries[0] if entries else None
        sock.lookups = False
    narrowed = Selection(family, selection.states, {ifindex}, (ipaddress.ip_network(address), None))
    found = scan(sock, narrowed, ifnames)
    return found[0] if found else None


def scan(sock, selection, ifnames, plan=None):
    """
    The entries of the table that the selection keeps, in dump order: as
    entry dicts, or, for a flush (``plan``, a :class:`FlushPlan`), as
    interface names, addresses and MACs, with a delete request for each
    unless the plan is for a test run. ``ifnames``: a :class:`LinkNames`.

    This is the hot path at 100,000 entries. A flush decodes each dump buffer
    whose messages all have the usual layout column by column
    (:func:`choose_by_columns`), any other buffer message by message
    (:func:`decode_buffer`, which also serves ``list``): one unpack per
    message, ages shared per clock tick (a table's entries have few distinct
    ages, and a float costs 24 bytes). The cyclic garbage collector, which
    would walk the growing list of entries again and again, is paused
    (entries hold no cycles).
    """
    header = NDMSG.pack(selection.family, 0, 0, 0, 0)
    if selection.ifindexes is not None and sock.strict:
        # One dump per interface, filtered by the kernel.
        requests = [header + NLATTR.pack(8, NDA_IFINDEX) + U32.pack(index) for index in sorted(selection.ifindexes)]
    else:
        requests = [header]
    first_seq = sock.seq + len(requests) + 1  # of the first delete request
    # Column decoding knows no address or age filter.
    columns = plan is not None and not (selection.network or selection.exclude or selection.min_age)
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
                if columns and choose_by_columns(data, selection, ifnames, plan, first_seq):
                    continue
                if plan is None:
                    more = decode_buffer(data, selection, ifnames, ages, entries)
                    continue
                found = []
                more = decode_buffer(data, selection, ifnames, ages, found, plan, first_seq + plan.count)
                plan.add([e["ifname"] for e in found], [e["dst"] for e in found], [e["lladdr"] for e in found])
        return plan if plan is not None else entries
    finally:
        if collecting:
            gc.enable()


class FlushPlan:
    """
    The entries a flush chose, in dump order, as pieces of parallel lists:
    (interface name, or a list of one name per entry; addresses; MACs). With
    ``requests``, also their delete requests laid end to end in
    ``messages`` (the i-th starting at ``positions[i]``), ready for
    :meth:`Socket.delete`.
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

    def choose(self, entries, first_seq):
        """
        Add entry dicts (as :func:`scan` returns them) that a caller chose,
        with delete requests numbered from ``first_seq`` (the socket's
        ``seq + 1`` when it sends them next).
        """
        for entry in entries:
            if self.messages is not None:
                family = FAMILIES[entry["family"]]
                dst = socket.inet_pton(family, entry["dst"])
                self.positions.append(len(self.messages))
                self.messages += delete_request(family, entry["ifindex"], dst, first_seq + self.count)
            self.add([entry["ifname"]], [entry["dst"]], [entry["lladdr"]])

    def entries(self):
        """Yield (index, ifname, dst, lladdr) of every chosen entry."""
        index = 0
        for ifnames, dsts, lladdrs in self.pieces:
            names = ifnames if isinstance(ifnames, list) else [ifnames] * len(dsts)
            for ifname, dst, lladdr in zip(names, dsts, lladdrs, strict=True):
                yield index, ifname, dst, lladdr
                index += 1

    def outcome(self, failed=None):
        """
        ``{ifname: {dst: lladdr}}`` of the chosen entries whose index is not
        in ``failed`` ({index: errno}), that of those that failed with ENOENT
        or ENODEV (vanished: the entry, or its whole link, was gone first),
        and the other failures as [(ifname, dst, errno)].
        """
        done, vanished, refused = {}, {}, []
        if not failed:
            for ifnames, dsts, lladdrs in self.pieces:
                if isinstance(ifnames, list):
                    for ifname, dst, lladdr in zip(ifnames, dsts, lladdrs, strict=True):
                        done.setdefault(ifname, {})[dst] = lladdr
                else:
                    done.setdefault(ifnames, {}).update(zip(dsts, lladdrs, strict=True))
            return done, vanished, refused
        for index, ifname, dst, lladdr in self.entries():
            code = failed.get(index)
            if code is None:
                done.setdefault(ifname, {})[dst] = lladdr
            elif code in (errno.ENOENT, errno.ENODEV):  # gone first, or with its link
                vanished.setdefault(ifname, {})[dst] = lladdr
            else:
                refused.append((ifname, dst, code))
        return done, vanished, refused


def decode_buffer(data, selection, ifnames, ages, entries, plan=None, first_seq=0):
    """
    Decode one buffer of a neighbour dump into ``entries`` (and, with a
    ``plan`` that takes requests, a delete request for each, numbered from
    ``first_seq``); False once the dump is done.
    """
    states, flushing, ifindexes = selection.states, selection.flushing, selection.ifindexes
    by_address, min_age = selection.network is not None or selection.exclude, selection.min_age
    messages = plan.messages if plan is not None else None
    size = len(data)
    offset = 0
    while offset + NLMSG_HDR.size <= size:
        length, kind = NLMSG_HEAD.unpack_from(data, offset)
        if length < NLMSG_HDR.size or offset + length > size:
            raise errors.KernelError(errno.EBADMSG, "decoding the neighbour dump")
        step = (length + 3) & ~3
        if kind != RTM_NEWNEIGH:
            if kind == NLMSG_DONE:
                return False
            raise_if_refused(kind, data, offset)
            offset += step
            continue
        usual = NEIGHBOUR_MESSAGE.get(length)
        if usual:
            fields = usual.struct.unpack_from(data, offset)
            family, ifindex, state, flags, dst, lladdr, probes, confirmed, used, updated = usual.read(fields)
        else:
            family, ifindex, state, flags = NDHEAD.unpack_from(data, offset)
        if (
            state not in states
            or family not in FAMILY_NAMES
            or (ifindexes is not None and ifindex not in ifindexes)
            or (flushing and flags & OWNED_BITS)
        ):
            offset += step
            continue
        if usual and usual.header_fields(fields) == usual.headers:
            entry = {
                "dst": socket.inet_ntop(family, dst),
                "lladdr": lladdr.hex(":"),
                "ifname": ifnames[ifindex],
                "ifindex": ifindex,
                "family": FAMILY_NAMES[family],
                "state": STATE_NAMES[state],
                "flags": [name for bit, name in FLAG_NAMES.items() if bit & flags] if flags else [],
                "probes": probes,
                "confirmed": ages.get(confirmed) or ages.setdefault(confirmed, age(confirmed)),
                "used": ages.get(used) or ages.setdefault(used, age(used)),
                "updated": ages.get(updated) or ages.setdefault(updated, age(updated)),
            }
        else:
            entry = entry_of((family, ifindex, state, flags), data, offset, length, ifnames)
            if entry["dst"] is None or (flushing and policy.untouchable(entry)):
                offset += step
                continue
            dst = socket.inet_pton(family, entry["dst"])
        offset += step
        if by_address and not selection.keeps_address(ipaddress.ip_address(entry["dst"]), ifindex):
            continue
        if min_age and (entry["confirmed"] or 0) < min_age:
            continue
        if messages is not None:
            plan.positions.append(len(messages))
            messages += delete_request(family, ifindex, dst, first_seq + len(entries))
        entries.append(entry)
    return True


def _column(data, length, offset, width):
    """Bytes offset..offset+width of every message of ``data``, laid end to end."""
    out = bytearray(width * (len(data) // length))
    for index in range(width):
        out[index::width] = data[offset + index :: length]
    return out


def choose_by_columns(data, selection, ifnames, plan, first_seq):
    """
    For a flush: choose the entries of a dump buffer made only of
    RTM_NEWNEIGH messages in the usual layout of one length (every buffer of
    a large table but the last, as a rule), column by column: the byte at
    offset o of every message is data[o::length], one C-speed slice for the
    whole buffer. Adds them to ``plan`` with their delete requests (byte for
    byte those :func:`decode_buffer` builds). Returns False, having changed
    nothing, for any other buffer, and for entries on an interface that is
    not selected (kernels without strict checking dump every interface).
    """
    size = len(data)
    length = U32.unpack_from(data)[0] if size >= NLMSG_HDR.size else 0
    layout = NEIGHBOUR_MESSAGE.get(length)
    if layout is None or size % length:
        return False
    family, at = layout.family, layout.offset
    count = size // length
    if selection.family not in (socket.AF_UNSPEC, family):
        return False
    for offset, byte in layout.fixed:
        if data[offset::length].count(byte) != count:
            return False
    ifindexes = array.array("i", _column(data, length, at["ifindex"], 4))
    if selection.ifindexes is not None and not selection.ifindexes.issuperset(ifindexes):
        return False

    keep = data[at["state"] :: length].translate(selection.state_table)
    deletable = data[at["flags"] :: length].translate(NOT_OWNED)
    if deletable.count(0):
        keep = (int.from_bytes(keep, "little") & int.from_bytes(deletable, "little")).to_bytes(count, "little")
    selected = keep.count(1)
    if selected == 0:
        return True
    if selected < count:
        offsets = itertools.compress(range(0, size, length), keep)
        data = b"".join([data[offset : offset + length] for offset in offsets])
        ifindexes = array.array("i", _column(data, length, at["ifindex"], 4))
        count = selected

    if ifindexes.count(ifindexes[0]) == count:
        names = ifnames[ifindexes[0]]
    else:
        names = [ifnames[index] for index in ifindexes]
    addresses = _column(data, length, at["dst"], layout.address_size)
    if family == socket.AF_INET:
        dsts = (",".join(["%d.%d.%d.%d"] * count) % tuple(addresses)).split(",")
    else:
        addresses = bytes(addresses)
        dsts = [socket.inet_ntop(family, addresses[i : i + 16]) for i in range(0, 16 * count, 16)]
    macs = _column(data, length, at["lladdr"], 6).hex(":")
    lladdrs = [macs[i : i + 17] for i in range(0, 18 * count, 18)]

    if plan.messages is not None:
        # The request is the message's first bytes (header, ndmsg, NDA_DST):
        # delete_request()'s, with each entry's sequence number, and its
        # ifindex and address copied column by column.
        request = DELETE_REQUEST[family]
        step = request.length
        requests = bytearray(delete_request(family, 0, bytes(layout.address_size), 0) * count)
        first = first_seq + plan.count
        seqs = array.array("I", range(first, first + count)).tobytes()
        for index in range(4):
            requests[at["seq"] + index :: step] = seqs[index::4]
        copied = [*range(at["ifindex"], at["ifindex"] + 4), *range(at["dst"], step)]
        for offset in copied:
            requests[offset::step] = data[offset::length]
        start = len(plan.messages)
        plan.positions.extend(range(start, start + step * count, step))
        plan.messages += requests
    plan.add(names, dsts, lladdrs)
    return True


def delete(sock, plan):
    """
    Send the plan's delete requests, batched; ``{"deleted": ..., "vanished":
    ...}``, or raise :class:`RunError` with them and the failures.
    """
    if plan.count and not has_net_admin():
        raise errors.RunError(
            "permission denied: deleting neighbour entries needs CAP_NET_ADMIN; "
            "run the Salt minion as root. Nothing was deleted."
        )
    failed = sock.delete(plan.messages, plan.positions)
    plan.messages = None
    deleted, vanished, refused = plan.outcome(failed)
    count = policy.count(deleted), policy.count(vanished)
    log.info("arp: deleted %d neighbour entries, %d vanished first", *count)
    if refused:
        failures = {}
        for ifname, dst, code in refused:
            failures.setdefault(ifname, {})[dst] = errors.errno_text(code)
        raise errors.RunError(
            f"{len(refused)} of {plan.count} deletes failed ({plan.count - len(refused)} deleted or gone): "
            + "; ".join(f"{dst} on {ifname}: {errors.errno_text(code)}" for ifname, dst, code in refused[:10]),
            info={"deleted": deleted, "vanished": vanished, "failed": failures},
        )
    return {"deleted": deleted, "vanished": vanished}
