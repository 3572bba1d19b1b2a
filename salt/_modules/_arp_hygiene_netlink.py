"""
rtnetlink in plain Python (no Salt): the socket, the kernel's words and
numbers, and the namespace's links and addresses.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory (a name that starts with ``_`` is never loaded by Salt as a
module of its own, but is synced with ``_modules/``). Beside it: the neighbour
messages' layouts (``_arp_hygiene_layouts``), the table's entries and flush
deletes (``_arp_hygiene_neighbours``), verify's single writes
(``_arp_hygiene_writes``) and the errors (``_arp_hygiene_errors``).

One socket per call, one dump (one per interface when interfaces are chosen:
the kernel filters by NDA_IFINDEX under strict checking), and deletes sent
``BATCH`` to a ``send`` with no round trip per entry. pyroute2 names the
kernel's numbers (its message classes' attribute tables) and opens sockets
in named network namespaces; the messages are decoded here, not by pyroute2,
whose generic decoder costs about 100 microseconds an entry.
"""

import errno
import os
import socket
import struct
import threading

import _arp_hygiene_errors as errors
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
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_DADFAILED, IFA_F_TENTATIVE, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import flags as NTF_BITS
from pyroute2.netlink.rtnl.ndmsg import states as NUD_BITS


def numbers(nla_map):
    """{NAME: number} of a pyroute2 message class's attribute table (``nla_map``: in number order, or numbered)."""
    return {item[1] if len(item) == 3 else item[0]: item[0] if len(item) == 3 else n for n, item in enumerate(nla_map)}


# NUD state names (the policy's) -> bits (pyroute2's).
NUD_STATES = {name: NUD_BITS[name] for name in policy.NUD_NAMES}
STATE_NAMES = {bit: name for name, bit in NUD_BITS.items()}
# iproute2's word for NTF_EXT_LEARNED, the one operators see in `ip neigh`.
FLAG_NAMES = {bit: ("extern_learn" if name == "ext_learned" else name) for name, bit in NTF_BITS.items()}
# The address families by name (the policy's), as the functions take them: their socket numbers.
FAMILIES = {**{name: getattr(socket, f"AF_{name.upper()}") for name in policy.FAMILIES}, "all": socket.AF_UNSPEC}
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

# struct nlmsghdr, and struct nlattr (len, type) before each attribute's value.
NLMSGHDR_FIELDS = (("length", "I"), ("type", "H"), ("nlmsg_flags", "H"), ("seq", "I"), ("pid", "I"))


def fields_struct(fields, prefix=""):
    """The struct of (name, format) ``fields`` (a name None for padding), after ``prefix`` (a format)."""
    return struct.Struct("=" + prefix + "".join(fmt for _, fmt in fields))


def offset_of(fields, name):
    """The byte offset of field ``name`` among ``fields``."""
    position = 0
    for field, fmt in fields:
        if field == name:
            return position
        position += struct.calcsize("=" + fmt)
    raise KeyError(name)


NLMSG_HDR = fields_struct(NLMSGHDR_FIELDS)
NLMSG_HEAD = fields_struct(NLMSGHDR_FIELDS[:2])  # length, type
NLMSG_FLAGS = fields_struct(NLMSGHDR_FIELDS[2:3])
NLMSG_FLAGS_AT = offset_of(NLMSGHDR_FIELDS, "nlmsg_flags")
NLATTR = struct.Struct("=HH")
U32 = struct.Struct("=I")
U64 = struct.Struct("=Q")
ERRNO = struct.Struct("=i")
# Links and their addresses: struct ifinfomsg and struct ifaddrmsg (pyroute2's
# fields, its padding named "__..."), then attributes.
IFINFOMSG = fields_struct(ifinfmsg.fields)  # family, type, index, flags, change
IFADDRMSG = fields_struct(ifaddrmsg.fields)  # family, prefix length, flags, scope, index
IFLA = numbers(ifinfmsg.nla_map)
IFA = numbers(ifaddrmsg.nla_map)
# IFLA_AF_SPEC > AF_INET > IFLA_INET_CONF: the interface's net.ipv4.conf
# values, a u32 each, the n-th for IPV4_DEVCONF_* n + 1 (linux/ip.h; not in pyroute2).
IFLA_INET_CONF = 1
INET_CONF = {"arp_accept": 21, "arp_notify": 22}
ARPHRD_ETHER = 1
LINK_TYPES = {1: "ether", 772: "loopback", 768: "ipip", 776: "sit", 778: "gre", 65534: "none (tun, wireguard)"}


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
            raise errors.KernelError(err.errno, "cannot open a netlink socket") from err
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
        if isinstance(err, OSError) and not isinstance(err, errors.KernelError):
            raise errors.KernelError(err.errno, "netlink failed") from err

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
                    raise errors.KernelError(errno.EBADMSG, "decoding a netlink dump")
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
            NLMSG_FLAGS.pack_into(messages, positions[end - 1] + NLMSG_FLAGS_AT, NLM_F_REQUEST | NLM_F_ACK)
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
        raise errors.KernelError(-code, "the kernel refused the dump")


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
            if kind_ == IFLA["IFLA_IFNAME"]:
                link["ifname"] = link_name(value.rstrip(b"\0"))
            elif kind_ == IFLA["IFLA_ADDRESS"]:
                link["mac"] = bytes(value)
            elif kind_ == IFLA["IFLA_AF_SPEC"] and conf:
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
            if kind_ == IFA["IFA_LOCAL"]:
                local = value
            elif kind_ == IFA["IFA_ADDRESS"]:
                address = value
            elif kind_ == IFA["IFA_FLAGS"]:
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
