"""
The netlink listener of a storm's deletes (tests/integration/test_fleet.py):
a process of its own, one thread a database table's namespace, that writes
down when each neighbour entry went, and says when the kernel dropped
deletes it had for it.
"""

import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from tests.support import REPO

RTMGRP_NEIGH, RTM_DELNEIGH, NDA_DST = 0x4, 29, 1
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
NLMSG, NDMSG, RTA = struct.Struct("=IHHII"), struct.Struct("=BxxxiHBB"), struct.Struct("=HH")


def deleted(data):
    """The IPv4 destinations of the RTM_DELNEIGH messages in one netlink datagram."""
    found, offset = [], 0
    while offset + NLMSG.size <= len(data):
        length, kind, _, _, _ = NLMSG.unpack_from(data, offset)
        if length < NLMSG.size:
            break
        if kind == RTM_DELNEIGH:
            at, end = offset + NLMSG.size + NDMSG.size, offset + length
            while at + RTA.size <= end:
                size, rta_type = RTA.unpack_from(data, at)
                if size < RTA.size:
                    break
                if rta_type == NDA_DST and size == RTA.size + 4:
                    found.append(socket.inet_ntoa(data[at + RTA.size : at + size]))
                at += (size + 3) & ~3
        offset += (length + 3) & ~3
    return found


def listen(names):
    """
    The listener process (``python -m tests.support.deletes listen NS...``):
    one thread a namespace reads its neighbour deletes and prints "time ns
    address" for each, until SIGTERM.
    """
    import pyroute2.netns  # pylint: disable=import-outside-toplevel

    lock = threading.Lock()

    def read(name):
        sock = pyroute2.netns.create_socket(name, socket.AF_NETLINK, socket.SOCK_RAW, 0)
        # Past net.core.rmem_max (SO_RCVBUF stops there): a burst of deletes while this
        # process waits for a CPU must not overflow it.
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        sock.bind((0, RTMGRP_NEIGH))
        ready.release()
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError as err:  # ENOBUFS: the kernel dropped deletes it had for us; said so, read on
                with lock:
                    sys.stdout.write(f"{time.time():.6f} {name} overflow:{err.errno}\n")
                    sys.stdout.flush()
                continue
            now = time.time()
            lines = "".join(f"{now:.6f} {name} {address}\n" for address in deleted(data))
            with lock:
                sys.stdout.write(lines)
                sys.stdout.flush()

    ready = threading.Semaphore(0)
    for name in names:
        threading.Thread(target=read, args=(name,), daemon=True).start()
    for _ in names:
        ready.acquire()
    print("ready", flush=True)
    while True:  # until SIGTERM ends the process
        time.sleep(3600)


class Listener:
    """The listener process for ``tables``; :meth:`deletes` gives {(ns name, address): first delete time}."""

    def __init__(self, tables, output):
        self.output = output
        self.out = open(output, "w+", encoding="utf-8")  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tests.support.deletes", "listen", *(ns.name for ns in tables)],
            stdout=self.out,
            cwd=REPO,
        )
        end = time.monotonic() + 30
        while time.monotonic() < end:
            self.out.seek(0)
            if self.out.readline().strip() == "ready":
                return
            time.sleep(0.05)
        self.close()
        raise AssertionError("the netlink listener did not start within 30 s")

    def deletes(self):
        """{(ns name, address): first delete time}, and the times a namespace's socket overflowed [(ns name, time)]."""
        found, overflows = {}, []
        with open(self.output, encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) == 3 and parts[2].startswith("overflow:"):
                    overflows.append((parts[1], float(parts[0])))
                elif len(parts) == 3:
                    found.setdefault((parts[1], parts[2]), float(parts[0]))
        return found, overflows

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.out.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["listen"]:
        listen(sys.argv[2:])
