"""
The outputs the documentation shows are what the current code prints. Each
command of docs/guide/module.md's first part (list, the flushes, bad input) runs again through salt-call in a
lab namespace built as the page describes, and its output is compared with
the page's: as data for YAML (ages, which move, left out;
entries in any order, as the kernel's dump has its own), word for word for
an error by its lines (salt-call prints the function's documentation around
the line the page shows). The namespace's name stands as ``blue`` on the page. On a
difference the test prints the fresh output, to paste.
"""

import re

import pytest
import yaml

from tests.support import REPO, lab

PAGE = f"{REPO}/docs/guide/module.md"
AGES = ("confirmed", "used", "updated")
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


def matches(printed, expected):
    """YAML compared as data; any other output (an error) by its lines: each the page shows is printed."""
    data = yaml_data(expected)
    if data is not None:
        return yaml_data(printed) == data
    lines = {line.strip() for line in printed.splitlines()}
    return all(line.strip() in lines for line in expected.splitlines() if line.strip())


@pytest.mark.once
def test_the_module_page_shows_what_the_module_prints(netlab, tmp_path):
    with open(PAGE, encoding="utf-8") as stream:
        # The page's first part: list and the flushes (verify, announce and forget need a segment).
        examples = shown(stream.read().split("\n## ", 1)[0])
    assert len(examples) >= 6, examples
    ns = netlab.namespace("docs")
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ns.freeze_timers("eth0")
    ns.batch(["link set eth0 up", "link set eth1 up", "addr add 192.0.2.1/24 dev eth0"])
    lab.add_entries(ns, ENTRIES)
    config = lab.salt_config(str(tmp_path))
    differ = []
    for command, expected in examples.items():
        words = command.split()[1:]  # after salt-call
        assert words[0] == "--local", command
        assert "netns=blue" in words, f"the page's commands name the lab's namespace: {command}"
        args = [word.replace("netns=blue", f"netns={ns.name}") for word in words[1:]]
        if "arp.flush" in args and "interface=eth0" in args:
            lab.add_entries(ns, ENTRIES[1:2])  # the flush_stale before it deleted the stale entry
        done = lab.salt_call(config, *args)
        printed = (done.stdout + done.stderr).replace(ns.name, "blue")
        printed = "\n".join(line for line in printed.splitlines() if "DeprecationWarning" not in line)
        printed = re.sub(r"\n\s+import crypt.*", "", printed)
        if not matches(printed, expected):
            differ.append(f"# {command}\n{printed}")
    assert not differ, "the page shows other outputs than the module prints now:\n" + "\n".join(differ)
