"""
The neighbour messages' layouts, in plain Python (no Salt): RTM_NEWNEIGH as
the kernel sends it and RTM_DELNEIGH as the flush sends it, each described
once here; the decoders and the delete requests of ``_arp_hygiene_neighbours``
take their offsets and formats from these descriptions.

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory.

linux/neighbour.h and net/core/neighbour.c. A message is struct nlmsghdr,
struct ndmsg, then attributes (struct nlattr, value, padding to 4 bytes).
"""

import socket
import struct
from operator import itemgetter

import _arp_hygiene_netlink as netlink
import _arp_hygiene_policy as policy
from _arp_hygiene_netlink import NLATTR, NLMSG_FLAGS, NLMSG_HDR, NLMSGHDR_FIELDS, U32, fields_struct
from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELNEIGH, RTM_NEWNEIGH
from pyroute2.netlink.rtnl.ndmsg import ndmsg

NDA = netlink.numbers(ndmsg.nla_map)
NDA_DST, NDA_LLADDR, NDA_CACHEINFO = NDA["NDA_DST"], NDA["NDA_LLADDR"], NDA["NDA_CACHEINFO"]
NDA_PROBES, NDA_IFINDEX, NDA_FLAGS_EXT = NDA["NDA_PROBES"], NDA["NDA_IFINDEX"], NDA["NDA_FLAGS_EXT"]
# NDA_FLAGS_EXT (Linux 5.16): NTF_EXT_MANAGED marks an entry the administrator
# asked the kernel to keep resolved (`ip neigh add ... managed`): configuration.
# Not in pyroute2.
NTF_EXT_MANAGED = 0x1

# struct ndmsg { __u8 ndm_family; __u8 ndm_pad1; __u16 ndm_pad2; __s32 ndm_ifindex;
#                __u16 ndm_state; __u8 ndm_flags; __u8 ndm_type; }, as pyroute2 lays it out.
NDMSG_FIELDS = tuple((None if name.startswith("__") else name, fmt) for name, fmt in ndmsg.fields)
NDMSG = fields_struct(NDMSG_FIELDS)
# family, ifindex, state, flags of any RTM_NEWNEIGH message, from its start.
NDHEAD = fields_struct(NDMSG_FIELDS[:-1], prefix=f"{NLMSG_HDR.size}x")

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
# NDA_CACHEINFO's value alone, for a message decoded attribute by attribute.
CACHEINFO = fields_struct(dict(USUAL_ATTRIBUTES)[NDA_CACHEINFO])


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
        self.struct = fields_struct(fields)
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
OWNED_BITS = sum(bit for bit, name in netlink.FLAG_NAMES.items() if name in policy.OWNED_FLAGS)
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
