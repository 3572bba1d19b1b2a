"""
The kernel's neighbour table over rtnetlink, in plain Python (no Salt).

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory (a name that starts with ``_`` is never loaded by Salt as a
module of its own, but is synced with ``_modules/``).

One socket per call, one dump (one per interface when interfaces are chosen:
the kernel filters by NDA_IFINDEX under strict checking), and deletes sent
``BATCH`` to a ``send`` with no round trip per entry. Dumps are decoded here,
not by pyroute2, whose generic decoder costs about 100 microseconds an entry:
a flush decodes whole buffers column by column, a list each message with one
unpack; both read the one description of the usual RTM_NEWNEIGH message
below (:data:`NEIGHBOUR_MESSAGE`). pyroute2 opens sockets in named network
namespaces and makes the few single writes of a repair.

Errors are :class:`KernelError` (an ``OSError`` that says what failed);
the caller words them for its users.
"""

import array
import errno
import gc
import ipaddress
import itertools
import logging
import os
import socket
import struct
import threading
from operator import itemgetter

import _arp_hygiene_policy as policy
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
from pyroute2.netlink.rtnl.ndmsg import flags as NTF_BITS
from pyroute2.netlink.rtnl.ndmsg import states as NUD_BITS

log = logging.getLogger(__name__)

# NUD state names -> bits (incomplete reachable stale delay probe failed noarp permanent none).
NUD_STATES = dict(NUD_BITS)
STATE_NAMES = {bit: name for name, bit in NUD_BITS.items()}
# iproute2's word for NTF_EXT_LEARNED, the one operators see in `ip neigh`.
FLAG_NAMES = {bit: ("extern_learn" if name == "ext_learned" else name) for name, bit in NTF_BITS.items()}
# The address families by name, as the functions take them and entries show them.
FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "all": socket.AF_UNSPEC}
FAMILY_NAMES = {number: name for name, number in FAMILIES.items() if number != socket.AF_UNSPEC}
NUD_REACHABLE, NUD_STALE = NUD_BITS["reachable"], NUD_BITS["stale"]

# Not in pyroute2: errors then echo only the failed message's header; and
# strict checking, under which the kernel filters a dump by NDA_IFINDEX.
NETLINK_CAP_ACK = 10
NETLINK_GET_STRICT_CHK = 12
CAP_NET_ADMIN = 12
# Deletes per send(2). The kernel handles a whole buffer in the sender's
# context; only failures and the last message of a batch are answered.
BATCH = 512
HZ = os.sysconf("SC_CLK_TCK")

NLMSG_FLAGS = struct.Struct("=H")
NLATTR = struct.Struct("=HH")  # struct nlattr: len, type
U32 = struct.Struct("=I")
ERRNO = struct.Struct("=i")
# Links and their addresses (struct ifinfomsg, struct ifaddrmsg and attributes).
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
IFLA_ADDRESS, IFLA_IFNAME, IFLA_AF_SPEC = 1, 3, 26
# IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF: the interface's net.ipv4.conf
# values, a u32 each, the n-th for IPV4_DEVCONF_* n + 1 (linux/ip.h).
IFLA_INET_CONF = 1
INET_CONF = {"arp_accept": 21, "arp_notify": 22}
IFF_UP = 0x1
ARPHRD_ETHER = 1
LINK_TYPES = {1: "ether", 772: "loopback", 768: "ipip", 776: "sit", 778: "gre", 65534: "none (tun, wireguard)"}
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40

# ------------------------------------------------------------ RTM_NEWNEIGH
#
# linux/neighbour.h and net/core/neighbour.c. A message is struct nlmsghdr,
# struct ndmsg, then attributes (struct nlattr, value, padding to 4 bytes).
NDA_DST, NDA_LLADDR, NDA_CACHEINFO, NDA_PROBES, NDA_IFINDEX = 1, 2, 3, 4, 8
# NDA_FLAGS_EXT (Linux 5.16): NTF_EXT_MANAGED marks an entry the administrator
# asked the kernel to keep resolved (`ip neigh add ... managed`): configuration.
NDA_FLAGS_EXT, NTF_EXT_MANAGED = 15, 0x1

NLMSGHDR_FIELDS = (("length", "I"), ("type", "H"), ("nlmsg_flags", "H"), ("seq", "I"), ("pid", "I"))
# struct ndmsg { __u8 ndm_family; __u8 ndm_pad1; __u16 ndm_pad2; __s32 ndm_ifindex;
#                __u16 ndm_state; __u8 ndm_flags; __u8 ndm_type; };
NDMSG_FIELDS = (("family", "B"), (None, "3x"), ("ifindex", "i"), ("state", "H"), ("flags", "B"), ("ndm_type", "B"))


def _struct(fields, prefix=""):
    return struct.Struct("=" + prefix + "".join(fmt for _, fmt in fields))


NLMSG_HDR = _struct(NLMSGHDR_FIELDS)
NLMSG_HEAD = _struct(NLMSGHDR_FIELDS[:2])  # length, type
NDMSG = _struct(NDMSG_FIELDS)
# family, ifindex, state, flags of any RTM_NEWNEIGH message, from its start.
NDHEAD = _struct(NDMSG_FIELDS[:-1], prefix=f"{NLMSG_HDR.size}x")
# The attributes neigh_fill_info() gives nearly every entry that holds a MAC,
# in its order: (type, value fields). "{address}" is 4 or 16 bytes.
# struct nda_cacheinfo { __u32 ndm_confirmed; __u32 ndm_used; __u32 ndm_updated; __u32 ndm_refcnt; }
# (ages in clock ticks).
USUAL_ATTRIBUTES = (
    (NDA_DST, (("dst", "{address}s"),)),
    (NDA_LLADDR, (("lladdr", "6s"), (None, "2x"))),
    (NDA_PROBES, (("probes", "I"),)),
    (NDA_CACHEINFO, (("confirmed", "I"), ("used", "I"), ("updated", "I"), ("refcnt", "I"))),
)


class MessageLayout:
    """
    A neighbour message of ``msg_type`` and ``family``: struct nlmsghdr,
    struct ndmsg, then ``attributes`` ((type, value fields) pairs, as in
    USUAL_ATTRIBUTES) in that order. Holds its ``struct``, ``length``, each
    named field's ``index`` in the unpacked tuple and byte ``offset``,
    ``read`` (the entry's fields out of an unpacked tuple), the attribute
    headers (``header_fields`` of a tuple must equal ``headers``), and
    ``fixed``: the (offset, byte) pairs every such message holds (length,
    type, family, the high byte of the state, the attribute headers).
    """

    def __init__(self, msg_type, family, address_size, attributes):
        fields = list(NLMSGHDR_FIELDS + NDMSG_FIELDS)
        headers = []  # (field name of the attribute's length, its length, type)
        for kind, value_fields in attributes:
            name = f"nda{kind}"
            value_fields = [(field, fmt.format(address=address_size)) for field, fmt in value_fields]
            # nla_len counts the value, not the padding that aligns the next attribute.
            size = NLATTR.size + struct.calcsize("=" + "".join(fmt for field, fmt in value_fields if field))
            fields += [(f"{name}_len", "H"), (f"{name}_type", "H"), *value_fields]
            headers.append((f"{name}_len", size, f"{name}_type", kind))
        self.struct = struct.Struct("=" + "".join(fmt for _, fmt in fields))
        self.length = self.struct.size
        self.family = family
        self.address_size = address_size
        self.index, self.offset = {}, {}
        position = 0
        for name, fmt in fields:
            if name is not None:
                self.index[name] = len(self.index)
                self.offset[name] = position
            position += struct.calcsize("=" + fmt)
        # Attribute headers: (len, type) pairs the one-unpack decoder compares.
        self.header_fields = itemgetter(*[self.index[f] for h in headers for f in (h[0], h[2])])
        self.headers = tuple(v for h in headers for v in (h[1], h[3]))
        fixed = [
            (self.offset["length"], U32.pack(self.length)),
            (self.offset["type"], NLMSG_FLAGS.pack(msg_type)),
            (self.offset["family"], bytes([family])),
            (self.offset["state"] + 1, b"\0"),
        ]
        fixed += [(self.offset[length_field], NLATTR.pack(size, kind)) for length_field, size, _, kind in headers]
        self.fixed = [(at + i, byte) for at, value in fixed for i, byte in enumerate(value)]
        # What the one-unpack decoder reads of the unpacked tuple.
        named = [
            name
            for name in (
                "family",
                "ifindex",
                "state",
                "flags",
                "dst",
                "lladdr",
                "probes",
                "confirmed",
                "used",
                "updated",
            )
            if name in self.index
        ]
        self.read = itemgetter(*[self.index[name] for name in named])


def _layouts():
    """The usual RTM_NEWNEIGH of each family, and the RTM_DELNEIGH request (header, ndmsg, NDA_DST) of each."""
    usual, delete = {}, {}
    for family, size in ((socket.AF_INET, 4), (socket.AF_INET6, 16)):
        layout = MessageLayout(RTM_NEWNEIGH, family, size, USUAL_ATTRIBUTES)
        usual[layout.length] = layout
        delete[family] = MessageLayout(RTM_DELNEIGH, family, size, USUAL_ATTRIBUTES[:1])
    return usual, delete


NEIGHBOUR_MESSAGE, DELETE_REQUEST = _layouts()
# The ndm_flags bits of entries that nothing here touches (extern_learn: the
# policy's OWNED_FLAGS; managed is an NDA_FLAGS_EXT bit, decoded per message).
OWNED_BITS = sum(bit for bit, name in FLAG_NAMES.items() if name in policy.OWNED_FLAGS)
# ndm_flags byte -> 1 where a flush may delete the entry.
NOT_OWNED = bytes(0 if value & OWNED_BITS else 1 for value in range(256))


def delete_request(family, ifindex, dst, seq):
    """The RTM_DELNEIGH request for an entry (``dst``: the address's bytes), numbered ``seq``."""
    request = DELETE_REQUEST[family].struct
    return request.pack(
        request.size,
        RTM_DELNEIGH,
        NLM_F_REQUEST,
        seq,
        0,
        family,
        ifindex,
        0,
        0,
        0,
        len(dst) + NLATTR.size,
        NDA_DST,
        dst,
    )


class KernelError(OSError):
    """A netlink request failed: ``errno`` says why (None for a timeout), ``doing`` what was asked."""

    def __init__(self, code, doing):
        super().__init__(code, os.strerror(code) if code else "timed out")
        self.doing = doing


class RunError(Exception):
    """A run that cannot go on, or failed partway: the message says why, ``info`` what was changed before."""

    def __init__(self, message, info=None):
        super().__init__(message)
        self.info = info


def errno_text(code):
    """An errno in words; a refusal for want of privilege says which."""
    if code in (errno.EPERM, errno.EACCES):
        return (
            f"{os.strerror(code)} ({errno.errorcode[code]}): changing the neighbour table needs CAP_NET_ADMIN; "
            "run the Salt minion as root"
        )
    return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})" if code else "timed out"


def namespaces():
    """The named network namespaces (``ip netns list``)."""
    return pyroute2.netns.listnetns()


def has_net_admin():
    """Does this process hold CAP_NET_ADMIN (in its user namespace)?"""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def socket_in(netns, family, kind, proto):
    """
    A socket opened in the named network namespace ``netns`` (which must
    exist), or in this process's when it is None. A thread of its own enters
    the namespace (pyroute2's setns: setns(2) moves only the calling thread)
    and opens it; the socket stays in that namespace, the thread ends with
    its own. pyroute2's create_socket forks a process for it instead: 7.5 ms
    a socket in a small process, more in a minion's.
    """
    if netns is None:
        return socket.socket(family, kind, proto)
    made = {}

    def enter_and_open():
        try:
            pyroute2.netns.setns(netns, flags=0)
            made["socket"] = socket.socket(family, kind, proto)
        except BaseException as err:  # pylint: disable=broad-except  (raised below, in the caller's thread)
            made["error"] = err

    thread = threading.Thread(target=enter_and_open, name="arp-hygiene-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["socket"]


class Socket:
    """A bound rtnetlink socket, in a named namespace (:func:`socket_in`) or in this process's."""

    def __init__(self, netns=None):
        self.netns = netns
        try:
            self.sock = socket_in(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            self.sock.settimeout(60)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.bind((0, 0))
        except OSError as err:
            raise KernelError(err.errno, "cannot open a netlink socket") from err
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            self.strict = True
        except OSError:  # kernels before 4.20: filter in user space only
            self.strict = False
        self.lookups = True  # the kernel answers RTM_GETNEIGH for one entry (neighbour); False once it refused
        self.seq = 0
        self.buf = bytearray(1 << 16)
        self.view = memoryview(self.buf)

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        self.sock.close()
        if isinstance(err, OSError) and not isinstance(err, KernelError):
            raise KernelError(err.errno, "netlink failed") from err

    def request(self, msg_type, payload):
        """Start a dump."""
        self.seq += 1
        header = NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
        self.sock.send(header + payload)

    def receive(self):
        """The next buffer of a dump, as bytes."""
        return bytes(self.view[: self.sock.recv_into(self.buf)])

    def ask(self, msg_type, payload):
        """One request that is not a dump: the buffer of its answer (the message, or the kernel's error)."""
        self.seq += 1
        self.sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), msg_type, NLM_F_REQUEST, self.seq, 0) + payload)
        return self.receive()

    def dump(self, msg_type, payload):
        """Yield (type, data, offset, length) for each message of a dump."""
        self.request(msg_type, payload)
        while True:
            data = self.receive()
            offset = 0
            while offset + NLMSG_HDR.size <= len(data):
                length, kind = NLMSG_HDR.unpack_from(data, offset)[:2]
                if length < NLMSG_HDR.size or offset + length > len(data):
                    raise KernelError(errno.EBADMSG, "decoding a netlink dump")
                if kind == NLMSG_DONE:
                    return
                raise_if_refused(kind, data, offset)
                yield kind, data, offset, length
                offset += (length + 3) & ~3

    def delete(self, messages, positions):
        """
        Send the delete requests laid end to end in the bytearray
        ``messages`` (the i-th at ``positions[i]``, sequence number
        ``first_seq + i``, see :class:`FlushPlan`), ``BATCH`` to a ``send``.
        Only the last of a batch is made to ask for an ack; failures are
        answered anyway. Returns ``{index: errno}`` for the requests that
        failed.
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


def raise_if_refused(kind, data, offset):
    """Raise KernelError if a dump's message is the kernel's error."""
    if kind == NLMSG_ERROR:
        (code,) = ERRNO.unpack_from(data, offset + NLMSG_HDR.size)
        raise KernelError(-code, "the kernel refused the dump")


def attributes(data, offset, end):
    """Yield (type, payload) of the netlink attributes in data[offset:end]."""
    while offset + NLATTR.size <= end:
        length, kind = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size:
            return
        yield kind & 0x3FFF, data[offset + NLATTR.size : offset + length]
        offset += (length + 3) & ~3


# ------------------------------------------------------------------ links


def link_name(raw):
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


def read_links(sock, addresses=False, conf=False):
    """
    {ifindex: {index, ifname, mac, type, up, addresses, inet_conf}} of the
    namespace, ``addresses`` (with ``addresses=True``) as [(family, address,
    prefix length)] of the addresses that are not tentative or failed DAD,
    ``inet_conf`` (with ``conf=True``) as INET_CONF's values.
    """
    links = {}
    for kind, data, offset, length in sock.dump(RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if kind != RTM_NEWLINK:
            continue
        _, link_type, index, flags, _ = IFINFOMSG.unpack_from(data, offset + NLMSG_HDR.size)
        link = {
            "index": index,
            "ifname": None,
            "mac": None,
            "type": link_type,
            "up": bool(flags & IFF_UP),
            "addresses": [],
            "inet_conf": {},
        }
        for kind_, value in attributes(data, offset + NLMSG_HDR.size + IFINFOMSG.size, offset + length):
            if kind_ == IFLA_IFNAME:
                link["ifname"] = link_name(value.rstrip(b"\0"))
            elif kind_ == IFLA_ADDRESS:
                link["mac"] = bytes(value)
            elif kind_ == IFLA_AF_SPEC and conf:
                link["inet_conf"] = _inet_conf(value)
        links[index] = link
    if not addresses:
        return links
    for kind, data, offset, length in sock.dump(RTM_GETADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
        if kind != RTM_NEWADDR:
            continue
        family, prefix, flags, _, index = IFADDRMSG.unpack_from(data, offset + NLMSG_HDR.size)
        local = address = None
        for kind_, value in attributes(data, offset + NLMSG_HDR.size + IFADDRMSG.size, offset + length):
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


def _inet_conf(af_spec):
    """{name: value} of INET_CONF from a link's IFLA_AF_SPEC ({} for a link without IPv4)."""
    for family, nested in attributes(af_spec, 0, len(af_spec)):
        if family != socket.AF_INET:
            continue
        for kind, conf in attributes(nested, 0, len(nested)):
            if kind == IFLA_INET_CONF:
                return {
                    name: U32.unpack_from(conf, (number - 1) * U32.size)[0]
                    for name, number in INET_CONF.items()
                    if number * U32.size <= len(conf)
                }
    return {}


# The neighbour table's parameters (RTM_GETNEIGHTBL: struct ndtmsg, then
# attributes; linux/neighbour.h): one message for the table, one for each
# interface of the namespace, its NDTA_PARMS nested.
RTM_GETNEIGHTBL, RTM_NEWNEIGHTBL = 66, 64
NDTMSG = struct.Struct("=B3x")
NDTA_PARMS, NDTPA_IFINDEX = 6, 1
U64 = struct.Struct("=Q")
# NDTPA_* -> the sysctl of net.ipv4|ipv6.neigh.<interface> it is, and the
# unit the sysctl shows (the kernel sends milliseconds).
NEIGH_PARMS = {
    4: ("base_reachable_time_ms", 1),
    5: ("retrans_time_ms", 1),
    6: ("gc_stale_time", 1000),
    7: ("delay_first_probe_time", 1000),
    9: ("app_solicit", None),
    10: ("ucast_solicit", None),
    11: ("mcast_solicit", None),
    16: ("unres_qlen_bytes", None),
}


def neighbour_parameters(sock, family):
    """
    {ifindex: {sysctl name: value}} of the family's neighbour table for each
    interface of the namespace: the NUD timers in force (NEIGH_PARMS), as
    ``net.ipv4|ipv6.neigh.<interface>.*`` shows them.
    """
    found = {}
    for kind, data, offset, length in sock.dump(RTM_GETNEIGHTBL, NDTMSG.pack(family)):
        if kind != RTM_NEWNEIGHTBL or data[offset + NLMSG_HDR.size] != family:
            continue
        for kind_, parms in attributes(data, offset + NLMSG_HDR.size + NDTMSG.size, offset + length):
            if kind_ != NDTA_PARMS:
                continue
            values, index = {}, None
            for number, value in attributes(parms, 0, len(parms)):
                if number == NDTPA_IFINDEX:
                    index = U32.unpack_from(value)[0]
                elif number in NEIGH_PARMS:
                    name, unit = NEIGH_PARMS[number]
                    raw = (U64 if len(value) == U64.size else U32).unpack_from(value)[0]
                    values[name] = raw // unit if unit else raw
            if index:
                found[index] = values
    return found


def link_type(link):
    """The link's type in words (``ether``, ``loopback``...)."""
    return LINK_TYPES.get(link["type"], f"type {link['type']}")


def is_ethernet(link):
    """Can the link speak ARP and neighbour discovery (Ethernet, with a MAC)?"""
    return link["type"] == ARPHRD_ETHER and bool(link["mac"])


class LinkNames(dict):
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
            with Socket(self.netns) as sock:
                self.update((number, link["ifname"]) for number, link in read_links(sock).items())
            if index in self:
                return self[index]
        return f"(ifindex {index})"


# ---------------------------------------------------------------- entries


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
            confirmed, used, updated, _ = struct.unpack_from("=IIII", value)
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
                raise KernelError(code, f"cannot read the entry for {address}")
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
        done, vanished, errors = {}, {}, []
        if not failed:
            for ifnames, dsts, lladdrs in self.pieces:
                if isinstance(ifnames, list):
                    for ifname, dst, lladdr in zip(ifnames, dsts, lladdrs, strict=True):
                        done.setdefault(ifname, {})[dst] = lladdr
                else:
                    done.setdefault(ifnames, {}).update(zip(dsts, lladdrs, strict=True))
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
            raise KernelError(errno.EBADMSG, "decoding the neighbour dump")
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
        raise RunError(
            "permission denied: deleting neighbour entries needs CAP_NET_ADMIN; "
            "run the Salt minion as root. Nothing was deleted."
        )
    failed = sock.delete(plan.messages, plan.positions)
    plan.messages = None
    deleted, vanished, errors = plan.outcome(failed)
    count = policy.count(deleted), policy.count(vanished)
    log.info("arp: deleted %d neighbour entries, %d vanished first", *count)
    if errors:
        failures = {}
        for ifname, dst, code in errors:
            failures.setdefault(ifname, {})[dst] = errno_text(code)
        raise RunError(
            f"{len(errors)} of {plan.count} deletes failed ({plan.count - len(errors)} deleted or gone): "
            + "; ".join(f"{dst} on {ifname}: {errno_text(code)}" for ifname, dst, code in errors[:10]),
            info={"deleted": deleted, "vanished": vanished, "failed": failures},
        )
    return {"deleted": deleted, "vanished": vanished}


# ----------------------------------------------------------- single writes


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
        raise RunError(
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
    except (KernelError, RunError) as err:
        err.info = {"replaced": replaced, "deleted": deleted}
        raise
    return {"replaced": replaced, "deleted": deleted}


class Writer:
    """pyroute2's IPRoute in a namespace (never creating it), for the few single writes of a repair."""

    def __init__(self, netns=None):
        try:
            self.ipr = pyroute2.IPRoute(netns=netns, flags=0) if netns else pyroute2.IPRoute()
        except OSError as err:
            raise KernelError(err.errno, "cannot open a netlink socket") from err

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
            raise KernelError(err.code, doing) from err
        except OSError as err:
            raise KernelError(err.errno, doing) from err

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
