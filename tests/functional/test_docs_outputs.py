"""
The outputs the documentation shows are what the current code prints. The
commands of docs/guide/module.md's examples (list, the flushes, bad input;
verify; announce, addresses and forget) run again through salt-call in a lab built as the page describes,
and each output is compared with the page's: YAML as data (ages, which
move, left out; entries in any order, as the kernel's dump has its own; a
log line the page shows as a comment found on stderr, several MACs, which
answer in any order, sorted); an error by its lines (salt-call prints the
function's documentation around the line the page shows). The lab's
namespaces stand as ``blue``, ``db`` and ``worker`` on the page. On a difference the
test prints the fresh output, to paste. The metrics page's file is written
again by a flush of the lab table of every NUD state: the same HELP and TYPE
lines, the same samples with the same values (times and the host's
gc_thresh3 aside), and as many table samples as the page says it leaves out.
The upgrading page's arp.version before and after a sync is run again on a
masterless minion like the page's, word for word but for its paths.
"""

import re
import shutil
import time

import pytest
import yaml

from tests.support import REPO, lab, module_from_checkout, segments

policy = module_from_checkout("_arp_hygiene_policy")

PAGE = f"{REPO}/docs/guide/module.md"
AGES = ("confirmed", "used", "updated")
MAC_LIST = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}(?:, [0-9a-f]{2}(?::[0-9a-f]{2}){5})*")
# The lab of the page: a veth pair eth0-eth1 inside the namespace (both up,
# timers frozen), 192.0.2.1/24 on eth0; on eth0 a permanent gateway entry, a
# stale and a reachable one.
ENTRIES = [
    {"dst": "192.0.2.254", "ifname": "eth0", "state": "permanent", "lladdr": "02:00:00:00:fe:01"},
    {"dst": "192.0.2.20", "ifname": "eth0", "state": "stale", "lladdr": "02:00:00:00:20:01"},
    {"dst": "192.0.2.21", "ifname": "eth0", "state": "reachable", "lladdr": "02:00:00:00:21:01"},
]


def shown(page):
    """{command: output} of the page's examples: each `# salt-call ...` line and the lines after it."""
    examples, command = {}, None
    for line in page.splitlines():
        if line.startswith("```"):
            command = None
        elif line.startswith("# salt-call "):
            command = line[2:]
            examples[command] = []
        elif line.startswith("# ("):
            command = None  # the page's narration between commands, and what follows it
        elif command:
            examples[command].append(line)
    return {command: "\n".join(lines) for command, lines in examples.items()}


def yaml_data(text):
    """salt-call's YAML output as data, ages left out and lists sorted; None for any other output."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or "local" not in data:
        return None

    def age_free(value):
        if isinstance(value, dict):
            return {key: ("an age" if key in AGES else age_free(item)) for key, item in value.items()}
        if isinstance(value, list):
            return sorted((age_free(item) for item in value), key=repr)
        return value

    return age_free(data)


def macs_sorted(text):
    """Each list of MACs in a text in sorted order: several answers come in the order they arrive."""
    return MAC_LIST.sub(lambda found: ", ".join(sorted(found.group(0).split(", "))), text)


def matches(stdout, stderr, expected):
    """
    YAML compared as data, and each log line the page shows as a comment
    (``# [WARNING ] ...``) found on stderr; any other output (an error) by its
    lines: each the page shows is printed.
    """
    data = yaml_data(expected)
    if data is not None:
        logged = [macs_sorted(line[2:].strip()) for line in expected.splitlines() if line.startswith("# [")]
        return yaml_data(stdout) == data and all(line in macs_sorted(stderr) for line in logged)
    lines = {line.strip() for line in (stdout + stderr).splitlines()}
    return all(line.strip() in lines for line in expected.splitlines() if line.strip())


def differences(examples, config, names, before=None):
    """
    The examples whose output differs from what salt-call prints now, each
    with the fresh output. ``names``: {name on the page: the lab's
    namespace}; ``before(command)`` prepares the lab for a command.
    """
    differ = []
    for command, expected in examples.items():
        words = command.split()[1:]  # after salt-call
        assert words[0] == "--local", command
        given = [word[len("netns=") :] for word in words if word.startswith("netns=")]
        assert given and given[0] in names, f"the page's commands name the lab's namespace: {command}"
        args = [f"netns={names[given[0]].name}" if word.startswith("netns=") else word for word in words[1:]]
        if before:
            before(args)
        done = lab.salt_call(config, *args)
        stdout, stderr = done.stdout, done.stderr
        for page_name, ns in names.items():
            stdout, stderr = stdout.replace(ns.name, page_name), stderr.replace(ns.name, page_name)
        if not matches(stdout, stderr, expected):
            differ.append(f"# {command}\n{stdout}{stderr}")
    return differ


@pytest.mark.once
def test_the_module_pages_list_and_flush_examples_print_what_the_module_prints(netlab, tmp_path):
    with open(PAGE, encoding="utf-8") as stream:
        examples = shown(stream.read().split("\n## ", 1)[0])  # the page's first part
    assert len(examples) >= 6, examples
    ns = netlab.namespace("docs")
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ns.freeze_timers("eth0")
    ns.batch(["link set eth0 up", "link set eth1 up", "addr add 192.0.2.1/24 dev eth0"])
    lab.add_entries(ns, ENTRIES)

    def before(args):
        if "arp.flush" in args and "interface=eth0" in args:
            lab.add_entries(ns, ENTRIES[1:2])  # the flush_stale before it deleted the stale entry

    differ = differences(examples, lab.salt_config(str(tmp_path)), {"blue": ns}, before)
    assert not differ, "the page shows other outputs than the module prints now:\n" + "\n".join(differ)


@pytest.mark.once
def test_the_module_pages_verify_examples_print_what_the_module_prints(netlab, tmp_path):
    with open(PAGE, encoding="utf-8") as stream:
        part = stream.read().split("\n## `arp.verify` and `arp.announce`", 1)[1].split("\n### ", 1)[0]
    examples = shown(part)
    assert len(examples) == 4, examples
    # The page's segment: the gateway answers as cached; two hosts claim
    # 192.0.2.40; the new worker has 192.0.2.20, which the database maps to
    # the old worker's MAC; nobody has 192.0.2.99.
    segment = segments.Segment(netlab, ipv6=False)
    db = segment.host("db", lab.DB_IP, lab.DB_MAC)
    segment.host("gateway", "192.0.2.1", "02:00:00:00:01:01")
    segment.host("claims", "192.0.2.40", "02:00:00:00:40:01")
    segment.host("claims", "192.0.2.40", "02:00:00:00:40:02")
    segment.host("worker", lab.WORKER_IP, lab.NEW_MAC)
    for address, mac in (
        ("192.0.2.1", "01:01"),
        ("192.0.2.40", "40:01"),
        ("192.0.2.20", "20:01"),
        ("192.0.2.99", "99:01"),
    ):
        db.ip("neigh", "replace", address, "dev", "eth0", "lladdr", f"02:00:00:00:{mac}", "nud", "stale")
    differ = differences(examples, lab.salt_config(str(tmp_path)), {"db": db})
    assert not differ, "the page shows other outputs than the module prints now:\n" + "\n".join(differ)


@pytest.mark.once
def test_the_module_pages_announce_addresses_and_forget_examples_print_what_the_module_prints(netlab, tmp_path):
    with open(PAGE, encoding="utf-8") as stream:
        page = stream.read()
    announce = shown(page.split("\n### What verify sends", 1)[1].split("\n## ", 1)[0])
    forget = shown(page.split("\n## `arp.forget` and `arp.addresses`", 1)[1].split("\n## ", 1)[0])
    assert (len(announce), len(forget)) == (1, 4), (announce, forget)
    hole = segments.BlackHole(netlab)  # db maps 192.0.2.20 to the old worker's MAC; the new worker has it
    deadline = time.monotonic() + 10
    while hole.worker.ip("addr", "show", "tentative").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.2)  # announce skips addresses still in duplicate address detection
    forgets = []

    def before(args):
        forgets.append("arp.forget" in args)
        if forgets.count(True) == 3:
            # The page: "the new worker connects: the database asks for 192.0.2.20 and learns its MAC".
            assert hole.connect(), "the new worker's check failed after the forget"

    config = lab.salt_config(str(tmp_path))
    names = {"db": hole.db, "worker": hole.worker}
    # Forget first: the announcement would teach the database the new MAC.
    differ = differences(forget, config, names, before) + differences(announce, config, names)
    assert not differ, "the page shows other outputs than the module prints now:\n" + "\n".join(differ)


@pytest.mark.once
def test_the_metrics_page_shows_the_samples_a_flush_writes(table, tmp_path):
    ns, _ = table
    with open(f"{REPO}/docs/guide/metrics.md", encoding="utf-8") as stream:
        block = stream.read().split("# cat /tmp/readme-textfile/arp_hygiene_flush.prom\n", 1)[1].split("```", 1)[0]
    # The page's samples (the narration in parentheses aside), and its HELP and TYPE lines.
    page = [line for line in block.splitlines() if line and not line.startswith("(")]
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    done = lab.salt_call(
        lab.salt_config(str(tmp_path / "conf")), "arp.flush_stale", f"netns={ns.name}", f"metrics_dir={textfile}"
    )
    assert done.returncode == 0, done.stderr
    written = (textfile / "arp_hygiene_flush.prom").read_text().splitlines()
    samples = dict(line.rsplit(" ", 1) for line in written if not line.startswith("#"))
    assert [line for line in page if line.startswith("#")] == [line for line in written if line.startswith("#")]
    # "(... N more lines of arp_hygiene_neighbour_entries ...)": the page's count of what it leaves out.
    (more,) = [
        int(re.search(r"(\d+) more lines", line).group(1)) for line in block.splitlines() if "more lines" in line
    ]
    shown_entries = [line for line in page if line.startswith("arp_hygiene_neighbour_entries")]
    assert (
        len([name for name in samples if name.startswith("arp_hygiene_neighbour_entries")]) == len(shown_entries) + more
    )
    for line in page:
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        assert name in samples, f"the page shows {name}, which the flush no longer writes"
        if not name.startswith(
            (
                "arp_hygiene_last_run_timestamp",
                "arp_hygiene_last_run_duration",
                "arp_hygiene_last_success_timestamp",
                "arp_hygiene_gc_thresh3",
                "arp_hygiene_kernel_",
            )
        ):
            assert samples[name] == value, (name, samples[name], value)


def test_the_upgrading_page_shows_which_copy_runs(tmp_path):
    with open(f"{REPO}/docs/guide/upgrading.md", encoding="utf-8") as stream:
        part = stream.read().split("## Which copy runs", 1)[1]
    examples = shown(part.split("\n## ", 1)[0])
    assert list(examples) == ["salt-call --local arp.version", "salt-call --local saltutil.sync_modules"], examples
    # The page's minion: masterless, its file_roots holding a copy of salt/_modules, under /tmp/vdemo.
    root = tmp_path / "vdemo"
    shutil.copytree(f"{REPO}/salt/_modules", root / "roots" / "_modules", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "conf").mkdir()
    (root / "conf" / "minion").write_text(
        f"root_dir: {root}/root\nfile_client: local\nfile_roots:\n  base: [{root}/roots]\nid: db1\nlog_level: warning\n"
    )
    printed = []
    for command in ("arp.version", "saltutil.sync_modules", "arp.version"):
        done = lab.salt_call(str(root / "conf"), command)
        assert done.returncode == 0, done.stderr
        printed.append(f"# salt-call --local {command}\n" + done.stdout.rstrip())
    fresh = "\n".join(printed).replace(REPO, "/work/main").replace(str(root), "/tmp/vdemo")
    page = part.split("```\n", 1)[1].split("```", 1)[0].rstrip()
    assert fresh == page, f"the page shows other outputs than salt-call prints now:\n{fresh}"


DIAGNOSE = "# salt-call --local --out=yaml arp.diagnose interface=eth0 family=inet netns=db"


def _steady(output):
    """diagnose's YAML as data, this host's moving numbers (the kernel's count, its counters) left out."""
    data = yaml.safe_load(output)
    for facts in data["local"].values():
        facts["kernel_entries"] = None
        facts["counters"] = sorted(facts["counters"])
        for finding in facts["findings"]:
            if "kernel_entries" in finding["facts"]:
                finding["facts"]["kernel_entries"] = None
            finding["risk"] = re.sub(r"holds \d+ entries", "holds N entries", finding["risk"])
    return data


def _on_this_host(page, printed):
    """
    The page's diagnose output as this host would print it: its kernel count
    and counters (the kernel's table is every namespace's, and the counters
    count since boot: the page's come from a quiet host) put in, and the
    findings that follow from them drawn again by the rule (policy.findings).
    """
    page, printed = yaml.safe_load(page), yaml.safe_load(printed)
    for family, facts in page["local"].items():
        facts["kernel_entries"] = printed["local"][family]["kernel_entries"]
        facts["counters"] = printed["local"][family]["counters"]
        facts["findings"] = policy.findings(family, facts)
    return yaml.safe_dump(page)


def test_the_module_pages_diagnose_example_and_readmes_excerpt_print_what_the_module_prints(
    tables_alone, netlab, tmp_path
):
    with open(PAGE, encoding="utf-8") as stream:
        block = stream.read().split(DIAGNOSE + "\n", 1)[1].split("```", 1)[0]
    # The page's namespace: 40 entries on eth0, which waits 30 s before it probes.
    ns = netlab.namespace("db")
    ns.batch(["link add eth0 type veth peer name eth1", "addr add 192.0.2.1/24 dev eth0"])
    ns.batch(["link set eth0 up", "link set eth1 up"])
    ns.batch([f"neigh replace 192.0.2.{n} dev eth0 lladdr 02:00:00:00:71:{n:02x} nud stale" for n in range(10, 50)])
    ns.sysctl(**{"net.ipv4.neigh.eth0.delay_first_probe_time": 30})
    done = lab.salt_call(lab.salt_config(str(tmp_path)), "--out=yaml", *DIAGNOSE.split()[4:-1], f"netns={ns.name}")
    assert done.returncode == 0, done.stderr
    # The page's findings are the rule's for the page's facts; and what the
    # module prints here is the page's, but for this host's kernel numbers.
    page = yaml.safe_load(block)["local"]
    assert all(facts["findings"] == policy.findings(family, facts) for family, facts in page.items()), page
    expected = _on_this_host(block, done.stdout)
    assert _steady(done.stdout) == _steady(expected), "the page shows another output than the module prints now:\n" + (
        done.stdout
    )
    # README's excerpt: lines of the page's output, in its order.
    with open(f"{REPO}/README.md", encoding="utf-8") as stream:
        excerpt = stream.read().split(DIAGNOSE + "\n", 1)[1].split("```", 1)[0].splitlines()
    lines = iter(block.splitlines())
    missing = [line for line in excerpt if not line.strip().startswith("...") and line not in lines]
    assert not missing, missing
