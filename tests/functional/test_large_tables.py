"""Tables larger than one batch of deletes, and a table that changes while it is flushed."""

import threading

import lab
from tests.conftest import snapshot
from tests.functional.test_arp_flush import keys

# The kernel's gc_thresh3 (1024 by default) bounds the entries of every
# namespace together, and tests leave the root namespace's sysctls alone:
# the tables here stay well under it.


def stale_entries(count, ifname, prefix):
    return [
        {"dst": f"{prefix}{number:x}", "ifname": ifname, "state": "stale", "lladdr": f"02:00:00:aa:{number >> 8:02x}:{number & 255:02x}"}
        for number in range(0x100, 0x100 + count)
    ]


def test_flush_of_more_than_one_batch_deletes_every_entry(arp, netlab):
    ns = lab.table(netlab)
    ipv4 = [
        {"dst": f"192.0.2.{number}", "ifname": "a0", "state": "stale", "lladdr": f"02:00:00:00:01:{number:02x}"}
        for number in range(2, 252)
    ]
    ipv6 = stale_entries(350, "b0", "2001:db8:b::")
    kept = [{"dst": f"198.51.100.{number}", "ifname": "b0", "state": "reachable", "lladdr": "02:00:00:00:02:01"} for number in range(2, 12)]
    lab.add_entries(ns, ipv4 + ipv6 + kept)
    before = snapshot(ns)
    stale = {(e["dst"], e["ifname"]) for e in ipv4 + ipv6}
    assert stale <= set(before) and len(stale) == 600  # more than BATCH (512): two sends

    result = arp.flush_stale(family="all", netns=ns.name)

    assert keys(result["deleted"]) == stale and len(result["deleted"]) == 600
    assert result["vanished"] == []
    assert snapshot(ns) == {key: value for key, value in before.items() if key not in stale}


def test_a_flush_of_a_table_that_changes_meanwhile_ends_and_reports(arp, netlab):
    ns = lab.table(netlab)
    first = stale_entries(500, "a0", "2001:db8:a::")
    lab.add_entries(ns, first)
    later = stale_entries(150, "b0", "2001:db8:b::")
    writer = threading.Thread(target=lab.add_entries, args=(ns, later))

    writer.start()
    result = arp.flush_stale(family="inet6", netns=ns.name)
    writer.join(60)

    # One dump, one round of deletes: whatever the writer did, the call ends,
    # and reports only entries that were stale.
    reported = keys(result["deleted"]) | keys(result["vanished"])
    assert reported <= {(e["dst"], e["ifname"]) for e in first + later}
    assert len(result["deleted"]) >= 400
    assert all(entry["state"] == "stale" for entry in result["deleted"])
