"""
Prometheus metrics of the arp module's runs, in the text exposition format
that node_exporter's textfile collector reads: one file per job
(``arp_hygiene_<job>.prom``), replaced atomically (written beside it under a
name the collector skips, then renamed), so a scrape never sees half a file.

No Salt and no client library here: the format is a few lines of text
(https://prometheus.io/docs/instrumenting/exposition_formats/), and the
module runs in the minion's own Python, where every extra library is one more
thing to install on every database minion. node_exporter's own parser, in
the tests, is the judge of what this writes.
"""

import logging
import math
import os
import socket
import time

import _arp_hygiene_arguments as arguments
import _arp_hygiene_neighbours as neighbours
import _arp_hygiene_netlink as netlink
import _arp_hygiene_policy as policy
from pyroute2.netlink.rtnl import RTM_GETNEIGHTBL, RTM_NEWNEIGHTBL
from pyroute2.netlink.rtnl.ndtmsg import ndtmsg

log = logging.getLogger(__name__)

# Gauges, but for the kernel's own counters: each file holds the last run's
# values, which go down as well as up.
KIND = "gauge"
LAST_SUCCESS = "arp_hygiene_last_success_timestamp_seconds"
# The outcomes a job's return counts, by job.
RESULT_COUNTS = {
    "flush": ("deleted", "vanished"),
    "verify": ("ok", "mismatch", "conflict", "unanswered", "skipped", "replaced", "deleted"),
}
# A sweep (verify with sweep=True, now and then) is a task of its own: the
# conflicts it alone can find stay in its file until the next sweep, not
# overwritten by the next plain verify.
RESULT_COUNTS["sweep"] = RESULT_COUNTS["verify"]
# The watcher (arp.watch, a round of the engine arp_watch): the entries that
# frames contradicted, those it asked about and what came of it; and its
# totals: frames it read, questions its limits left out.
RESULT_COUNTS["watch"] = (
    "contradicted",
    "asked",
    "answered",
    "mismatch",
    "unanswered",
    "conflict",
    "replaced",
    "deleted",
)
RESULT_TOTALS = {"watch": ("seen", "limited")}

# The kernel's statistics of each family's neighbour table (all namespaces
# together), one line of hexadecimal counters per CPU under a line of names.
KERNEL_STATISTICS = {name: f"/proc/net/stat/{family['stat']}" for name, family in policy.FAMILIES.items()}
# What each of the kernel's counters counts, in the metrics' HELP. "entries"
# is not a counter but the table's size now: the same on every CPU's line.
KERNEL_COUNTERS = {
    "allocs": "neighbour entries allocated",
    "destroys": "neighbour entries destroyed",
    "hash_grows": "times the table's hash grew",
    "lookups": "lookups in the table",
    "hits": "lookups that found an entry",
    "res_failed": "address resolutions that failed",
    "rcv_probes_mcast": "multicast solicitations received",
    "rcv_probes_ucast": "unicast solicitations received",
    "periodic_gc_runs": "periodic garbage collection runs",
    "forced_gc_runs": "forced garbage collection runs (the table above gc_thresh2, or full)",
    "unresolved_discards": "packets dropped while their neighbour was unresolved (its queue full)",
    "table_fulls": "entries refused because the table was full (gc_thresh3: 'neighbour table overflow')",
}


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return repr(value) if isinstance(value, float) else str(value)


class Metrics:
    """Metric families in the order added: name -> (help, kind, [(labels, value)])."""

    def __init__(self):
        self.families = {}

    def add(self, name, help_text, value, metric_type=KIND, **labels):
        self.families.setdefault(name, (help_text, metric_type, []))[2].append((labels, value))

    def text(self):
        lines = []
        for name, (help_text, metric_type, samples) in self.families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {metric_type}")
            for labels, value in samples:
                inside = ",".join(f'{key}="{_label_value(labels[key])}"' for key in sorted(labels))
                lines.append(f"{name}{{{inside}}} {_sample(value)}" if inside else f"{name} {_sample(value)}")
        return "\n".join(lines) + "\n"


def previous_value(directory, job, name):
    """The value of ``name`` (first sample) in the job's file as it is now, or None."""
    try:
        with open(os.path.join(directory, f"arp_hygiene_{job}.prom"), encoding="utf-8") as current:
            for line in current:
                if line.startswith(name + "{") or line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def write(directory, job, metrics):
    """Replace ``directory``/arp_hygiene_``job``.prom with the metrics; returns its path."""
    path = os.path.join(directory, f"arp_hygiene_{job}.prom")
    # Not *.prom: the collector must never read it half written.
    partial = os.path.join(directory, f".arp_hygiene_{job}.prom.{os.getpid()}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            out.write(metrics.text())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def gc_thresh(family, which=3):
    """The kernel's ``gc_thresh1``, ``2`` or ``3`` for a family (``inet``, ``inet6``), or None if unreadable."""
    try:
        with open(
            f"/proc/sys/net/{policy.FAMILIES[family]['proc']}/neigh/default/gc_thresh{which}", encoding="ascii"
        ) as knob:
            return int(knob.read())
    except (OSError, ValueError, KeyError):
        return None


def kernel_statistics(family, path=None):
    """
    The kernel's statistics of the family's neighbour table: ``{name:
    value}`` with its own names, each counter summed over the CPUs
    (``entries``: the table's size). None where the file is not there (in a
    namespace other than the host's, the kernel shows none).
    """
    try:
        with open(path or KERNEL_STATISTICS[family], encoding="ascii") as stat:
            names, *cpus = [line.split() for line in stat if line.strip()]
    except (OSError, KeyError, ValueError):
        return None
    try:
        values = [[int(value, 16) for value in cpu] for cpu in cpus]
    except ValueError:
        return None
    if not values or any(len(cpu) != len(names) for cpu in values):
        return None
    totals = {name: sum(cpu[column] for cpu in values) for column, name in enumerate(names)}
    totals["entries"] = values[0][names.index("entries")] if "entries" in names else None
    return totals


def table_counts(netns):
    """{(ifname, family, state): entries} of the namespace's whole neighbour table."""
    with netlink.Socket(netns) as sock:
        return _counted(sock, netns, netlink.read_links(sock))


def _counted(sock, netns, links):
    counts = {}
    every = neighbours.Selection(family=socket.AF_UNSPEC, states=set(netlink.NUD_STATES.values()))
    for entry in neighbours.scan(sock, every, netlink.LinkNames(netns, links)):
        key = (entry["ifname"], entry["family"], entry["state"])
        counts[key] = counts.get(key, 0) + 1
    return counts


# The neighbour table's parameters (RTM_GETNEIGHTBL: struct ndtmsg, then
# attributes; linux/neighbour.h): one message for the table, one for each
# interface of the namespace, its NDTA_PARMS nested. Numbers and layout as pyroute2 names them.
NDTMSG = netlink.fields_struct(ndtmsg.fields)
NDTA, NDTPA = netlink.numbers(ndtmsg.nla_map), netlink.numbers(ndtmsg.parms.nla_map)
# NDTPA_* -> the sysctl of net.ipv4|ipv6.neigh.<interface> it is, and the
# unit the sysctl shows (the kernel sends milliseconds).
NEIGH_PARMS = {
    NDTPA[name]: value
    for name, value in {
        "NDTPA_BASE_REACHABLE_TIME": ("base_reachable_time_ms", 1),
        "NDTPA_RETRANS_TIME": ("retrans_time_ms", 1),
        "NDTPA_GC_STALETIME": ("gc_stale_time", 1000),
        "NDTPA_DELAY_PROBE_TIME": ("delay_first_probe_time", 1000),
        "NDTPA_APP_PROBES": ("app_solicit", None),
        "NDTPA_UCAST_PROBES": ("ucast_solicit", None),
        "NDTPA_MCAST_PROBES": ("mcast_solicit", None),
        "NDTPA_QUEUE_LENBYTES": ("unres_qlen_bytes", None),
    }.items()
}


def neighbour_parameters(sock, family):
    """
    {ifindex: {sysctl name: value}} of the family's neighbour table for each
    interface of the namespace: the NUD timers in force (NEIGH_PARMS), as
    ``net.ipv4|ipv6.neigh.<interface>.*`` shows them.
    """
    found = {}
    for kind, data, offset, length in sock.dump(RTM_GETNEIGHTBL, NDTMSG.pack(family)):
        if kind != RTM_NEWNEIGHTBL or NDTMSG.unpack_from(data, offset + netlink.NLMSG_HDR.size)[0] != family:
            continue
        for kind_, parms in netlink.attributes(data, offset + netlink.NLMSG_HDR.size + NDTMSG.size, offset + length):
            if kind_ != NDTA["NDTA_PARMS"]:
                continue
            values, index = {}, None
            for number, value in netlink.attributes(parms, 0, len(parms)):
                if number == NDTPA["NDTPA_IFINDEX"]:
                    index = netlink.U32.unpack_from(value)[0]
                elif number in NEIGH_PARMS:
                    name, unit = NEIGH_PARMS[number]
                    raw = (netlink.U64 if len(value) == netlink.U64.size else netlink.U32).unpack_from(value)[0]
                    values[name] = raw // unit if unit else raw
            if index:
                found[index] = values
    return found


def facts(netns, families, names=()):
    """
    What diagnose reads, for each family of ``families`` (``inet``,
    ``inet6``): {family: {"entries" (the namespace's), "kernel_entries" (the
    kernel's count, all namespaces), "gc_thresh1/2/3", "counters" (the
    kernel's), "interfaces": {ifname: the NUD timers in force, and for inet
    arp_accept and arp_notify}}}, of the Ethernet interfaces (``names``
    alone if given). Reads only.
    """
    with netlink.Socket(netns) as sock:
        links = netlink.read_links(sock, conf=True)
        arguments.known(names, {link["ifname"] for link in links.values()}, netns)
        parameters = {family: neighbour_parameters(sock, netlink.FAMILIES[family]) for family in families}
        counted = _counted(sock, netns, links)
    entries = {}
    for (_, family, _), count in counted.items():
        entries[family] = entries.get(family, 0) + count
    found = {}
    for family in families:
        statistics = kernel_statistics(family) or {}
        interfaces = {}
        for index, timers in parameters[family].items():
            link = links.get(index)
            if link and netlink.is_ethernet(link) and (not names or link["ifname"] in names):
                interfaces[link["ifname"]] = {**timers, **(link["inet_conf"] if family == "inet" else {})}
        found[family] = {
            "entries": entries.get(family, 0),
            "kernel_entries": statistics.get("entries"),
            **{f"gc_thresh{which}": gc_thresh(family, which) for which in (1, 2, 3)},
            "counters": {name: value for name, value in statistics.items() if name in KERNEL_COUNTERS},
            "interfaces": interfaces,
        }
    return found


def metered(directory, job, netns, run):
    """
    ``run()``, and the job's metrics written to ``directory`` afterwards,
    whether it succeeded or raised (then from what its error says it changed,
    its ``info``).
    """
    began, clock = time.time(), time.monotonic()
    result, success = {}, False
    try:
        result = run()
        success = True
        return result
    except Exception as err:  # a bad argument or namespace too: the run failed, success 0
        info = getattr(err, "info", None)
        result = info if isinstance(info, dict) else {}
        raise
    finally:
        write_run(directory, job, netns, began, time.monotonic() - clock, success, result)


def write_run(directory, job, netns, began, seconds, success, result):
    """
    The metrics of one run of ``job`` (``flush``, ``verify``, ``sweep`` or ``watch``) that started
    at ``began`` (Unix time) and took ``seconds``: written to ``directory``,
    with the table's composition afterwards and the kernel's limit. A file
    that cannot be written is logged, never raised: the run's own outcome
    stands.
    """
    found = Metrics()
    found.add("arp_hygiene_last_run_timestamp_seconds", "When the last run started (Unix time).", began, task=job)
    found.add("arp_hygiene_last_run_duration_seconds", "How long the last run took.", seconds, task=job)
    found.add("arp_hygiene_last_run_success", "1 if the last run succeeded, 0 if it failed.", int(success), task=job)
    # Carried over from the file while runs fail: what "no successful run for so long" alerts on.
    last_success = began if success else previous_value(directory, job, LAST_SUCCESS)
    if last_success is not None:
        found.add(LAST_SUCCESS, "When the last successful run started (Unix time).", last_success, task=job)
    for outcome in RESULT_COUNTS[job]:
        for ifname, entries in (result.get(outcome) or {}).items():
            found.add(
                "arp_hygiene_last_run_entries",
                "Neighbour entries the last run found or changed, by outcome and interface.",
                len(entries),
                task=job,
                outcome=outcome,
                interface=ifname,
            )
    for total in RESULT_TOTALS.get(job, ()):
        if isinstance(result.get(total), int):
            found.add(
                "arp_hygiene_last_run_total",
                "What the last run counted: frames read (seen), questions its limits left out (limited).",
                result[total],
                task=job,
                counted=total,
            )
    try:
        counts = table_counts(netns)
    except Exception as err:  # pylint: disable=broad-except  (a gone namespace: the metrics still go out)
        # After a failed run (its namespace gone, say) that is expected, and the run's own error says why.
        (log.warning if success else log.debug)("arp: metrics without the table's composition: %s", err)
        counts = {}
    for (ifname, family, state), count in sorted(counts.items()):
        found.add(
            "arp_hygiene_neighbour_entries",
            "Entries in the neighbour table after the last run, by interface, family and NUD state.",
            count,
            task=job,
            interface=ifname,
            family=family,
            state=state,
        )
    for family in policy.FAMILIES:
        limit = gc_thresh(family)
        if limit is not None:
            found.add(
                "arp_hygiene_gc_thresh3",
                "The kernel's hard limit of neighbour entries for the family (all namespaces together).",
                limit,
                task=job,
                family=family,
            )
    for family in policy.FAMILIES:
        statistics = kernel_statistics(family) or {}
        if statistics.get("entries") is not None:
            found.add(
                "arp_hygiene_kernel_entries",
                "Entries in the family's neighbour table as the kernel counts them, all namespaces together.",
                statistics["entries"],
                task=job,
                family=family,
            )
        for name, value in sorted(statistics.items()):
            if name in KERNEL_COUNTERS:
                found.add(
                    f"arp_hygiene_kernel_{name}_total",
                    f"The kernel's {name} of the family's neighbour table: {KERNEL_COUNTERS[name]}, "
                    "all namespaces together, since boot.",
                    value,
                    metric_type="counter",
                    task=job,
                    family=family,
                )
    try:
        write(directory, job, found)
    except OSError as err:
        log.error("arp: cannot write the metrics in %s: %s", directory, err)
