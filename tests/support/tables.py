"""Neighbour tables for tests: read by ip(8), a table with every NUD state, and the oracle of what a selection picks."""

import ipaddress


def snapshot(ns):
    """{(dst, dev): (lladdr, state, flags)} of a namespace's table, read by ip(8)."""
    table = {}
    for entry in ns.neighbours():
        if ipaddress.ip_address(entry["dst"]).is_multicast:
            continue  # the kernel's own IPv6 multicast entries come and go
        flags = tuple(sorted(key for key in ("router", "extern_learn") if key in entry))
        state = entry["state"][0].lower() if entry.get("state") else "none"
        table[(entry["dst"], entry["dev"])] = (entry.get("lladdr"), state, flags)
    return table


def without_collected(expected, table):
    """
    ``expected`` (a snapshot) less its FAILED entries that ``table`` (a
    snapshot, or keys) no longer holds: above gc_thresh1 (the kernel's table
    is every namespace's: a busy host's) the kernel's periodic garbage
    collection takes FAILED entries at once, whatever this namespace's
    timers. A test compares what the kernel leaves it.
    """
    return {key: value for key, value in expected.items() if value[1] != "failed" or key in table}


STATES = ("stale", "reachable", "delay", "probe", "failed", "incomplete", "permanent", "noarp", "none")
WITHOUT_LLADDR = ("failed", "incomplete", "none")
SIDES = (("a0", "192.0.2.", "2001:db8:a::"), ("b0", "198.51.100.", "2001:db8:b::"))


def every_state():
    entries = []
    for side, (ifname, v4, v6) in enumerate(SIDES):
        for number, state in enumerate(STATES, start=10):
            lladdr = None if state in WITHOUT_LLADDR else f"02:00:00:{side:02x}:00:{number:02x}"
            for dst in (f"{v4}{number}", f"{v6}{number:x}"):
                entries.append({"dst": dst, "ifname": ifname, "state": state, "lladdr": lladdr})
        # A routing daemon's entry, and an IPv6 router.
        for dst in (f"{v4}50", f"{v6}50"):
            entries.append(
                {
                    "dst": dst,
                    "ifname": ifname,
                    "state": "stale",
                    "lladdr": "02:00:00:00:00:50",
                    "flags": ["extern_learn"],
                }
            )
        entries.append(
            {"dst": f"{v6}51", "ifname": ifname, "state": "stale", "lladdr": "02:00:00:00:00:51", "flags": ["router"]}
        )
    return entries


LEARNED = ("incomplete", "reachable", "stale", "delay", "probe", "failed", "none")


def matches(key, value, interfaces=None, states=("stale",), family="inet", network=None, exclude=()):
    """The oracle: does a selection pick this entry (as snapshot() keys and values it)?"""
    dst, dev = key
    _, state, flags = value
    address = ipaddress.ip_address(dst)
    return (
        (interfaces is None or dev in interfaces)
        and state in states
        and "extern_learn" not in flags
        and (family == "all" or address.version == (4 if family == "inet" else 6))
        and (network is None or address in ipaddress.ip_network(network))
        and not any(address in ipaddress.ip_network(item) for item in exclude)
    )


def keys(report):
    """{(dst, ifname)} of a flush's report {ifname: {dst: lladdr}}."""
    return {(dst, ifname) for ifname, entries in report.items() for dst in entries}
