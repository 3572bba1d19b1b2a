"""
The formula page's highstates (docs/guide/formula.md) are what the formula
does now. As on the page: a masterless minion ``db1`` in this virtualenv, its
pillar only the namespace of the database's table (``./run demo``'s black
hole: the database holds the old worker's MAC, stale), on a host the
formula never ran on and where no cron daemon runs; ``state.apply
arp_hygiene test=True``, then live. Each state the page shows (the live
run's ``...`` leave some out) is compared with this run's return: its
function, name, result and comment, and whether it shows changes; this run's
own paths, namespace and times put as the page's run had them. Then the
summary's counts. (Root's crontab after a highstate:
test_formula_heals_the_incident.py.)
"""

import json
import os
import re

from tests.support import REPO, lab, segments
from tests.support.master import FORMULA_PAGE, FORMULA_PAGE_RUN

TERSE = re.compile(r"^  Name: (.*) - Function: (\S+) - Result: (\w+) - Started: .*$")
RESULTS = {"Clean": True, "Changed": True, "True": True, "False": False, "None": None, "Failed": False}


def page_runs():
    """
    {"test": (states, summary), "live": (states, summary)} of the page's two
    runs: states [(function, name, result, comment, changed)].
    """
    with open(FORMULA_PAGE, encoding="utf-8") as stream:
        page = stream.read()
    dry = page.split("state.apply arp_hygiene test=True --state-output=changes\n", 1)[1].split("# salt-call ", 1)[0]
    live = page.split("state.apply arp_hygiene --state-output=changes      (minion db1", 2)[2].split("```", 1)[0]
    return {"test": parse(dry), "live": parse(live)}


def parse(text):
    states, block, summary = [], None, {}
    for line in text.splitlines():
        terse = TERSE.match(line)
        if terse:
            name, function, result = terse.groups()
            states.append([function, name, RESULTS[result], None, result == "Changed"])
        elif line.startswith("          ID: "):
            block = {"id": line[14:], "comment": [], "changes": False, "name": line[14:]}
            states.append(block)
        elif block is not None and line.startswith("    Function: "):
            block["function"] = line[14:]
        elif block is not None and line.startswith("        Name: "):
            block["name"] = line[14:]
        elif block is not None and line.startswith("      Result: "):
            block["result"] = RESULTS[line[14:]]
        elif block is not None and line.startswith("     Comment: "):
            block["comment"] = [line[14:]]
            block["in_comment"] = True
        elif block is not None and line.startswith("              ") and block.get("in_comment"):
            block["comment"].append(line.strip())
        elif block is not None and line.startswith("     Started: "):
            block["in_comment"] = False
        elif block is not None and line.strip() == "----------" and "function" in block and "result" in block:
            if line.startswith("              "):
                block["changes"] = True
        for key in ("Succeeded", "Failed", "Total states run"):
            if line.startswith(key + ":"):
                summary[key] = line.split(":", 1)[1].strip()
    shown = []
    for state in states:
        if isinstance(state, dict):
            state = [state["function"], state["name"], state["result"], " ".join(state["comment"]), state["changes"]]
        shown.append(tuple(state))
    return shown, summary


def as_on_the_page(text, ours):
    for key in ("conf", "root", "netns"):
        text = text.replace(ours[key], FORMULA_PAGE_RUN[key])
    return text.replace(ours["venv"], FORMULA_PAGE_RUN["venv"])


def returned(data, ours):
    """This run's states as the page shows them: {(function, name): (result, comment, changed)}."""
    found = {}
    for key, state in data["local"].items():
        function = ".".join(key.split("_|-")[0:4:3])
        name = as_on_the_page(state["name"], ours)
        comment = " ".join(as_on_the_page(str(state["comment"]), ours).split())
        found[(function, name)] = (state["result"], comment, bool(state["changes"]))
    return found


def test_the_formula_pages_highstates_are_what_the_formula_does(fresh_paths, netlab, tmp_path):
    hole = segments.BlackHole(netlab)
    conf, root = tmp_path / "conf", tmp_path / "root"
    conf.mkdir()
    (conf / "minion").write_text(
        f"root_dir: {root}\nfile_client: local\nlog_level: warning\nid: db1\n"
        f"file_roots:\n  base: [{os.path.join(REPO, 'salt')}]\n"
    )
    ours = {"venv": os.path.dirname(os.path.dirname(lab.sys.executable)), "conf": str(conf), "root": str(root)}
    ours["netns"] = hole.db.name
    pillar = f"pillar={json.dumps({'arp_hygiene': {'flush': {'netns': hole.db.name}}})}"
    try:
        runs = {}
        for run, mode in (("test", ["test=True"]), ("live", [])):
            done = lab.salt_call(str(conf), "--out=json", "state.apply", "arp_hygiene", *mode, pillar)
            runs[run] = returned(json.loads(done.stdout), ours)
    finally:
        lab.salt_call(str(conf), "state.apply", "arp_hygiene.clean", pillar)

    for run, (shown, summary) in page_runs().items():
        for function, name, result, comment, changed in shown:
            assert (function, name) in runs[run], (run, function, name, sorted(runs[run]))
            now = runs[run][(function, name)]
            assert now[0] == result and now[2] == changed, (run, function, name, now)
            if comment is not None:
                assert now[1] == comment, (run, function, name, now[1])
        results = [state[0] for state in runs[run].values()]
        assert summary["Failed"] == str(results.count(False)) and summary["Total states run"] == str(len(results))
