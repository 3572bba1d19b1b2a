"""
The helpers' errors, in plain Python (no Salt): the one home of each, which
the ``arp`` execution module turns into Salt's (its ``_salt_errors``).

Part of arp-hygiene's ``arp`` execution module, which loads this file from its
own directory.
"""

import errno
import os


class ArgumentError(ValueError):
    """A bad argument: the message says which, what it was and what is allowed."""


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


class PacketError(OSError):
    """Opening, or sending or reading on, a packet socket failed: ``errno`` says why, ``ifname`` where."""

    def __init__(self, code, ifname, doing):
        super().__init__(code, os.strerror(code) if code else doing)
        self.ifname = ifname
        self.doing = doing

    def words(self, where):
        """The error in words, ``where`` naming the namespace; a refusal for want of privilege says which."""
        if self.errno in (errno.EPERM, errno.EACCES):
            why = "permission denied: ARP and neighbour discovery need CAP_NET_RAW; run the Salt minion as root"
        else:
            why = errno_text(self.errno)
        on = f" on {self.ifname!r}" if self.ifname else ""
        return f"{self.doing}{on} in {where}: {why}"


def errno_text(code):
    """An errno in words; a refusal for want of privilege says which."""
    if code in (errno.EPERM, errno.EACCES):
        return (
            f"{os.strerror(code)} ({errno.errorcode[code]}): changing the neighbour table needs CAP_NET_ADMIN; "
            "run the Salt minion as root"
        )
    return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})" if code else "timed out"
