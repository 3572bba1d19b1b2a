"""
The formula as a minion renders it (state.show_sls through Salt's loader,
file_client local, the checkout's salt/ as the file root), for the default
pillar, pillar.example and pillars whose paths coincide: no sls renders two
states for one resource (one name per state function), and the pillar rules
that only the render knows (the minion's kernel, two parts of the formula
setting one key) refuse with the key named.
"""

import collections
import json
import os
import re
import shutil

import pytest
import salt.utils.yaml

from tests.support import REPO, checkout_file

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
    "diagnosed": {"diagnose": {"enabled": True, "fail_on": ["table_full"]}},
}


def minion(salt_factories, minion_id):
    """Salt's loaders of a masterless minion ``minion_id`` whose file root is the checkout's salt/."""
    from saltfactories.utils.functional import Loaders

    factory = salt_factories.salt_minion_daemon(
        minion_id,
        overrides={"file_client": "local", "file_roots": {"base": [os.path.join(REPO, "salt")]}},
    )
    return Loaders(factory.config.copy())


@pytest.fixture(scope="module")
def loaders(salt_factories):
    return minion(salt_factories, "arp-render")


@pytest.fixture(scope="module")
def state(loaders):
    return loaders.modules.state


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
    # Each sls applied renders states of its own (how many depends on the
    # host: without a crontab there is no cron job to remove).
    # init.sls only includes: the sls files it includes render.
    rendering = {body["__sls__"] for body in rendered.values()}
    applied = set(mods.split(","))
    assert rendering >= applied - {"arp_hygiene", "arp_hygiene.clean"}
    assert "arp_hygiene" not in applied or rendering - applied, rendering


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


def arguments(rendered, state_id):
    """{argument: value} of a rendered state."""
    (body,) = [value for key, value in rendered[state_id].items() if not key.startswith("__")]
    return {key: value for item in body if isinstance(item, dict) for key, value in item.items()}


@pytest.mark.parametrize(
    "install, requirement, expected",
    [
        # pyroute2 in this virtualenv satisfies the default: nothing to install (no pip run).
        ("pip", "pyroute2>=0.9.1,<0.10", {"test": "arp_hygiene-pyroute2-pip-installed"}),
        ("pip", "pyroute2>=99", {"pip": "pyroute2>=99"}),
        ("pkg", "pyroute2>=0.9.1,<0.10", {"pkg": "python3-pyroute2"}),
        ("none", "pyroute2>=0.9.1,<0.10", {}),
    ],
)
def test_pillar_chooses_how_pyroute2_is_installed(state, never_synced, install, requirement, expected):
    settings = {"pyroute2": {"install": install, "pip": requirement}, "method": "none"}
    rendered = render(state, "arp_hygiene", settings)
    installers = {
        module: arguments(rendered, key).get("name", key)
        for key, body in rendered.items()
        if key.startswith("arp_hygiene-pyroute2-")
        for module in body
        if not module.startswith("__")
    }
    assert installers == expected
    # The arp states wait for the modules: synced (this minion has no copy
    # of the served ones), pyroute2 installed, the module there.
    assert arguments(rendered, "arp_hygiene-enforce-arp-no_stale")["require"] == [
        {"test": "arp_hygiene-sync-test-module-available"}
    ]
    installed = [{"id": f"arp_hygiene-pyroute2-{install}-installed"}] if expected else []
    assert arguments(rendered, "arp_hygiene-sync-test-module-available")["require"] == [
        {"saltutil": "arp_hygiene-sync-saltutil-sync_modules"},
        {"saltutil": "arp_hygiene-sync-saltutil-sync_states"},
        {"saltutil": "arp_hygiene-sync-saltutil-sync_grains"},
        *installed,
    ]


def served_copies(loaders):
    """The minion's copies of the served arp modules, states and grains (salt-factories' Loaders syncs them first)."""
    extmods = loaders.opts["extension_modules"]
    for kind in ("modules", "states", "grains"):
        for name in os.listdir(os.path.join(REPO, "salt", f"_{kind}")):
            if name == "arp.py" or name.startswith("_arp_hygiene_"):
                yield os.path.join(REPO, "salt", f"_{kind}", name), os.path.join(extmods, kind, name)


@pytest.fixture
def synced_copies(loaders):
    """Copies of the served arp modules, states and grains in the minion's extension_modules, as a sync leaves them."""
    copies = list(served_copies(loaders))
    for source, copy in copies:
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copyfile(source, copy)
    yield [copy for _, copy in copies]
    for source, copy in copies:
        shutil.copyfile(source, copy)


@pytest.fixture
def never_synced(synced_copies):
    """A minion that has never synced the arp modules, states and grains."""
    for copy in synced_copies:
        os.unlink(copy)


def test_the_modules_are_synced_only_when_the_served_ones_differ(state, synced_copies):
    def syncs():
        rendered = render(state, "arp_hygiene", {"method": "none"})
        return sorted(key for key in rendered if key.startswith("arp_hygiene-sync-saltutil-"))

    assert syncs() == []
    with open(synced_copies[0], "a", encoding="utf-8") as copy:
        copy.write("# an older copy\n")
    assert syncs() == ["arp_hygiene-sync-saltutil-sync_modules"]
    os.unlink(synced_copies[0])
    assert syncs() == ["arp_hygiene-sync-saltutil-sync_modules"]


def test_a_fleet_runs_at_minutes_of_its_own_and_without_spread_together(salt_factories, state):
    web = minion(salt_factories, "arp-web").modules.state
    cron_minute = checkout_file("salt/arp_hygiene/map.py").cron_minute
    interval = next(n for n in range(2, 60) if cron_minute("arp-render", n, True) != cron_minute("arp-web", n, True))
    settings = {"method": "cron", "interval_minutes": interval, "report_file": "/var/tmp/r.json"}
    job = "arp_hygiene-cron-cron-present-arp_hygiene-flush"

    def minute(state_module, settings):
        return arguments(render(state_module, "arp_hygiene.cron", settings), job)["minute"]

    db, other = minute(state, settings), minute(web, settings)
    assert db == cron_minute("arp-render", interval, True) != other == cron_minute("arp-web", interval, True)
    assert minute(state, settings) == db, "the same minute every time"
    together = {**settings, "spread": False}
    assert minute(state, together) == minute(web, together) == f"*/{interval}"

    scheduled = "arp_hygiene-schedule-schedule-present-arp_hygiene-flush"
    splayed = arguments(render(state, "arp_hygiene.schedule", {**settings, "method": "salt"}), scheduled)
    assert splayed["splay"] == interval * 30 and splayed["minutes"] == interval
    unsplayed = render(state, "arp_hygiene.schedule", {**settings, "method": "salt", "spread": False})
    assert "splay" not in arguments(unsplayed, scheduled)


def test_arp_notify_is_planned_on_all_and_default(state):
    rendered = render(state, "arp_hygiene.announce", {"announce": {"arp_notify": True, "at_boot": False}})
    planned = sorted(
        (arguments(rendered, key)["name"], arguments(rendered, key)["value"])
        for key in rendered
        if key.startswith("arp_hygiene-announce-sysctl")
    )
    assert planned == [("net.ipv4.conf.all.arp_notify", 1), ("net.ipv4.conf.default.arp_notify", 1)]


def test_clean_reads_the_records_and_takes_an_empty_one_for_one_being_written(loaders, tmp_path):
    # Salt creates a record's file, then fills it: a clean that renders meanwhile
    # (another highstate writing it) finds it empty.
    (tmp_path / "flush.json").write_text(json.dumps({"files": {"/var/log/salt/arp_hygiene.json": "flush"}}))
    (tmp_path / "announce.json").write_text("")
    template = (
        '{%- from "arp_hygiene/written.jinja" import read_records with context %}'
        f"{{{{ read_records({str(tmp_path)!r}) }}}}"
    )
    merged = json.loads(loaders.modules.slsutil.renderer(string=template, default_renderer="jinja"))
    assert merged["records"] == [str(tmp_path / "flush.json")]
    assert merged["files"] == {"/var/log/salt/arp_hygiene.json": "flush"}


def test_diagnose_renders_arp_diagnosed_with_the_pillars_fail_on_only_when_enabled(state):
    rendered = render(state, "arp_hygiene.diagnose", {"diagnose": {"enabled": True, "fail_on": ["table_full"]}})
    body = rendered["arp_hygiene-diagnose-arp-diagnosed"]
    if "arp" in body:  # this checkout's arp module is loadable here: the state itself
        arguments = {key: value for item in body["arp"] if isinstance(item, dict) for key, value in item.items()}
        assert arguments["fail_on"] == ["table_full"] and arguments["netns"] is None
    else:  # test mode before a sync: what the live run will do
        assert body["test"][0] == "configurable_test_state"
    assert "arp_hygiene-diagnose-arp-diagnosed" not in render(state, "arp_hygiene.diagnose", {})
    # fail_on's default is the module's (the policy's SECTION_DEFAULTS): no finding fails the highstate.
    body = render(state, "arp_hygiene.diagnose", {"diagnose": {"enabled": True}})["arp_hygiene-diagnose-arp-diagnosed"]
    assert "arp" in body, body
    arguments = {key: value for item in body["arp"] if isinstance(item, dict) for key, value in item.items()}
    assert arguments["fail_on"] == []
