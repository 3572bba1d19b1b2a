#!py
"""
The settings of the arp_hygiene formula, as map.jinja gives them to every sls.

Merged as template-formula does: defaults.yaml, then the platform's data
(parameters/os_family/<os_family>.yaml, when there is one), then pillar
'arp_hygiene'; each setting checked by its rule in checks.yaml, then the
rules that join two settings or ask this minion. With a bad pillar the
settings hold only the formula's own names and ``invalid``, the first
problem (the key, the value, what is allowed), and every sls includes
invalid.sls instead of its states: a bad pillar installs nothing. Then the
jobs: what each runs, and its cron command, built from checked values only,
each word quoted for the shell.

Salt's py renderer runs it (map.jinja: ``slsutil.renderer``), where
``__salt__``, ``__grains__``, ``__opts__``, ``saltenv`` and ``tplroot`` are
set. The checks and the commands are plain functions of plain data, for the
tests (tests/unit/formula/test_formula_map.py).
"""

import copy
import hashlib
import importlib.util
import os
import re
import shlex

# Bound to names of their own: the py renderer sets `salt` (and grains,
# opts, pillar, saltenv, sls) in this module's namespace.
import salt.utils.dictupdate as salt_dictupdate
import salt.utils.jinja as salt_jinja
import salt.utils.network as salt_network
import salt.utils.path as salt_path
import salt.utils.yaml as salt_yaml

# Patterns, each matched against the whole value (re.fullmatch).
NAME_PATTERN = r"[A-Za-z0-9_.-]+"
PATH_PATTERN = r"/[A-Za-z0-9_./-]*"
SYSCTL_PATTERN = r"net\.(ipv[46])\.(neigh|conf)\.[A-Za-z0-9_-]+\.([a-z0-9_]+)"
# An IPv6 scope id (fe80::1%eth0, fe80::%eth0/64) names an interface: the
# entries of that interface alone, as the arp module reads it.
SCOPE_RULE = (
    "an IPv6 scope id after % that is an interface name (1 to 15 letters, digits and _ . -), as in fe80::1%eth0"
)
SALT_CRON_HEADER = "# Lines below here are managed by Salt, do not edit"


class Problems(list):
    """The problems found, in the order found: each one line."""

    def fail(self, key, problem):
        self.append(f"pillar arp_hygiene:{key} {problem}")

    def bad(self, key, value, allowed):
        self.fail(key, f"is {tojson(value)}; allowed: {allowed}")


def tojson(value):
    """A value as the messages show it (Jinja's tojson, as the formula always did)."""
    return salt_jinja.tojson(value)


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_sequence(value):
    """A list as Jinja's `sequence` test (and not a mapping or string) took it."""
    return isinstance(value, (list, tuple))


def name_ok(value, length=None):
    """A name: letters, digits and _ . -, not . or .., at most ``length`` characters."""
    return (
        isinstance(value, str)
        and re.fullmatch(NAME_PATTERN, value) is not None
        and value not in (".", "..")
        and (length is None or len(value) <= length)
    )


def scope_ok(value):
    """True unless ``value`` has a scope id (after %) that is not an interface name."""
    return "%" not in value or name_ok(value.split("/")[0].split("%")[1], 15)


def is_address(value):
    """An IPv4 or IPv6 address or CIDR, as Salt's is_ipv4 and is_ipv6 filters take it."""
    return isinstance(value, str) and (salt_network.is_ipv4_filter(value) or salt_network.is_ipv6_filter(value))


def check_keys(given, defaults, problems):
    """The pillar as given: a mapping of known keys only (a misspelt key would otherwise be ignored)."""
    if not isinstance(given, dict):
        problems.append(
            f"pillar arp_hygiene is {tojson(given)}; allowed: a mapping of the keys in pillar.example, "
            "or nothing for the defaults (to switch the formula off on a host, leave the host out of "
            "its top file, or set method: none and enforce: false)"
        )
        return
    for key in given:
        if key not in defaults:
            problems.fail(key, "is not a setting of the formula; settings: " + ", ".join(defaults))
    for section, known in defaults.items():
        if not isinstance(known, dict) or section not in given:
            continue
        if not isinstance(given[section], dict):
            problems.bad(section, given[section], "a mapping")
        elif section != "sysctl":
            for key in given[section]:
                if key not in known:
                    problems.fail(
                        f"{section}:{key}",
                        f"is not a setting of the formula; settings of {section}: " + ", ".join(known),
                    )


def check(settings, name, rule, key, formula, problems):
    """settings[name] (``key`` in messages) checked by its ``rule`` of checks.yaml, and normalised in place."""
    value = settings[name]
    kind = rule["kind"]
    if value is None and rule.get("nullable"):
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            problems.bad(key, value, "true or false")
    elif kind in ("integer", "number"):
        good = is_integer(value) if kind == "integer" else is_number(value)
        good = (
            good
            and (rule.get("min") is None or value >= rule["min"])
            and (rule.get("max") is None or value <= rule["max"])
            and (rule.get("above") is None or value > rule["above"])
            and (rule.get("divides") is None or value == 0 or rule["divides"] % value == 0)
        )
        if not good:
            problems.bad(key, value, rule["allowed"])
    elif kind == "choice":
        if rule.get("lower") and isinstance(value, str):
            value = settings[name] = value.lower()
        values = formula[rule["from"]] if "from" in rule else rule["values"]
        if value not in values:
            allowed = formula[rule["allowed_from"]] if "allowed_from" in rule else rule.get("allowed")
            problems.bad(key, value, allowed or ", ".join(values))
    elif kind == "name":
        if not name_ok(value, rule.get("length")):
            problems.bad(key, value, rule["allowed"])
    elif kind == "text":
        if not (isinstance(value, str) and value.strip()):
            problems.bad(key, value, rule["allowed"])
    elif kind == "pattern":
        if not (isinstance(value, str) and re.fullmatch(rule["pattern"], value)):
            problems.bad(key, value, rule["allowed"])
    elif kind == "path":
        if value is None:
            problems.bad(key, value, rule["required"])
        elif not (isinstance(value, str) and re.fullmatch(PATH_PATTERN, value) and "/../" not in value + "/"):
            problems.bad(key, value, "an absolute path of letters, digits and _ . - /, or null")
    elif kind == "network":
        family = settings["family"]
        if not is_address(value):
            problems.bad(key, value, rule["allowed"])
        elif (salt_network.is_ipv4_filter(value) and family == "inet6") or (
            salt_network.is_ipv6_filter(value) and family == "inet"
        ):
            problems.bad(key, value, f"a network of the family {family}, or family: all")
        elif not scope_ok(value):
            problems.bad(key, value, SCOPE_RULE)
    elif kind == "states":
        known = formula[rule["from"]]
        allowed = "a list of NUD states from " + ", ".join(known)
        states = value.split(",") if isinstance(value, str) else value
        if is_sequence(states):
            states = [str(state).strip().lower() for state in states]
            states = [state for state in states if state]
        if not is_sequence(states) or not states:
            problems.bad(key, value, allowed)
            states = []
        for state in states:
            if state not in known:
                problems.bad(key, value, allowed + rule.get("also", ""))
        settings[name] = states
    elif kind in ("names", "addresses"):
        # A list; one string is a list of one.
        items = [value] if isinstance(value, str) else value or []
        if not is_sequence(items):
            problems.bad(key, value, rule["allowed"])
            items = []
        for item in items:
            if kind == "names" and not name_ok(item, rule.get("length")):
                problems.bad(key, item, rule["item"])
            elif kind == "addresses" and not is_address(item):
                problems.bad(key, item, rule["item"])
            elif kind == "addresses" and not scope_ok(item):
                problems.bad(key, item, SCOPE_RULE)
        settings[name] = list(items)
    else:
        raise ValueError(f"checks.yaml: {key} has the unknown kind {kind!r}")


# The module's rules (salt/_modules/_arp_hygiene_policy.py), which the formula reads too.
POLICY = "_modules/_arp_hygiene_policy.py"


def policy_lists(policy):
    """
    What pillar may name that the policy declares (checks.yaml's ``from``):
    the NUD states of a flush and of verify, and the families.
    """
    return {
        "flushable_states": policy.flushable_states(),
        "verifiable_states": list(policy.VERIFIABLE_STATES),
        "families": [*policy.FAMILIES, "all"],
        "family_allowed": policy.FAMILY_ALLOWED,
    }


def with_extensions_defaults(defaults, rules, extensions):
    """
    defaults.yaml's settings, each section whose rules an extension holds
    (checks.yaml's ``ask``) completed with that extension's own DEFAULTS
    (the beacon's, the runner's: written there alone; the policy's
    SECTION_DEFAULTS, the module's own), after the formula's own keys of the
    section.
    """
    completed = copy.deepcopy(defaults)
    for section, rule in rules.items():
        module = extensions.get(section) if "ask" in rule else None
        if module is None:
            continue
        # The policy holds rules of several sections, and some of their defaults.
        own = module.SECTION_DEFAULTS.get(section, {}) if hasattr(module, "SECTIONS") else module.DEFAULTS
        completed[section] = {**completed[section], **copy.deepcopy(own)}
    return completed


def cannot_ask(path):
    """Why a setting cannot be checked when the extension at ``path`` is nowhere."""
    return (
        f"cannot be checked: the master serves no salt://{path} and this minion has no arp-hygiene package; "
        "serve the formula from the directory that holds its _modules, _beacons and _runners"
    )


def ask(section, key, path, module, problems):
    """Pillar section ``key`` checked by the settings_problem() of the extension at ``path``."""
    if module is None:
        problems.fail(key, cannot_ask(path))
        return
    problem = module.settings_problem(section)
    if problem:
        name, allowed = problem
        problems.bad(f"{key}:{name}", section[name], allowed)


def check_values(
    settings, rules, formula, problems, is_dir=os.path.isdir, sysctl_exists=os.path.exists, extensions=None
):
    """
    The merged settings: every rule of checks.yaml, then those that join
    settings or ask the minion (``is_dir``: whether a path is a directory;
    ``sysctl_exists``: whether a /proc/sys path exists). ``extensions``:
    ``{section: module}``, the module of a section's ``ask`` (the beacon,
    the runner; None if there is none), for each section it is asked about.
    """
    given_verify_states = settings["verify"]["states"]  # as given, for the message below
    for key, rule in rules.items():
        if "kind" in rule:
            check(settings, key, rule, key, formula, problems)
            continue
        for name, inner in rule.items():
            if name != "ask":
                check(settings[key], name, inner, f"{key}:{name}", formula, problems)
        if key in (extensions or {}):
            ask(settings[key], key, rule["ask"], extensions[key], problems)
    flush, verify, announce = settings["flush"], settings["verify"], settings["announce"]

    # Each entry is the flush's or verify's: verify asks about the states the
    # flush does not take (in one highstate, the flush runs first).
    if verify["enabled"] is True and verify["states"] and not set(verify["states"]) - set(flush["states"]):
        problems.bad(
            "verify:states",
            given_verify_states,
            "states that flush:states does not take ("
            + ", ".join(flush["states"])
            + " are flushed, so verify would have nothing to ask about)",
        )

    # A repeated announcement runs by the formula's method: there must be one.
    if settings["method"] == "none" and is_integer(announce["every_minutes"]) and announce["every_minutes"] > 0:
        problems.bad(
            "announce:every_minutes",
            announce["every_minutes"],
            "0 while method is none (the repeated announcement is a cron or scheduler job, as method says)",
        )

    # The reactor or the engine heals at a minion's start, not both (each would heal every start).
    master = settings["master"]
    if master["reactor"] is True and master["engine"] is True:
        problems.bad("master:engine", True, "false while master:reactor is true (set reactor: false for the engine)")

    # A report path names a file that the jobs write and clean removes: never
    # a directory (clean would delete it, and whatever else is in it), nor a
    # file the formula writes itself; and each job its own (two jobs writing
    # one file would leave only the later one's).
    own = (formula["job_script"], formula["sysctl_file"], settings["master"]["config_file"])
    reports = (
        ("report_file", settings["report_file"]),
        ("verify:report_file", verify["report_file"]),
        ("verify:sweep_report_file", verify["sweep_report_file"]),
    )
    for key, path in reports:
        if not (isinstance(path, str) and path):
            continue
        if path.endswith("/") or path.split("/")[-1] in ("", ".", "..") or is_dir(path):
            problems.bad(
                key, path, "the path of a file, not a directory: the jobs write it and arp_hygiene.clean removes it"
            )
        elif path in own or path.startswith(formula["records"] + "/"):
            problems.bad(key, path, f"a file of its own: the formula writes {tojson(path)} itself")
    # Each job its own report: the reports of the jobs that run (the sweep runs with verify, unless 0 hours).
    runs = {"report_file": True, "verify:report_file": verify["enabled"] is True}
    runs["verify:sweep_report_file"] = runs["verify:report_file"] and verify["sweep_hours"] != 0
    running = [(key, path) for key, path in reports if path and runs[key]]
    for number, (key, path) in enumerate(running):
        for other, other_path in running[:number]:
            if path == other_path:
                problems.bad(key, path, f"a file other than {other}: each job writes its own report")
                break

    # sysctl: keys of the neighbour tables and interfaces only, each a setting
    # the minion's kernel has (its `default` directory lists them: an
    # interface may not be up yet); never one that announce:arp_notify sets
    # (two values for one key in one file).
    for key, value in sorted((settings["sysctl"] if isinstance(settings["sysctl"], dict) else {}).items(), key=str):
        matched = re.fullmatch(SYSCTL_PATTERN, key) if isinstance(key, str) else None
        if not matched:
            problems.fail(
                "sysctl",
                f"has the key {tojson(key)}; allowed: net.ipv4|ipv6.neigh|conf.<interface or default or all>.<setting>",
            )
            continue
        family, table, setting = matched.groups()
        if not sysctl_exists(f"/proc/sys/net/{family}/{table}/default/{setting}"):
            problems.fail(
                "sysctl",
                f"has the key {tojson(key)}; this kernel has no setting {tojson(setting)} in net.{family}.{table}"
                f" (/proc/sys/net/{family}/{table}/default/ lists its settings)",
            )
        elif announce["arp_notify"] is True and key in (
            "net.ipv4.conf.all.arp_notify",
            "net.ipv4.conf.default.arp_notify",
        ):
            problems.fail(
                "sysctl",
                f"has the key {tojson(key)}, which announce:arp_notify sets; allowed: one of the two "
                "(announce:arp_notify: true sets it to 1 on all and default)",
            )
        elif not is_integer(value):
            problems.bad(f"sysctl:{key}", value, "a whole number")


# ------------------------------------------------------------- the jobs


def job_command(paths, job, function, kwargs, report_file, check=False):
    """
    The command of a job: the formula's job script (files/arp-hygiene-job),
    run by the minion's own Python (``paths``: python, job_script, salt_call,
    config_dir), running salt-call with ``function`` and ``kwargs``; the
    script writes the JSON result to ``report_file`` (None: no report) and
    makes a failure seen. With ``check``, the script tries the command in
    test mode (the highstate's check that the job works). Values as JSON,
    which Salt's argument parser reads back as the same types (a netns named
    "123" stays a string); states and family as words. Each word quoted for
    the shell.
    """
    words = [paths["python"], paths["job_script"], "--job", job]
    if report_file:
        words += ["--report", report_file]
    if check:
        words.append("--check")
    words += ["--", paths["salt_call"] or "salt-call", "--local", "--config-dir", paths["config_dir"]]
    words += ["--retcode-passthrough", "--out=json", function]
    for key, value in sorted(kwargs.items()):
        if key == "states":
            text = ",".join(value)
        elif key == "family":
            text = value
        else:
            text = tojson(value)
        words.append(f"{key}={text}")
    return " ".join(shlex.quote(word) for word in words)


def cron_line(command):
    """A command as a crontab line wants it: an unescaped % ends the command (crontab(5)); cron reads \\% as %."""
    return command.replace("%", "\\%")


def cron_minute(minion_id, interval, spread):
    """
    The minute field of the cron jobs: every ``interval`` minutes; with
    ``spread``, at this minion's own minute within the interval (from its
    id, so the same on every highstate).
    """
    if not spread or interval == 1:
        return f"*/{interval}"
    offset = int(hashlib.md5(minion_id.encode()).hexdigest()[:8], 16) % interval
    return f"{offset}-59/{interval}"


def cron_hour(minion_id, hours, spread):
    """
    The minute and hour fields of a job every ``hours`` hours (a divisor of
    24); with ``spread``, at this minion's own minute and hour within the
    period (from its id, so the same on every highstate).
    """
    if not spread:
        return "0", f"*/{hours}"
    digest = hashlib.md5(minion_id.encode()).hexdigest()
    minute, hour = str(int(digest[:8], 16) % 60), int(digest[8:16], 16) % hours
    return minute, str(hour) if hours == 24 else f"{hour}-23/{hours}"


def job_times(minion_id, settings, formula):
    """
    When each job runs between highstates: ``{job: {"cron": {"minute",
    "hour"}, "schedule": {"minutes" or "hours": n, "splay": seconds or
    None}}}``. The flush and verify every interval_minutes, the sweep every
    verify:sweep_hours hours, the repeated announcement every
    announce:every_minutes; with spread, each at this minion's own time
    within its period (Salt's scheduler: a random splay of up to half of it).
    """
    spread = settings["spread"]
    times = {}
    for job, minutes in (
        (formula["jobs"]["flush"], settings["interval_minutes"]),
        (formula["jobs"]["verify"], settings["interval_minutes"]),
        (formula["jobs"]["announce_every"], settings["announce"]["every_minutes"]),
    ):
        if minutes:
            times[job] = {
                "cron": {"minute": cron_minute(minion_id, minutes, spread), "hour": "*"},
                "schedule": {"minutes": minutes, "splay": minutes * 30 if spread else None},
            }
    hours = settings["verify"]["sweep_hours"]
    if hours:
        minute, hour = cron_hour(minion_id, hours, spread)
        times[formula["jobs"]["sweep"]] = {
            "cron": {"minute": minute, "hour": hour},
            "schedule": {"hours": hours, "splay": hours * 1800 if spread else None},
        }
    return times


# What the watcher takes of the flush's arguments (arp.watch's selection, and metrics).
WATCH_SELECTION = ("interface", "family", "network", "exclude", "netns", "metrics_dir")


def job_settings(settings, formula, paths, cached_script=None, metrics_ready=True):
    """
    The arguments of each function the formula runs (kwargs: arp.flush_stale
    and arp.no_stale; verify_kwargs: arp.verify and arp.verified;
    announce_kwargs: arp.announce), and the jobs: what each runs, its cron
    command, and the command of its check (with the script at
    ``cached_script`` when the installed one is not there yet: test mode).
    The jobs pass test=false: they run live whatever the minion's `test`
    option. ``written``: the files the jobs and enforce write (the cron
    jobs' reports, the metrics files); ``directories``: theirs, each once
    (directories.sls makes them and records both).

    What runs in test mode at the highstate (enforce's states: enforce_kwargs
    and enforce_verify_kwargs; each job's check: check_kwargs) runs without
    metrics_dir while the metrics directory is not there yet
    (``metrics_ready`` false): the arp module refuses a directory that does
    not exist, the live run makes it first, and test mode writes no metrics.
    """
    flush, verify, announce = settings["flush"], settings["verify"], settings["announce"]

    def without_metrics(arguments):
        if metrics_ready:
            return arguments
        return {key: value for key, value in arguments.items() if key != "metrics_dir"}

    kwargs = {"states": flush["states"], "family": flush["family"]}
    for key, value in (
        ("interface", flush["interfaces"]),
        ("network", flush["network"]),
        ("exclude", flush["exclude"]),
        ("min_age", flush["min_age"]),
        ("netns", flush["netns"]),
        # Every run (the jobs, and enforce at highstate) writes its Prometheus metrics there.
        ("metrics_dir", settings["metrics"]["textfile_dir"]),
    ):
        if value or (key in ("network", "netns") and value is not None):
            kwargs[key] = value
    # verify asks about the states that the flush does not take (it runs first).
    verify_kwargs = dict(
        kwargs,
        states=[state for state in verify["states"] if state not in flush["states"]],
        timeout=verify["timeout"],
        rate=verify["rate"],
    )
    announce_kwargs = {key: announce[key] for key in ("family", "count", "interval", "mode")}
    if announce["interfaces"]:
        announce_kwargs["interface"] = announce["interfaces"]
    if announce["netns"] is not None:
        announce_kwargs["netns"] = announce["netns"]

    jobs = {}
    for job, function, job_kwargs, report_file, wanted in (
        (formula["jobs"]["flush"], "arp.flush_stale", kwargs, settings["report_file"], True),
        (
            formula["jobs"]["verify"],
            "arp.verify",
            dict(verify_kwargs, fix=True),
            verify["report_file"],
            verify["enabled"],
        ),
        (
            formula["jobs"]["sweep"],
            "arp.verify",
            dict(verify_kwargs, fix=True, sweep=True),
            verify["sweep_report_file"],
            verify["enabled"] and verify["sweep_hours"] > 0,
        ),
        (
            formula["jobs"]["announce"],
            "arp.announce",
            dict(announce_kwargs, wait=announce["boot_wait"]),
            None,
            announce["at_boot"],
        ),
        (formula["jobs"]["announce_every"], "arp.announce", announce_kwargs, None, announce["every_minutes"] > 0),
    ):
        job_kwargs = dict(job_kwargs, test=False)
        check_kwargs = without_metrics(job_kwargs)
        check_paths = dict(paths, job_script=cached_script) if cached_script else paths
        jobs[job] = {
            "function": function,
            "kwargs": job_kwargs,
            "check_kwargs": check_kwargs,
            "report_file": report_file,
            "wanted": wanted,
            "command": cron_line(job_command(paths, job, function, job_kwargs, report_file)),
            "check": job_command(check_paths, job, function, check_kwargs, report_file, check=True),
        }

    written = []
    if settings["method"] == "cron":
        written += [
            jobs[job]["report_file"]
            for job in (formula["jobs"]["flush"], formula["jobs"]["verify"], formula["jobs"]["sweep"])
            if jobs[job]["wanted"] and jobs[job]["report_file"]
        ]
    # The metrics directory, as directories.sls names its state.
    metrics = os.path.normpath(settings["metrics"]["textfile_dir"]) if settings["metrics"]["textfile_dir"] else None
    if metrics and (settings["method"] != "none" or settings["enforce"]):
        written += [
            f"{metrics}/arp_hygiene_{task}.prom"
            for task, job in (("flush", "flush"), ("verify", "verify"), ("sweep", "sweep"))
            if jobs[formula["jobs"][job]]["wanted"] and (task != "sweep" or settings["method"] != "none")
        ]
    if metrics and settings["watch"]["enabled"]:
        written.append(f"{metrics}/arp_hygiene_watch.prom")
    directories = []
    for path in written:
        if os.path.dirname(path) not in directories:
            directories.append(os.path.dirname(path))
    return {
        "directories": directories,
        "metrics_directory": metrics,
        "kwargs": kwargs,
        "verify_kwargs": verify_kwargs,
        "enforce_kwargs": without_metrics(kwargs),
        "enforce_verify_kwargs": without_metrics(verify_kwargs),
        "announce_kwargs": announce_kwargs,
        # The engine arp_watch's: a round's length, and the flush's selection and metrics.
        "watch_kwargs": {"round_seconds": settings["watch"]["round_seconds"]}
        | {key: kwargs[key] for key in WATCH_SELECTION if key in kwargs},
        "jobs": jobs,
        "written": written,
    }


def satisfied(requirement, version=None):
    """
    The installed version of the package that the pip ``requirement``
    (pillar pyroute2:pip) names, when it satisfies the requirement in this
    Python (the minion's: where pip.installed would install it); else None
    (missing, another version, or a requirement this cannot judge).
    ``version``: how to read an installed package's version.
    """
    import importlib.metadata

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        wanted = Requirement(requirement)
        installed = (version or importlib.metadata.version)(wanted.name)
    except (InvalidRequirement, importlib.metadata.PackageNotFoundError):
        return None
    if wanted.url or wanted.extras or (wanted.marker and not wanted.marker.evaluate()):
        return None
    return installed if wanted.specifier.contains(installed, prereleases=True) else None


def find_salt_call(configured, python, which=salt_path.which, exists=os.path.isfile):
    """
    The minion's salt-call: ``configured`` if set; else beside the minion's
    Python (virtualenvs, pip installs), one level up (onedir packages:
    /opt/saltstack/salt), or on the minion's PATH; None if none.
    """
    if configured is not None:
        return configured
    python_dir = os.path.dirname(python)
    for candidate in (os.path.join(python_dir, "salt-call"), os.path.join(os.path.dirname(python_dir), "salt-call")):
        if exists(candidate):
            return candidate
    return which("salt-call")


# ------------------------------------------------------- in the renderer


def _load_yaml(name):
    """A YAML file of the formula; None if the master does not serve it (a platform without a file of its own)."""
    url = f"salt://{tplroot}/{name}"  # noqa: F821
    if not __salt__["cp.hash_file"](url, saltenv):  # noqa: F821
        return None
    return salt_yaml.safe_load(__salt__["cp.get_file_str"](url, saltenv=saltenv))  # noqa: F821


def _extension(path):
    """
    The extension at ``path`` (``_beacons/arp.py``), loaded to ask its
    settings_problem(): the master's copy (the one a sync installs), else the
    arp-hygiene package's on this minion; None if neither is here.
    """
    where = __salt__["cp.cache_file"](f"salt://{path}", saltenv)  # noqa: F821
    if not where:
        try:
            import arp_hygiene  # pylint: disable=import-outside-toplevel
        except ImportError:
            return None
        kind, name = path.split("/")
        where = os.path.join(arp_hygiene.loader_dirs().get(kind[1:], [""])[0], name)
        if not os.path.isfile(where):
            return None
    spec = importlib.util.spec_from_file_location(f"arp_hygiene_formula_{path.replace('/', '_')[:-3]}", where)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run():
    """The settings (map.jinja's ``arp_hygiene``)."""
    defaults = _load_yaml("defaults.yaml")
    rules = _load_yaml("checks.yaml")
    platform = _load_yaml(f"parameters/os_family/{__grains__['os_family']}.yaml") or {}  # noqa: F821
    formula = salt_dictupdate.update(copy.deepcopy(defaults["formula"]), platform.get("formula", {}))

    problems = Problems()
    # The extensions that hold rules (and the defaults) of a section: the
    # policy (the module's own rules), the beacon, the runner.
    loaded = {POLICY: _extension(POLICY)}
    if loaded[POLICY] is None:
        problems.fail("flush:states", cannot_ask(POLICY))
    extensions = {}
    for key, rule in rules.items():
        if "ask" in rule:
            if rule["ask"] not in loaded:
                loaded[rule["ask"]] = _extension(rule["ask"])
                if loaded[rule["ask"]] is None:
                    problems.fail(key, cannot_ask(rule["ask"]))
            extensions[key] = loaded[rule["ask"]]
    defaults = with_extensions_defaults(defaults["arp_hygiene"], rules, extensions)
    # `arp_hygiene:` with nothing under it, or no such pillar, means the
    # defaults; any other value that is not a mapping (false, [], "") is refused.
    given = __salt__["pillar.get"]("arp_hygiene", None)  # noqa: F821
    given = {} if given is None else given
    if not problems:
        check_keys(given, defaults, problems)
    settings = salt_dictupdate.update(copy.deepcopy(defaults), {} if problems else given)
    settings["cron_package"] = settings["cron_package"] or formula["cron_package"]
    if not problems:
        # The NUD states and families pillar may name are the policy's (the module's own rules).
        formula.update(policy_lists(loaded[POLICY]))
        check_values(settings, rules, formula, problems, extensions=extensions)
    python = __grains__["pythonexecutable"]  # noqa: F821
    salt_call = None if problems else find_salt_call(settings["salt_call"], python)
    if not problems and settings["method"] == "cron" and salt_call is None:
        problems.fail(
            "salt_call",
            f"is null and no salt-call was found beside {python} or on PATH; "
            "set it to the path of the minion's salt-call",
        )
    settings.update(
        {
            "invalid": problems[0] if problems else None,
            "formula": formula,
            "job": formula["jobs"]["flush"],
            "verify_job": formula["jobs"]["verify"],
            "announce_job": formula["jobs"]["announce"],
            "sweep_job": formula["jobs"]["sweep"],
            "announce_every_job": formula["jobs"]["announce_every"],
            "sysctl_file": formula["sysctl_file"],
            # The engine's drop-in, where the daemon's default_include (minion.d/*.conf) reads it.
            "watch_config": os.path.join(
                os.path.dirname(__opts__["conf_file"]),  # noqa: F821
                os.path.dirname(__opts__["default_include"]),  # noqa: F821
                formula["watch_config"],
            ),
        }
    )
    if problems:
        return settings

    paths = {
        "python": python,
        "job_script": formula["job_script"],
        "salt_call": salt_call,
        "config_dir": settings["config_dir"] or os.path.dirname(__opts__["conf_file"]),  # noqa: F821
    }
    # Test mode installs nothing: a job's check runs the master's copy of the
    # script (in the minion's cache).
    cached_script = None
    if __opts__["test"]:  # noqa: F821
        cached_script = __salt__["cp.cache_file"](f"salt://{tplroot}/files/arp-hygiene-job", saltenv=saltenv)  # noqa: F821
    metrics = settings["metrics"]["textfile_dir"]
    metrics_ready = not __opts__["test"] or not metrics or os.path.isdir(metrics)  # noqa: F821
    settings.update(job_settings(settings, formula, paths, cached_script, metrics_ready))
    settings.update(
        {
            "job_paths": paths,
            "salt_call": salt_call,
            "times": job_times(__grains__["id"], settings, formula),  # noqa: F821
            "module_ready": "arp.flush_stale" in __salt__,  # noqa: F821
            # pip.installed lists every package (a second's work) at each highstate.
            "pyroute2_installed": satisfied(settings["pyroute2"]["pip"])
            if settings["pyroute2"]["install"] == "pip"
            else None,
        }
    )
    return settings
