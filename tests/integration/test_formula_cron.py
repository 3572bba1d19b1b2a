"""
The formula's cron line, through a real master and minion: every pillar the
checks accept reaches the module exactly as given (cron's % included), and a
real cron daemon runs it. (A fleet's minions run at minutes of their own:
tests/unit/formula/test_formula_render.py.)
"""

import ipaddress
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import lab
from tests.support.master import NO_VERIFY, STALE_FLUSH_ONLY, apply_cron, cron_split, job_lines, run_as_cron
from tests.support.tables import LEARNED, every_state, keys, snapshot, without_collected

# A link-local router on each side of the lab table, to exclude by scope id.
ROUTERS = [{"dst": "fe80::1", "ifname": side, "state": "stale", "lladdr": "02:00:00:00:fe:01"} for side in ("a0", "b0")]
NETWORKS = ["192.0.2.0/24", "198.51.100.0/28", "2001:db8:a::/64", "fe80::%a0/64", "fe80::/64"]
EXCLUDES = ["192.0.2.11", "198.51.100.0/30", "2001:db8:b::/64", "fe80::1%a0", "fe80::1%b0", "fe80::1"]


def selected(key, value, states, family, interfaces, network, exclude):
    """The oracle of what a flush takes, scope ids included (fe80::1%a0: that address on a0 only)."""
    dst, dev = key
    _, state, flags = value
    address = ipaddress.ip_address(dst)

    def inside(item):
        net, _, scope = item.partition("%")
        if scope:
            scope, _, prefix = scope.partition("/")
            net = f"{net}/{prefix}" if prefix else net
        return address in ipaddress.ip_network(net) and (not scope or scope == dev)

    return (
        state in states
        and "extern_learn" not in flags
        and (family == "all" or address.version == (4 if family == "inet" else 6))
        and (not interfaces or dev in interfaces)
        and (network is None or inside(network))
        and not any(inside(item) for item in exclude)
    )


@st.composite
def flush_pillars(draw):
    family = draw(st.sampled_from(["inet", "inet6", "all"]))
    family_as_given = draw(st.sampled_from([family, family.upper()]))  # any case, as the module takes it
    networks = [n for n in NETWORKS if family == "all" or (":" in n) == (family == "inet6")]
    states = draw(st.lists(st.sampled_from(LEARNED), min_size=1, max_size=3, unique=True))
    return {
        "family": family_as_given,
        # A list, or the comma-separated string pillar also takes, in any case and spacing.
        "states": draw(st.sampled_from([states, ",".join(states), " , ".join(state.upper() for state in states)])),
        "interfaces": draw(st.lists(st.sampled_from(["a0", "b0"]), max_size=2, unique=True)),
        "network": draw(st.none() | st.sampled_from(networks)),
        "exclude": draw(st.lists(st.sampled_from(EXCLUDES), max_size=3, unique=True)),
        "min_age": draw(st.sampled_from([0, 3600])),
    }


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flush=flush_pillars(), name=st.sampled_from(["report.json", "a_b-c.d.json", "sub/dir/r.json"]))
def test_every_accepted_pillar_reaches_the_module_as_given(salt_cli, clean, table, tmp_path, flush, name):
    ns, _ = table
    lab.add_entries(ns, every_state() + ROUTERS)  # the stale entries again, after the last example's flush
    before = snapshot(ns)
    # Seconds since each entry was confirmed, as ip reads them (the lab backdates
    # learned entries by two hours; reachable, permanent and noarp ones read 0).
    confirmed = {
        (entry["dst"], entry["dev"]): entry.get("confirmed", 0)
        for entry in json.loads(ns.ip("-s", "-j", "neigh", "show", "nud", "all").stdout)
    }
    report = tmp_path / name
    if report.exists():
        report.unlink()
    apply_cron(
        salt_cli,
        {"method": "cron", "report_file": str(report), "flush": dict(flush, netns=ns.name), "verify": NO_VERIFY},
    )

    minute, command, stdin = cron_split(job_lines()[1])
    assert stdin is None, f"cron would cut the command at a %: {command!r}"
    result = run_as_cron(job_lines()[1])

    assert result.returncode == 0, result.stderr
    states = flush["states"].split(",") if isinstance(flush["states"], str) else flush["states"]
    oracle = dict(flush, states=[state.strip().lower() for state in states], family=flush["family"].lower())
    gone = {
        key
        for key, value in before.items()
        if selected(key, value, **{k: oracle[k] for k in ("states", "family", "interfaces", "network", "exclude")})
        and confirmed[key] >= flush["min_age"]
    }
    done = json.loads(report.read_text())["local"]
    assert keys(done["deleted"]) == gone
    assert (after := snapshot(ns)) == without_collected(
        {key: value for key, value in before.items() if key not in gone}, after
    )


def test_a_real_cron_daemon_runs_a_job_that_excludes_a_scoped_router(salt_cli, clean, table, tmp_path, cron_daemon):
    ns, _ = table
    lab.add_entries(ns, ROUTERS)
    before = snapshot(ns)
    report = tmp_path / "report.json"
    apply_cron(
        salt_cli,
        {
            "method": "cron",
            "interval_minutes": 1,
            "report_file": str(report),
            "flush": STALE_FLUSH_ONLY | {"family": "all", "exclude": ["fe80::1%a0"], "netns": ns.name},
            "verify": NO_VERIFY,
        },
    )
    assert "'exclude=[\"fe80::1\\%a0\"]'" in job_lines()[1], job_lines()[1]

    cron_daemon()
    deadline = time.monotonic() + 90  # the next minute, and the job's run
    while time.monotonic() < deadline and not (report.exists() and report.stat().st_size):
        time.sleep(1)

    assert report.exists(), "cron did not run the job within 90 s"
    deleted = keys(json.loads(report.read_text())["local"]["deleted"])
    stale = {key for key, (_, state, flags) in before.items() if state == "stale" and "extern_learn" not in flags}
    assert deleted == stale - {("fe80::1", "a0")}
    assert ("fe80::1", "a0") in snapshot(ns) and ("fe80::1", "b0") not in snapshot(ns)
