"""
The formula's settings (salt/arp_hygiene/map.py) as plain data: every rule
of checks.yaml and those that join settings refuse a bad pillar with one
line that names the key, the value and what is allowed, the first problem
found; a good pillar is normalised as the arp module reads it; the jobs'
commands quote every word for the shell and for cron. No Salt daemon, no
root: map.py's functions on the formula's own YAML files.
"""

import hashlib
import os
import shlex

import pytest
import salt.utils.dictupdate
import salt.utils.yaml

from tests.support import REPO, checkout_file, formula_defaults

FORMULA = os.path.join(REPO, "salt", "arp_hygiene")


def load(name):
    with open(os.path.join(FORMULA, name), encoding="utf-8") as stream:
        return salt.utils.yaml.safe_load(stream)


def extension(path):
    """A section's ``ask`` of checks.yaml (``_beacons/arp.py``), loaded from the checkout as map.py loads it."""
    return checkout_file(f"salt/{path}")


MAP = checkout_file("salt/arp_hygiene/map.py")
RULES = load("checks.yaml")
EXTENSIONS = {section: extension(rule["ask"]) for section, rule in RULES.items() if "ask" in rule}
FORMULAS_OWN = load("defaults.yaml")
# The defaults as map.py completes them: the beacon's and the runner's sections with their own DEFAULTS.
DEFAULTS = {**FORMULAS_OWN, "arp_hygiene": formula_defaults()}
# The formula's data as map.py completes it: with the policy's lists (NUD states, families).
FORMULA_DATA = {**DEFAULTS["formula"], **MAP.policy_lists(extension(MAP.POLICY))}


def asked_keys(module, section):
    """The keys of ``section`` whose rules an asked extension holds: the policy's SECTIONS, else its DEFAULTS."""
    return module.SECTIONS[section] if hasattr(module, "SECTIONS") else module.DEFAULTS


def problems_of(given, is_dir=os.path.isdir, sysctl_exists=os.path.exists):
    """The problems map.py finds in pillar arp_hygiene ``given``, and the settings as checked."""
    problems = MAP.Problems()
    MAP.check_keys(given, DEFAULTS["arp_hygiene"], problems)
    settings = salt.utils.dictupdate.update(
        salt.utils.yaml.safe_load(salt.utils.yaml.safe_dump(DEFAULTS["arp_hygiene"])), {} if problems else given
    )
    settings["cron_package"] = settings["cron_package"] or DEFAULTS["formula"]["cron_package"]
    if not problems:
        MAP.check_values(settings, RULES, FORMULA_DATA, problems, is_dir, sysctl_exists, EXTENSIONS)
    return problems, settings


# Each bad pillar, and what the one line it is refused with (the first
# problem) says. {mark}: a path that a shell would create, were the value
# ever run as a command (tests/integration/test_formula.py runs a few of
# them through a real master and checks that nothing ran).
BAD_PILLAR = [
    (
        {"interval_minutes": 0},
        "pillar arp_hygiene:interval_minutes is 0; allowed: a whole number of minutes from 1 to 59",
    ),
    (
        {"interval_minutes": 61},
        "pillar arp_hygiene:interval_minutes is 61; allowed: a whole number of minutes from 1 to 59",
    ),
    (
        {"interval_minutes": "5; touch {mark}"},
        'pillar arp_hygiene:interval_minutes is "5; touch {mark}"; allowed: a whole number',
    ),
    (
        {"flush": {"interfaces": ["eth0", "eth0;touch {mark}"]}},
        'pillar arp_hygiene:flush:interfaces is "eth0;touch {mark}"; allowed: interface names',
    ),
    (
        {"flush": {"netns": "$(touch {mark})"}},
        'pillar arp_hygiene:flush:netns is "$(touch {mark})"; allowed: the name of a network namespace',
    ),
    (
        {"flush": {"states": ["stale", "gone"]}},
        'pillar arp_hygiene:flush:states is ["stale", "gone"]; allowed: a list of NUD states from',
    ),
    ({"flush": {"states": ["permanent"]}}, "(permanent and noarp entries are never flushed)"),
    (
        {"flush": {"network": "192.0.2.0/33"}},
        'pillar arp_hygiene:flush:network is "192.0.2.0/33"; allowed: an IPv4 or IPv6 CIDR',
    ),
    (
        {"flush": {"exclude": ["192.0.2.300"]}},
        'pillar arp_hygiene:flush:exclude is "192.0.2.300"; allowed: IPv4 or IPv6 addresses',
    ),
    (
        {"flush": {"family": "all", "exclude": ["fe80::1%eth0;reboot"]}},
        'pillar arp_hygiene:flush:exclude is "fe80::1%eth0;reboot"; allowed: an IPv6 scope id after %',
    ),
    (
        {"flush": {"family": "inet6", "network": "fe80::%lo;x/64"}},
        'pillar arp_hygiene:flush:network is "fe80::%lo;x/64"; allowed: an IPv6 scope id after % that is an interface',
    ),
    ({"spread": "yes"}, 'pillar arp_hygiene:spread is "yes"; allowed: true or false'),
    (
        {"report_file": "/var/log/salt/"},
        'pillar arp_hygiene:report_file is "/var/log/salt/"; allowed: the path of a file, not a directory',
    ),
    (
        {"verify": {"report_file": "/tmp"}},
        'pillar arp_hygiene:verify:report_file is "/tmp"; allowed: the path of a file, not a directory',
    ),
    ({"method": "at"}, 'pillar arp_hygiene:method is "at"; allowed: cron (a root cron job), salt'),
    (
        {"interval": 5},
        "pillar arp_hygiene:interval is not a setting of the formula; settings: method, interval_minutes",
    ),
    ({"sysctl": {"kernel.panic": 1}}, 'pillar arp_hygiene:sysctl has the key "kernel.panic"; allowed: net.ipv4|ipv6'),
    ({"verify": {"enabled": "yes"}}, 'pillar arp_hygiene:verify:enabled is "yes"; allowed: true or false'),
    (
        {"verify": {"timeout": 0}},
        "pillar arp_hygiene:verify:timeout is 0; allowed: a number of seconds above 0, at most 30",
    ),
    (
        {"verify": {"rate": "9; touch {mark}"}},
        'pillar arp_hygiene:verify:rate is "9; touch {mark}"; allowed: questions per second',
    ),
    (
        {"verify": {"states": ["noarp"]}},
        'pillar arp_hygiene:verify:states is ["noarp"]; allowed: a list of NUD states from',
    ),
    (
        {"verify": {"fix": False}},
        "pillar arp_hygiene:verify:fix is not a setting of the formula; settings of verify: enabled",
    ),
    (
        {"announce": {"family": "ipx"}},
        'pillar arp_hygiene:announce:family is "ipx"; allowed: inet (IPv4), inet6 (IPv6) or all',
    ),
    # announce's limits, the policy's (arp.announce reads them there too).
    (
        {"announce": {"count": 2.5}},
        "pillar arp_hygiene:announce:count is 2.5; allowed: a whole number of announcements from 1 to 100",
    ),
    (
        {"announce": {"interval": 61}},
        "pillar arp_hygiene:announce:interval is 61; allowed: a number of seconds from 0 to 60",
    ),
    ({"announce": {"mode": "garp"}}, 'pillar arp_hygiene:announce:mode is "garp"; allowed: request, reply or both'),
    (
        {"beacon": {"enabled": True, "table_share": 2}},
        "pillar arp_hygiene:beacon:table_share is 2; allowed: a number above 0, at most 1",
    ),
    (
        {"beacon": {"failed_threshold": 0}},
        "pillar arp_hygiene:beacon:failed_threshold is 0; allowed: a whole number from 1, or null",
    ),
    ({"beacon": {"family": "ipx"}}, 'pillar arp_hygiene:beacon:family is "ipx"; allowed: inet (IPv4), inet6'),
    (
        {"diagnose": {"fail_on": ["table_fulls"]}},
        'pillar arp_hygiene:diagnose:fail_on is ["table_fulls"]; allowed: a list of below_gc_thresh1, near_gc_thresh3,',
    ),
    (
        {"master": {"tgt_type": "sql"}},
        'pillar arp_hygiene:master:tgt_type is "sql"; allowed: glob, pcre, list, grain,',
    ),
    ({"master": {"engine": "yes"}}, 'pillar arp_hygiene:master:engine is "yes"; allowed: true or false'),
    (
        {"master": {"engine": True}},
        "pillar arp_hygiene:master:engine is true; allowed: false while master:reactor is true",
    ),
    (
        {"master": {"batch_wait": 601}},
        "pillar arp_hygiene:master:batch_wait is 601; allowed: a number of seconds from 0 to 600",
    ),
    (
        {"beacon": {"enabled": True, "netns": "$(touch {mark})"}},
        'pillar arp_hygiene:beacon:netns is "$(touch {mark})"; allowed: the name of a network namespace',
    ),
    (
        {"announce": {"interfaces": ["eth0$(touch {mark})"]}},
        'pillar arp_hygiene:announce:interfaces is "eth0$(touch {mark})"',
    ),
    (
        {"verify": {"sweep_hours": 5}},
        "pillar arp_hygiene:verify:sweep_hours is 5; allowed: 0 (no sweep job) or hours that divide a day: 1, 2, 3, 4,",
    ),
    ({"verify": {"sweep_hours": True}}, "pillar arp_hygiene:verify:sweep_hours is true; allowed: 0 (no sweep job)"),
    ({"verify": {"sweep_hours": 48}}, "pillar arp_hygiene:verify:sweep_hours is 48; allowed: 0 (no sweep job)"),
    (
        {"verify": {"sweep_report_file": "/var/log/salt/arp_hygiene_verify.json"}},
        'pillar arp_hygiene:verify:sweep_report_file is "/var/log/salt/arp_hygiene_verify.json"; allowed: a file '
        "other than verify:report_file",
    ),
    (
        {"announce": {"every_minutes": 60}},
        "pillar arp_hygiene:announce:every_minutes is 60; allowed: 0 (no such job) or a whole number of minutes from 1",
    ),
    (
        {"method": "none", "announce": {"every_minutes": 10}},
        "pillar arp_hygiene:announce:every_minutes is 10; allowed: 0 while method is none",
    ),
]


@pytest.mark.parametrize("bad, message", BAD_PILLAR)
def test_a_bad_pillar_is_refused_with_one_line_naming_the_key(bad, message):
    problems, _ = problems_of(bad)
    assert problems, "accepted"
    assert message in problems[0]
    assert "\n" not in problems[0] and len(problems[0]) < 400


@pytest.mark.parametrize("value", [False, [], ""], ids=["false", "empty list", "empty string"])
def test_a_pillar_that_is_not_a_mapping_is_refused_not_read_as_the_defaults(value):
    problems, _ = problems_of(value)
    assert problems == [
        f"pillar arp_hygiene is {salt.utils.json.dumps(value)}; allowed: a mapping of the keys in pillar.example, or "
        "nothing for the defaults (to switch the formula off on a host, leave the host out of its top file, or set "
        "method: none and enforce: false)"
    ]


def test_a_good_pillar_is_normalised_as_the_module_reads_it():
    problems, settings = problems_of(
        {
            "flush": {
                "states": " Stale , FAILED,",
                "interfaces": "eth0",
                "family": "ALL",
                "exclude": "fe80::1%eth0",
                "network": "192.0.2.0/24",
            },
            "verify": {"states": ["REACHABLE", " delay"]},
            "announce": {"interfaces": None, "family": "Inet6"},
            "master": {"reactor": False, "engine": True},
        }
    )
    assert problems == []
    assert settings["flush"] | {"min_age": 0, "netns": None} == {
        "states": ["stale", "failed"],
        "interfaces": ["eth0"],
        "family": "all",
        "network": "192.0.2.0/24",
        "exclude": ["fe80::1%eth0"],
        "min_age": 0,
        "netns": None,
    }
    assert settings["verify"]["states"] == ["reachable", "delay"]
    assert settings["announce"]["interfaces"] == [] and settings["announce"]["family"] == "inet6"
    assert settings["cron_package"] == "cron"


def test_pillar_example_and_the_defaults_pass_every_rule():
    for given in ({}, load("../../pillar.example")["arp_hygiene"]):
        problems, _ = problems_of(given)
        assert problems == []


@pytest.mark.parametrize(
    "given, is_dir, exists, message",
    [
        (
            {"report_file": "/srv/reports"},
            lambda path: path == "/srv/reports",
            os.path.exists,
            'pillar arp_hygiene:report_file is "/srv/reports"; allowed: the path of a file, not a directory',
        ),
        (
            {"sysctl": {"net.ipv6.neigh.eth0.gc_stale_time": 60}},
            os.path.isdir,
            lambda path: False,
            'pillar arp_hygiene:sysctl has the key "net.ipv6.neigh.eth0.gc_stale_time"; this kernel has no setting '
            '"gc_stale_time" in net.ipv6.neigh (/proc/sys/net/ipv6/neigh/default/ lists its settings)',
        ),
    ],
    ids=["a directory", "a kernel without the setting"],
)
def test_what_only_the_minion_knows_is_asked_of_it(given, is_dir, exists, message):
    problems, _ = problems_of(given, is_dir=is_dir, sysctl_exists=exists)
    assert problems[0].startswith(message), problems[0]


def test_every_rule_of_checks_yaml_has_a_setting_and_every_setting_a_rule():
    defaults = DEFAULTS["arp_hygiene"]
    ruled = {key if "kind" in rule else section for key, rule in RULES.items() for section in [key]}
    assert ruled | {"sysctl"} == set(defaults)
    for section, rules in RULES.items():
        if "kind" not in rules:
            asked = set(asked_keys(EXTENSIONS[section], section)) if "ask" in rules else set()
            assert set(defaults[section]) == (set(rules) - {"ask"}) | asked, section


@pytest.mark.parametrize("section", ["beacon", "master"])
def test_an_extensions_settings_and_their_defaults_are_written_in_the_extension_alone(section):
    module = EXTENSIONS[section]
    own = FORMULAS_OWN["arp_hygiene"][section]
    assert not set(own) & set(module.DEFAULTS), "defaults.yaml repeats what the extension declares"
    assert list(DEFAULTS["arp_hygiene"][section]) == [*own, *module.DEFAULTS]
    assert {key: DEFAULTS["arp_hygiene"][section][key] for key in module.DEFAULTS} == module.DEFAULTS
    # Pillar that sets one of them is checked by the extension, and the others keep its defaults.
    key, value = next(iter(module.DEFAULTS.items()))
    problems, settings = problems_of({section: {key: value}})
    assert not problems, problems
    assert settings[section] == DEFAULTS["arp_hygiene"][section]


def test_an_extension_the_formula_cannot_ask_makes_the_section_fail():
    problems = MAP.Problems()
    settings = salt.utils.yaml.safe_load(salt.utils.yaml.safe_dump(DEFAULTS["arp_hygiene"]))
    settings["cron_package"] = DEFAULTS["formula"]["cron_package"]
    MAP.check_values(settings, RULES, FORMULA_DATA, problems, extensions={"beacon": None})
    assert problems == [
        "pillar arp_hygiene:beacon cannot be checked: the master serves no salt://_beacons/arp.py and this minion "
        "has no arp-hygiene package; serve the formula from the directory that holds its _modules, _beacons and "
        "_runners"
    ]


PATHS = {
    "python": "/opt/saltstack/salt/bin/python3.10",
    "job_script": "/usr/local/sbin/arp-hygiene-job",
    "salt_call": "/opt/saltstack/salt/salt-call",
    "config_dir": "/etc/salt",
}


def test_a_jobs_command_is_words_quoted_for_the_shell_and_values_as_json():
    kwargs = {
        "states": ["stale", "failed"],
        "family": "all",
        "netns": "123",
        "exclude": ["fe80::1%eth0"],
        "metrics_dir": "/var/lib/node exporter",
        "test": False,
    }
    command = MAP.job_command(PATHS, "arp_hygiene-flush", "arp.flush_stale", kwargs, "/var/log/salt/a.json")
    assert shlex.split(command) == [
        *(PATHS["python"], PATHS["job_script"], "--job", "arp_hygiene-flush", "--report", "/var/log/salt/a.json", "--"),
        *(PATHS["salt_call"], "--local", "--config-dir", "/etc/salt", "--retcode-passthrough", "--out=json"),
        "arp.flush_stale",
        'exclude=["fe80::1%eth0"]',
        "family=all",
        'metrics_dir="/var/lib/node exporter"',
        'netns="123"',
        "states=stale,failed",
        "test=false",
    ]
    # cron reads an unescaped % as the end of the command.
    assert MAP.cron_line(command).count("\\%") == 1 and "%" not in MAP.cron_line(command).replace("\\%", "")
    checked = MAP.job_command(PATHS, "arp_hygiene-flush", "arp.flush_stale", kwargs, None, check=True)
    assert "--report" not in checked and shlex.split(checked)[4] == "--check"


@pytest.mark.parametrize(
    "interval, spread, minute",
    [(5, True, "4-59/5"), (5, False, "*/5"), (1, True, "*/1"), (59, True, "3-59/59")],
)
def test_the_cron_minute_is_the_minions_own_within_the_interval(interval, spread, minute):
    # md5("arp-db") begins with 06259c2d: 103128109 % 5 == 4, % 59 == 3.
    assert MAP.cron_minute("arp-db", interval, spread) == minute


@pytest.mark.parametrize("hours", [1, 6, 24])
def test_the_sweep_runs_at_the_minions_own_minute_and_hour_within_its_period(hours):
    # From the id's md5: its first 8 hex digits give the minute, the next 8 the hour.
    digest = hashlib.md5(b"arp-db").hexdigest()
    own_minute, own_hour = int(digest[:8], 16) % 60, int(digest[8:16], 16) % hours
    own = str(own_hour) if hours == 24 else f"{own_hour}-23/{hours}"  # once a day: the hour alone
    assert MAP.cron_hour("arp-db", hours, True) == (str(own_minute), own)
    assert MAP.cron_hour("arp-db", hours, False) == ("0", f"*/{hours}")
    assert MAP.cron_hour("arp-web", 24, True) != MAP.cron_hour("arp-db", 24, True), "each minion its own time"


def test_each_job_has_its_own_period_and_the_sweep_and_the_repeated_announcement_theirs():
    problems, settings = problems_of({"interval_minutes": 10, "announce": {"every_minutes": 15}})
    assert problems == []
    jobs = DEFAULTS["formula"]["jobs"]
    times = MAP.job_times("arp-db", settings, DEFAULTS["formula"])
    assert set(times) == {jobs["flush"], jobs["verify"], jobs["sweep"], jobs["announce_every"]}
    assert (
        times[jobs["flush"]]
        == times[jobs["verify"]]
        == {
            "cron": {"minute": MAP.cron_minute("arp-db", 10, True), "hour": "*"},
            "schedule": {"minutes": 10, "splay": 300},
        }
    )
    assert times[jobs["announce_every"]] == {
        "cron": {"minute": MAP.cron_minute("arp-db", 15, True), "hour": "*"},
        "schedule": {"minutes": 15, "splay": 450},
    }
    minute, hour = MAP.cron_hour("arp-db", 24, True)
    assert times[jobs["sweep"]] == {
        "cron": {"minute": minute, "hour": hour},
        "schedule": {"hours": 24, "splay": 43200},
    }
    # The defaults: a daily sweep, no repeated announcement.
    _, defaults = problems_of({})
    assert set(MAP.job_times("arp-db", defaults, DEFAULTS["formula"])) == {jobs["flush"], jobs["verify"], jobs["sweep"]}


def test_the_sweep_job_is_verify_with_sweep_and_the_repeated_announcement_announce_without_waiting():
    jobs, names = jobs_of({}), DEFAULTS["formula"]["jobs"]
    sweep, verify = jobs["jobs"][names["sweep"]], jobs["jobs"][names["verify"]]
    assert sweep["wanted"] and sweep["function"] == verify["function"] == "arp.verify"
    assert sweep["kwargs"] == dict(verify["kwargs"], sweep=True)
    assert sweep["report_file"] == "/var/log/salt/arp_hygiene_sweep.json"
    assert "sweep=true" in sweep["command"] and "sweep=true" not in verify["command"]
    announce_every = jobs["jobs"][names["announce_every"]]
    assert not announce_every["wanted"], "off by default"
    assert announce_every["kwargs"] == dict(jobs["announce_kwargs"], test=False), "no boot wait"
    assert jobs_of({"announce": {"every_minutes": 5}})["jobs"][names["announce_every"]]["wanted"]
    assert not jobs_of({"verify": {"sweep_hours": 0}})["jobs"][names["sweep"]]["wanted"]
    assert not jobs_of({"verify": {"enabled": False}})["jobs"][names["sweep"]]["wanted"], "the sweep is verify's"


def test_salt_call_is_the_configured_one_or_the_one_beside_the_minions_python():
    python = "/opt/saltstack/salt/bin/python3.10"
    assert MAP.find_salt_call("/usr/bin/salt-call", python) == "/usr/bin/salt-call"
    found = MAP.find_salt_call(
        None, python, which=lambda name: None, exists=lambda path: path.endswith("salt/salt-call")
    )
    assert found == "/opt/saltstack/salt/salt-call"
    assert MAP.find_salt_call(None, python, which=lambda name: "/usr/bin/salt-call", exists=lambda path: False) == (
        "/usr/bin/salt-call"
    )
    assert MAP.find_salt_call(None, python, which=lambda name: None, exists=lambda path: False) is None


def jobs_of(given, **options):
    problems, settings = problems_of(given)
    assert problems == []
    return MAP.job_settings(settings, DEFAULTS["formula"], PATHS, **options)


def test_what_the_jobs_write_is_known_and_each_directory_made_once():
    both_in_one = jobs_of({"metrics": {"textfile_dir": "/var/log/salt/"}})
    assert both_in_one["written"] == [
        "/var/log/salt/arp_hygiene.json",
        "/var/log/salt/arp_hygiene_verify.json",
        "/var/log/salt/arp_hygiene_sweep.json",
        "/var/log/salt/arp_hygiene_flush.prom",
        "/var/log/salt/arp_hygiene_verify.prom",
        "/var/log/salt/arp_hygiene_sweep.prom",
    ]
    assert both_in_one["directories"] == ["/var/log/salt"] and both_in_one["metrics_directory"] == "/var/log/salt"
    nothing = jobs_of({"report_file": None, "verify": {"report_file": None, "sweep_report_file": None}})
    assert nothing["written"] == [] and nothing["directories"] == []
    scheduler = jobs_of({"method": "salt", "verify": {"enabled": False}, "metrics": {"textfile_dir": "/srv/m"}})
    assert scheduler["written"] == ["/srv/m/arp_hygiene_flush.prom"], "no cron job, no report"
    # Without jobs (method none) enforce still writes the flush's and verify's metrics; no sweep runs.
    enforce_only = jobs_of({"method": "none", "metrics": {"textfile_dir": "/srv/m"}})
    assert enforce_only["written"] == ["/srv/m/arp_hygiene_flush.prom", "/srv/m/arp_hygiene_verify.prom"]


def test_test_mode_runs_without_the_metrics_directory_until_the_live_run_makes_it():
    given = {"metrics": {"textfile_dir": "/srv/metrics"}}
    ready, not_yet = jobs_of(given), jobs_of(given, metrics_ready=False)
    assert (
        ready["enforce_kwargs"]["metrics_dir"]
        == "/srv/metrics"
        == ready["jobs"]["arp_hygiene-flush"]["check_kwargs"]["metrics_dir"]
    )
    assert "metrics_dir" not in not_yet["enforce_kwargs"] and "metrics_dir" not in not_yet["enforce_verify_kwargs"]
    flush = not_yet["jobs"]["arp_hygiene-flush"]
    assert "metrics_dir" not in flush["check_kwargs"] and "metrics_dir" not in flush["check"]
    # What cron runs is the whole job, always.
    assert 'metrics_dir="/srv/metrics"' in flush["command"] and flush["kwargs"]["metrics_dir"] == "/srv/metrics"


@pytest.mark.parametrize(
    "requirement, installed, expected",
    [
        ("pyroute2>=0.9.1,<0.10", "0.9.4", "0.9.4"),
        ("pyroute2>=0.9.1,<0.10", "0.10.0", None),
        ("pyroute2==0.9.2", "0.9.2", "0.9.2"),
        ("pyroute2>=0.9.1,<0.10", None, None),
        ("pyroute2[extra]>=0.9", "0.9.4", None),
        ("not a requirement !", "0.9.4", None),
    ],
)
def test_pip_runs_only_when_the_installed_pyroute2_does_not_satisfy_the_requirement(requirement, installed, expected):
    import importlib.metadata

    def version(name):
        assert name == "pyroute2"
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    assert MAP.satisfied(requirement, version) == expected
