"""
The formula as a minion renders it (state.show_sls through Salt's loader,
file_client local, the checkout's salt/ as the file root), for the default
pillar, pillar.example and pillars whose paths coincide: no sls renders two
states for one resource (one name per state function), and the pillar rules
that only the render knows (the minion's kernel, two parts of the formula
setting one key) refuse with the key named.
"""

import collections
import os
import re

import pytest
import salt.utils.yaml

from tests.support import REPO

FORMULA = os.path.join(REPO, "salt", "arp_hygiene")
# What an operator's top file applies together: the formula (which includes
# every other sls but these), the workers' announce and the master's
# drop-in; clean is applied on its own. Two sls that render one ID would
# fail the render.
TOGETHER = "arp_hygiene,arp_hygiene.announce,arp_hygiene.master"
APPLIED = [TOGETHER, "arp_hygiene.clean"]


def example():
    with open(os.path.join(REPO, "pillar.example"), encoding="utf-8") as stream:
        return salt.utils.yaml.safe_load(stream)["arp_hygiene"]


PILLARS = {
    "default": {},
    "pillar.example": example(),
    # Both reports in one directory that does not exist, the metrics there
    # too, the boot job and arp_notify beside the sysctl file's other keys.
    "coinciding paths": {
        "report_file": "/nonexistent/arp-hygiene-test/flush.json",
        "verify": {"report_file": "/nonexistent/arp-hygiene-test/verify.json"},
        "metrics": {"textfile_dir": "/nonexistent/arp-hygiene-test"},
        "sysctl": {"net.ipv4.neigh.default.gc_thresh1": 256},
        "announce": {"arp_notify": True, "at_boot": True},
    },
    "no reports": {"report_file": None, "verify": {"report_file": None}},
    "scheduler": {"method": "salt", "verify": {"report_file": "/var/log/salt/arp_hygiene.json", "enabled": False}},
    "no jobs": {"method": "none", "enforce": False, "announce": {"at_boot": False}},
}


@pytest.fixture(scope="module")
def state(salt_factories):
    """Salt's state module on a masterless minion whose file root is the checkout's salt/."""
    from saltfactories.utils.functional import Loaders

    factory = salt_factories.salt_minion_daemon(
        "arp-render",
        overrides={"file_client": "local", "file_roots": {"base": [os.path.join(REPO, "salt")]}},
    )
    return Loaders(factory.config.copy()).modules.state


def render(state, mods, settings):
    rendered = state.show_sls(mods, pillar={"arp_hygiene": settings})
    assert isinstance(rendered, dict), rendered
    return rendered


def resources(rendered):
    """(module.function, name) of every state rendered, once each time it is."""
    for state_id, body in rendered.items():
        for module, arguments in body.items():
            if module.startswith("__"):
                continue
            function = next(arg for arg in arguments if isinstance(arg, str))
            name = next((arg["name"] for arg in arguments if isinstance(arg, dict) and "name" in arg), state_id)
            yield f"{module}.{function}", name


def test_together_the_sls_files_are_every_sls_but_clean_and_invalid():
    every = {name[: -len(".sls")] for name in os.listdir(FORMULA) if name.endswith(".sls")}
    included = set()
    for name in every:
        with open(os.path.join(FORMULA, f"{name}.sls"), encoding="utf-8") as sls:
            included |= set(re.findall(r"^\s+- (?:\{\{ tplroot \}\})?\.(\w+)$", sls.read(), flags=re.M))
    assert every - included - {"init"} == {"announce", "master", "clean"}


@pytest.mark.parametrize("mods", APPLIED)
@pytest.mark.parametrize("pillar", PILLARS)
def test_no_sls_renders_two_states_for_one_resource(state, mods, pillar):
    rendered = render(state, mods, PILLARS[pillar])
    assert "arp_hygiene-invalid-test-pillar" not in rendered, rendered

    counted = collections.Counter(resources(rendered))

    assert {resource: n for resource, n in counted.items() if n > 1} == {}
    assert mods == "arp_hygiene.clean" or len(counted) > 10


def refused(state, settings):
    """The comment of the one failed state that a refused pillar renders to."""
    rendered = render(state, "arp_hygiene", settings)
    (invalid,) = rendered.values()
    arguments = invalid["test"]
    return next(arg["comment"] for arg in arguments if isinstance(arg, dict) and "comment" in arg)


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"sysctl": {"net.ipv4.neigh.default.gc_stale_tme": 60}},
            'pillar arp_hygiene:sysctl has the key "net.ipv4.neigh.default.gc_stale_tme"; this kernel has no setting '
            '"gc_stale_tme" in net.ipv4.neigh (/proc/sys/net/ipv4/neigh/default/ lists its settings)',
        ),
        (
            {"sysctl": {"net.ipv4.conf.all.arp_notify": 0}, "announce": {"arp_notify": True}},
            'pillar arp_hygiene:sysctl has the key "net.ipv4.conf.all.arp_notify", which announce:arp_notify sets; '
            "allowed: one of the two (announce:arp_notify: true sets it to 1 on all and default)",
        ),
        (
            {"report_file": "/var/tmp/r.json", "verify": {"report_file": "/var/tmp/r.json"}},
            'pillar arp_hygiene:verify:report_file is "/var/tmp/r.json"; allowed: a file other than report_file: '
            "each job writes its own report",
        ),
        (
            {"report_file": "/usr/local/sbin/arp-hygiene-job"},
            'pillar arp_hygiene:report_file is "/usr/local/sbin/arp-hygiene-job"; allowed: a file of its own: '
            'the formula writes "/usr/local/sbin/arp-hygiene-job" itself',
        ),
        (
            {"verify": {"report_file": "/var/lib/arp-hygiene/cron.json"}},
            'pillar arp_hygiene:verify:report_file is "/var/lib/arp-hygiene/cron.json"; allowed: a file of its own',
        ),
    ],
)
def test_a_pillar_that_only_the_render_can_judge_is_refused_naming_the_key(state, settings, message):
    assert refused(state, settings).startswith(message)


def test_the_same_report_file_is_accepted_when_verify_writes_none(state):
    settings = {"report_file": "/var/tmp/r.json", "verify": {"enabled": False, "report_file": "/var/tmp/r.json"}}
    rendered = render(state, "arp_hygiene.cron", settings)
    assert "arp_hygiene-invalid-test-pillar" not in rendered
