"""
rtnetlink's plain parts without a kernel: the kernel's numbers as pyroute2
names them, the header's field offsets, and link names.
"""

import socket

from tests.support import module_from_checkout

netlink = module_from_checkout("_arp_hygiene_netlink")


def test_the_kernels_numbers_come_from_pyroute2s_tables_as_linux_headers_have_them():
    # linux/if_link.h, linux/if_addr.h: the values the decoders compare with.
    assert (netlink.IFLA["IFLA_ADDRESS"], netlink.IFLA["IFLA_IFNAME"], netlink.IFLA["IFLA_AF_SPEC"]) == (1, 3, 26)
    assert (netlink.IFA["IFA_ADDRESS"], netlink.IFA["IFA_LOCAL"], netlink.IFA["IFA_FLAGS"]) == (1, 2, 8)
    assert netlink.numbers(((5, "A_FIVE", "none"), (9, "A_NINE", "none"))) == {"A_FIVE": 5, "A_NINE": 9}
    assert netlink.IFINFOMSG.size == 16 and netlink.IFADDRMSG.size == 8


def test_the_headers_flags_are_where_the_kernel_reads_them():
    header = netlink.NLMSG_HDR.pack(20, 28, 0x0305, 7, 0)
    assert netlink.NLMSG_FLAGS.unpack_from(header, netlink.NLMSG_FLAGS_AT) == (0x0305,)
    assert netlink.FAMILY_NAMES == {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}


def test_link_names_that_are_not_utf8_map_back_to_their_link():
    assert netlink.link_name(b"eth0") == "eth0"
    assert netlink.link_name(b"caf\xe9") == "caf\\xe9"
    assert netlink.link_name(b"a\\xe9") == "a\\\\xe9", "a real backslash is doubled: no name means two links"
