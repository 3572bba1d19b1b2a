"""arp.verify and arp.announce on a real segment: a bridge and host namespaces."""

import ipaddress
import itertools
import json
import socket
import time

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import lab, module_from_checkout
from tests.support.frames import NOBODY, NOBODY_REACHABLE, cache, macs, questions, table, unicast_json
from tests.support.lab import DB_IP, DB_MAC, NEW_MAC, OLD_MAC, WORKER_IP, WORKER_IP6

probe = module_from_checkout("_arp_hygiene_probe")


def test_a_wrong_reachable_entry_is_unanswered_and_fix_finds_and_repairs_it(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    assert not segment.reach(db, WORKER_IP), "the black hole: the SYN goes to the old MAC"
    assert arp.flush_stale(netns=db.name)["deleted"] == {}, "flush_stale rightly leaves a reachable entry"

    found = arp.verify(netns=db.name)
    assert found["unanswered"] == {"eth0": {WORKER_IP: OLD_MAC}}, "the old MAC, asked alone, is silent"
    assert found["mismatch"] == {} and found["conflict"] == {}
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC, "verifying alone changes no MAC"

    fixed = arp.verify(netns=db.name, fix=True)
    assert fixed["mismatch"] == {"eth0": {WORKER_IP: {"cached": OLD_MAC, "answered": [NEW_MAC]}}}
    assert fixed["replaced"] == {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    assert segment.reach(db, WORKER_IP)


@pytest.mark.once
def test_test_mode_sends_nothing_and_changes_nothing(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    cache(db, WORKER_IP6, OLD_MAC, "reachable")
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    before = unicast_json(db)
    wire = segment.sent_by(db, seconds=2.5)

    planned = arp.verify(family="all", netns=db.name, fix=True, test=True, timeout=0.5)

    assert planned == {
        "would_ask": {"eth0": {WORKER_IP: OLD_MAC, WORKER_IP6: OLD_MAC, NOBODY: "02:00:00:00:99:01"}},
        "skipped": {},
    }
    time.sleep(0.3)
    assert unicast_json(db) == before, "the table, byte for byte (the kernel's own multicast entries aside)"
    assert questions(wire.frames(), {WORKER_IP, WORKER_IP6, NOBODY}) == [], "test mode sends nothing at all"


@pytest.mark.once
def test_healthy_entries_are_ok_and_keep_their_mac(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP, NEW_MAC, "stale")
    cache(db, WORKER_IP6, NEW_MAC, "reachable")
    before = macs(db)

    for fix in (False, True):
        result = arp.verify(family="all", netns=db.name, fix=fix)

        assert result["ok"] == {"eth0": {WORKER_IP: NEW_MAC, WORKER_IP6: NEW_MAC}}
        assert result["mismatch"] == result["conflict"] == result["unanswered"] == {}
        assert result.get("replaced", {}) == result.get("deleted", {}) == {}
        assert macs(db) == before


@pytest.mark.once
def test_a_report_run_asks_each_cached_mac_alone_from_this_hosts_address(arp, segment):
    """Without fix: the kernel's own unicast reachability probe, never a broadcast."""
    segment, db, _ = segment
    cache(db, WORKER_IP, NEW_MAC, "stale")
    cache(db, WORKER_IP6, NEW_MAC, "stale")
    wire = segment.sent_by(db, seconds=2)

    arp.verify(family="all", netns=db.name, timeout=0.5)

    asked = questions(wire.frames(), {WORKER_IP, WORKER_IP6})
    new = bytes.fromhex(NEW_MAC.replace(":", ""))
    assert len(asked) == 2 and all(frame[0:6] == new for frame in asked), "to the cached MAC alone"
    arp_question = next(frame for frame in asked if lab.arp_fields(frame))
    assert lab.arp_fields(arp_question) == (1, DB_MAC, DB_IP, "00:00:00:00:00:00", WORKER_IP)
    solicitation = next(frame for frame in asked if not lab.arp_fields(frame))
    assert solicitation[22:38] == ipaddress.ip_address("2001:db8:1::10").packed, "from the database's address"
    assert solicitation[38:54] == ipaddress.ip_address(WORKER_IP6).packed, "to the address asked about"


@pytest.mark.once
def test_unanswered_entries_are_reported_and_only_stale_or_failed_ones_deleted(arp, segment):
    segment, db, _ = segment
    cache(db, NOBODY, "02:00:00:00:99:01", "stale")
    cache(db, NOBODY_REACHABLE, "02:00:00:00:98:01", "reachable")

    result = arp.verify(netns=db.name, fix=True, timeout=0.5)

    assert result["unanswered"] == {"eth0": {NOBODY: "02:00:00:00:99:01", NOBODY_REACHABLE: "02:00:00:00:98:01"}}
    assert result["deleted"] == {"eth0": {NOBODY: "02:00:00:00:99:01"}}
    assert segment.neighbour(db, NOBODY) is None
    assert segment.neighbour(db, NOBODY_REACHABLE)["lladdr"] == "02:00:00:00:98:01"


@pytest.mark.once
def test_ipv6_wrong_entry_is_repaired_and_keeps_its_router_flag(arp, segment):
    segment, db, _ = segment
    cache(db, WORKER_IP6, OLD_MAC, "reachable", "router")

    result = arp.verify(family="inet6", netns=db.name, fix=True)

    assert result["mismatch"] == {"eth0": {WORKER_IP6: {"cached": OLD_MAC, "answered": [NEW_MAC]}}}
    assert result["replaced"] == {"eth0": {WORKER_IP6: {"old": OLD_MAC, "new": NEW_MAC}}}
    entry = segment.neighbour(db, WORKER_IP6)
    assert entry["lladdr"] == NEW_MAC and "router" in entry, entry


@pytest.mark.once
def test_a_host_in_duplicate_address_detection_keeps_its_address(arp, segment):
    """RFC 4862 5.4.3: a solicitation from :: for a tentative address is a rival; verify never sends one."""
    segment, db, worker = segment
    taking = "2001:db8:1::30"
    worker.sysctl(**{"net.ipv6.conf.eth0.dad_transmits": 3, "net.ipv6.neigh.eth0.retrans_time_ms": 1000})
    cache(db, taking, NEW_MAC, "stale")
    wire = segment.sent_by(db, seconds=2.5)
    worker.ip("addr", "add", f"{taking}/64", "dev", "eth0")
    assert "tentative" in worker.ip("-6", "addr", "show", "dev", "eth0").stdout

    arp.verify(family="inet6", netns=db.name, timeout=0.5)
    arp.verify(family="inet6", netns=db.name, timeout=0.5, fix=True)

    solicitations = questions(wire.frames(), {taking})
    assert len(solicitations) >= 2, "the tentative host was asked, unicast and by multicast"
    assert all(f[22:38] != bytes(16) for f in solicitations), "never from ::"
    deadline = time.monotonic() + 6
    while "tentative" in worker.ip("-6", "addr", "show", "dev", "eth0").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    shown = worker.ip("-6", "addr", "show", "dev", "eth0").stdout
    assert taking in shown and "dadfailed" not in shown and "tentative" not in shown, shown


ACD = """
import json, select, socket, struct, sys, time
ifname, address, seconds = sys.argv[1], socket.inet_aton(sys.argv[2]), float(sys.argv[4])
mac = bytes.fromhex(sys.argv[3].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0x0806))
print("ready", flush=True)
seen, conflicts, end = 0, [], time.monotonic() + seconds
while (left := end - time.monotonic()) > 0:
    if not select.select([s], [], [], left)[0]:
        break
    frame, where = s.recvfrom(2048)
    if where[2] == socket.PACKET_OUTGOING or len(frame) < 42:
        continue
    _, _, _, _, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s", frame[14:42])
    seen += tpa == address
    # RFC 5227 2.1.1: while probing, the sender IP is ours, or an ARP probe for our address from another MAC.
    if (spa == address and sha != mac) or (spa == bytes(4) and tpa == address and sha != mac):
        conflicts.append(frame.hex())
print(json.dumps({"seen": seen, "conflicts": conflicts}), flush=True)
"""


@pytest.mark.once
def test_a_host_in_address_conflict_detection_sees_no_rival(arp, segment):
    """RFC 5227: a host probing for an address the database caches sees our questions, and no conflict in them."""
    segment, db, _ = segment
    claimant_mac, probed = "02:00:00:00:30:01", "192.0.2.30"
    claimant = segment.host("acd", "192.0.2.31", claimant_mac)
    cache(db, probed, claimant_mac, "stale")  # the host had the address before and takes it again
    watcher = claimant.popen(lab.sys.executable, "-c", ACD, "eth0", probed, claimant_mac, "5")
    segment.lab.processes.append(watcher)
    assert watcher.stdout.readline().strip() == "ready"

    arp.verify(netns=db.name, timeout=0.5)
    arp.verify(netns=db.name, timeout=0.5, fix=True)

    report = json.loads(watcher.stdout.read().splitlines()[-1])
    assert report["seen"] >= 2, "the questions reached the probing host"
    assert report["conflicts"] == []


@pytest.mark.once
@pytest.mark.parametrize(
    "cached, delays, sweep",
    [
        pytest.param("02:00:00:00:40:01", (0, 0.3), True, id="cached-mac-and-a-slower-second-in-a-sweep"),
        pytest.param(OLD_MAC, (0, 0), False, id="two-new-at-once"),
        pytest.param(OLD_MAC, (0, 0.4), False, id="two-new-one-slower"),
    ],
)
def test_an_address_two_macs_claim_is_a_conflict_and_never_repaired(arp, segment, cached, delays, sweep):
    segment, db, _ = segment
    claimed = "192.0.2.40"
    for number, delay in enumerate(delays, start=1):
        host = segment.host(f"claim{number}", f"192.0.2.{40 + number}", f"02:00:00:00:40:{number:02x}")
        segment.responder(host, claimed, f"02:00:00:00:40:{number:02x}", delay)
    cache(db, claimed, cached, "stale")

    result = arp.verify(netns=db.name, fix=True, sweep=sweep, timeout=1)

    conflict = result["conflict"]["eth0"][claimed]
    assert conflict["cached"] == cached and sorted(conflict["answered"]) == ["02:00:00:00:40:01", "02:00:00:00:40:02"]
    assert result["ok"] == result["mismatch"] == result["replaced"] == result["deleted"] == {}
    assert segment.neighbour(db, claimed)["lladdr"] == cached, "a conflict is left to a human"


@pytest.mark.once
def test_without_a_sweep_a_cached_mac_that_answers_is_ok_and_nothing_is_broadcast(arp, segment):
    """The price of asking like the kernel: a second MAC claiming the address is heard only in a sweep."""
    segment, db, _ = segment
    claimed, cached = "192.0.2.40", "02:00:00:00:40:01"
    for number in (1, 2):
        host = segment.host(f"claim{number}", f"192.0.2.{40 + number}", f"02:00:00:00:40:{number:02x}")
        segment.responder(host, claimed, f"02:00:00:00:40:{number:02x}")
    cache(db, claimed, cached, "stale")
    wire = segment.sent_by(db, seconds=2.5)

    result = arp.verify(netns=db.name, fix=True, timeout=0.5)

    assert result["ok"] == {"eth0": {claimed: cached}} and result["conflict"] == {}
    asked = questions(wire.frames(), {claimed})
    assert [frame[0:6].hex(":") for frame in asked] == [cached], "one question, to the cached MAC alone"


@pytest.mark.once
@pytest.mark.parametrize("sweep", [False, True], ids=["fix", "fix and sweep"])
def test_a_routing_daemons_entries_are_asked_of_their_mac_alone_and_never_change(arp, segment, sweep):
    """The issue's case: the kernel took another host's answer into an extern_learn entry, flag kept."""
    segment, db, _ = segment
    # The worker owns WORKER_IP and WORKER_IP6 with NEW_MAC and answers; the entries hold the silent OLD_MAC.
    cache(db, WORKER_IP, OLD_MAC, "reachable", "extern_learn")
    cache(db, WORKER_IP6, OLD_MAC, "reachable")
    db.ip(
        "neigh", "change", WORKER_IP6, "dev", "eth0", "managed"
    )  # with a MAC: set after it (ip drops one given with it)
    held = {
        (e["dst"], e["lladdr"], "extern_learn" in e or "managed" in e)
        for e in (segment.neighbour(db, WORKER_IP), segment.neighbour(db, WORKER_IP6))
    }
    assert held == {(WORKER_IP, OLD_MAC, True), (WORKER_IP6, OLD_MAC, True)}, held
    wire = segment.sent_by(db, seconds=2.5)

    result = arp.verify(family="all", netns=db.name, fix=True, sweep=sweep, timeout=0.5)

    assert result["unanswered"] == {"eth0": {WORKER_IP: OLD_MAC, WORKER_IP6: OLD_MAC}}, result
    assert result["mismatch"] == {} and result["replaced"] == {} and result["deleted"] == {}, result
    asked = questions(wire.frames(), {WORKER_IP, WORKER_IP6})
    assert asked and {frame[0:6].hex(":") for frame in asked} == {OLD_MAC}, "only the cached MAC is asked"
    time.sleep(1)  # any answer the kernel would take, taken
    after = {
        (e["dst"], e["lladdr"], "extern_learn" in e or "managed" in e)
        for e in (segment.neighbour(db, WORKER_IP), segment.neighbour(db, WORKER_IP6))
    }
    assert after == held, after


@pytest.mark.once
def test_a_thousand_correct_entries_cost_no_broadcast_and_a_wrong_one_is_healed_in_the_same_run(
    tables_alone, arp, segment
):
    segment, db, worker = segment
    fleet_mac, bystander_mac = "02:00:00:18:00:01", "02:00:00:18:00:02"
    fleet = segment.host("fleet", "198.18.0.2", fleet_mac)
    # Not x.y.z.0 nor .255: the fleet's own /24 makes 198.18.0.255 its broadcast address.
    owned = [f"198.18.{n >> 8}.{n & 255}" for n in range(3, 1100) if 0 < n & 255 < 255][:1000]
    fleet.batch([f"addr add {address}/15 dev eth0" for address in owned])
    db.ip("addr", "add", "198.18.0.1/15", "dev", "eth0")
    # Permanent: verify asks about them as about any entry with a MAC, and the
    # kernel's garbage collection leaves them out of its thresholds.
    db.batch([f"neigh replace {address} dev eth0 lladdr {fleet_mac} nud permanent" for address in owned])
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    bystander = segment.host("bystander", "192.0.2.60", bystander_mac)
    heard, sent = lab.Capture(segment.lab, bystander, seconds=6), segment.sent_by(db, seconds=6)

    result = arp.verify(netns=db.name, fix=True, rate=5000, timeout=1)

    assert set(result["ok"]["eth0"]) == set(owned) and len(owned) == 1000
    assert result["replaced"] == {"eth0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    broadcasts = [
        frame
        for frame in heard.frames()
        if frame[0:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex(DB_MAC.replace(":", ""))
    ]
    assert [lab.arp_fields(frame)[4] for frame in broadcasts] == [WORKER_IP], "one broadcast: the wrong entry's"
    unicast = [frame for frame in questions(sent.frames(), set(owned) | {WORKER_IP}) if frame[0] & 1 == 0]
    assert len(unicast) == 1001, "a unicast question for each entry"


@pytest.mark.once
def test_verify_on_a_macvlan_interface_hears_its_answers(arp, segment):
    segment, _, _ = segment
    host = segment.host("macvlan", "192.0.2.51", "02:00:00:00:50:01")
    host.batch(
        [
            "link add mv0 link eth0 type macvlan mode bridge",
            "link set mv0 address 02:00:00:00:50:02",
            "addr add 192.0.2.50/24 dev mv0",
            "link set mv0 up",
        ]
    )
    cache(host, WORKER_IP, OLD_MAC, "reachable", dev="mv0")
    cache(host, NOBODY, NEW_MAC, "stale", dev="mv0")  # NEW_MAC is the worker's: it does not own NOBODY

    result = arp.verify(netns=host.name, interface="mv0", fix=True)

    assert result["replaced"] == {"mv0": {WORKER_IP: {"old": OLD_MAC, "new": NEW_MAC}}}
    assert result["unanswered"] == {"mv0": {NOBODY: NEW_MAC}}
    assert segment.neighbour(host, WORKER_IP)["lladdr"] == NEW_MAC
    cache(host, WORKER_IP, NEW_MAC, "stale", dev="mv0")
    assert arp.verify(netns=host.name, interface="mv0")["ok"] == {"mv0": {WORKER_IP: NEW_MAC}}


@pytest.mark.once
def test_200_entries_are_asked_about_at_once(tables_alone, arp, segment):
    segment, db, _ = segment
    db.batch([f"neigh replace 198.18.0.{n} dev eth0 lladdr 02:00:00:18:00:{n:02x} nud stale" for n in range(1, 201)])
    cache(db, WORKER_IP, NEW_MAC, "stale")

    start = time.monotonic()
    result = arp.verify(netns=db.name, timeout=1)
    seconds = time.monotonic() - start

    assert len(result["unanswered"]["eth0"]) == 200 and result["ok"] == {"eth0": {WORKER_IP: NEW_MAC}}
    # One by one, 200 timeouts would take 200 s; together: 1 s of questions (200 a second), then 1 s of waiting.
    assert seconds < 10, seconds


@pytest.mark.once
def test_announce_replaces_the_old_mac_in_the_databases_entries(arp, segment):
    segment, db, worker = segment
    cache(db, WORKER_IP, OLD_MAC, "stale")
    cache(db, WORKER_IP6, OLD_MAC, "stale")

    planned = arp.announce(netns=worker.name, test=True)
    assert {WORKER_IP, WORKER_IP6} <= set(planned["would_announce"]["eth0"])
    time.sleep(0.2)
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == OLD_MAC, "test mode sends nothing"

    done = arp.announce(netns=worker.name)

    assert done["announced"] == planned["would_announce"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        segment.neighbour(db, WORKER_IP)["lladdr"] != NEW_MAC or segment.neighbour(db, WORKER_IP6)["lladdr"] != NEW_MAC
    ):
        time.sleep(0.05)
    assert segment.neighbour(db, WORKER_IP)["lladdr"] == NEW_MAC
    assert segment.neighbour(db, WORKER_IP6)["lladdr"] == NEW_MAC
    assert segment.reach(db, WORKER_IP)


@pytest.mark.once
@pytest.mark.parametrize("mode", ["request", "reply", "both"])
def test_announce_sends_count_announcements_interval_apart_in_each_mode(arp, segment, mode):
    """As keepalived: several, spaced; and never an address still in duplicate address detection."""
    segment, _, worker = segment
    tentative = "2001:db8:1::31"
    worker.sysctl(**{"net.ipv6.conf.eth0.dad_transmits": 3, "net.ipv6.neigh.eth0.retrans_time_ms": 1000})
    worker.ip("addr", "add", f"{tentative}/64", "dev", "eth0")
    wire = segment.sent_by(worker, seconds=2.5)

    done = arp.announce(netns=worker.name, family="all", count=3, interval=0.4, mode=mode)

    assert WORKER_IP in done["announced"]["eth0"] and tentative not in done["announced"]["eth0"]
    timed = wire.timed()
    mac = bytes.fromhex(NEW_MAC.replace(":", ""))
    ipv4 = [(when, frame) for when, frame in timed if (lab.arp_fields(frame) or ())[2:5:2] == (WORKER_IP, WORKER_IP)]
    assert [frame for _, frame in ipv4] == probe.announcements(mac, socket.AF_INET, WORKER_IP, mode) * 3
    ipv6 = [(when, frame) for when, frame in timed if questions([frame], {WORKER_IP6, tentative}, (), (136,))]
    assert [frame for _, frame in ipv6] == probe.announcements(mac, socket.AF_INET6, WORKER_IP6, mode) * 3
    per_round = len(ipv4) // 3
    starts = [when for when, _ in ipv4[::per_round]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 2 and all(0.35 <= gap < 0.9 for gap in gaps), gaps
    deadline = time.monotonic() + 6
    while "tentative" in worker.ip("-6", "addr", "show", "dev", "eth0").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "dadfailed" not in worker.ip("-6", "addr", "show", "dev", "eth0").stdout


@pytest.mark.once
@pytest.mark.parametrize(
    "function, arguments, message",
    [
        ("verify", {"interface": "lo"}, "interface 'lo' is not an Ethernet interface (link loopback)"),
        ("verify", {"interface": "bare0"}, "interface 'bare0' has no IPv4 address"),
        ("verify", {"interface": "bare0", "family": "inet6"}, "interface 'bare0' has no IPv6 address"),
        ("verify", {"interface": "eth9"}, "no interface named 'eth9'"),
        ("verify", {"interface": ""}, "interface names cannot be empty"),
        ("verify", {"interface": [" "]}, "interface names cannot be empty"),
        ("verify", {"timeout": 0}, "timeout must be a number of seconds above 0, at most 30, not 0"),
        ("verify", {"timeout": -1}, "timeout must be a number of seconds above 0"),
        ("verify", {"timeout": "soon"}, "timeout must be a number of seconds above 0, at most 30, not 'soon'"),
        ("verify", {"timeout": 1e300}, "timeout must be a number of seconds above 0, at most 30"),
        ("verify", {"timeout": float("nan")}, "timeout must be a number"),
        ("verify", {"rate": 0}, "rate must be a number of questions a second from 1, at most 10000"),
        ("verify", {"rate": 1e-300}, "rate must be a number of questions a second from 1"),
        ("verify", {"rate": 1e-9}, "rate must be a number of questions a second from 1"),
        ("verify", {"rate": "inf"}, "rate must be a number of questions a second"),
        ("verify", {"rate": True}, "rate must be a number of questions a second"),
        ("verify", {"fix": "yes"}, "fix must be True or False, not 'yes'"),
        ("verify", {"test": "false"}, "test must be True or False, not 'false'"),
        ("verify", {"states": "wobbly"}, "unknown NUD state 'wobbly'"),
        ("verify", {"family": ["inet"]}, "unknown family ['inet']"),
        ("verify", {"network": 4}, "network must be an address or CIDR as a string, not int: 4"),
        ("verify", {"network": True}, "network must be an address or CIDR as a string, not bool"),
        ("verify", {"min_age": []}, "min_age must be a number of seconds from 0, finite, not []"),
        ("verify", {"min_age": "inf"}, "min_age must be a number of seconds from 0, finite, not 'inf'"),
        ("announce", {"interface": "lo"}, "interface 'lo' is not an Ethernet interface"),
        ("announce", {"interface": "bare0", "family": "inet"}, "interface 'bare0' has no IPv4 address"),
        ("announce", {"interface": "down0"}, "interface 'down0' is down: nothing can be sent from it"),
        ("announce", {"family": "ipx"}, "unknown family 'ipx'"),
        ("announce", {"test": 1}, "test must be True or False, not 1"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(arp, segment, function, arguments, message):
    segment, db, _ = segment
    db.batch(
        [
            "link add bare0 type veth peer name bare1",
            "link set bare0 up",
            "link set bare1 up",
            "link add down0 type veth peer name down1",
            "addr add 198.51.100.1/24 dev down0",
        ]
    )
    cache(db, WORKER_IP, OLD_MAC, "reachable")
    before = table(db)
    wire = segment.sent_by(db, seconds=1)
    with pytest.raises(SaltInvocationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        if function == "verify":
            arp.verify(netns=db.name, **{"fix": True, **arguments})
        else:
            arp.announce(netns=db.name, **arguments)
    assert table(db) == before
    targets = {WORKER_IP, WORKER_IP6, DB_IP, lab.DB_IP6}
    assert questions(wire.frames(), targets, kinds=(1, 2), icmp=(135, 136)) == [], "nothing was sent"


@pytest.mark.once
def test_a_run_too_long_to_end_in_time_is_refused_before_anything_is_sent(tables_alone, arp, segment):
    segment, db, _ = segment
    db.batch(
        [
            f"neigh replace 198.18.{n // 250}.{n % 250 + 1} dev eth0 lladdr 02:00:00:18:00:01 nud stale"
            for n in range(301)
        ]
    )
    before = table(db)
    with pytest.raises(
        SaltInvocationError, match="asking about 301 entries at 1 a second would take 301 s, over the 300 s"
    ):
        arp.verify(netns=db.name, rate=1, fix=True)
    assert table(db) == before


def test_a_missing_namespace_is_refused_without_listing_the_hosts_namespaces(arp, netlab):
    other = netlab.namespace("other")
    for function in (arp.verify, arp.announce, arp.flush_stale, arp.list):
        with pytest.raises(SaltInvocationError, match="network namespace 'arph-missing' does not exist") as raised:
            function(netns="arph-missing")
        assert other.name not in str(raised.value)
