"""The Scale page's tables are bench/fleet.json's storms and audits (docs/guide/scale.md), row by row."""

import json
import os

from tests.support import REPO


def rows(marker=" starts"):
    with open(os.path.join(REPO, "docs", "guide", "scale.md"), encoding="utf-8") as page:
        table = [line for line in page.read().splitlines() if line.startswith("| ") and marker in line]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in table]


def test_the_scale_page_shows_each_storm_of_bench_fleet_json_as_it_ran():
    with open(os.path.join(REPO, "bench", "fleet.json"), encoding="utf-8") as results:
        found = json.load(results)
    storms, table = found["storms"], rows()
    assert len(table) == len(storms), table
    for storm, cells in zip(storms, table, strict=True):
        heal = storm["heal_s"]
        assert cells[0].startswith(f"{storm['starts']:,} starts"), (cells, storm["starts"])
        assert cells[1:4] == [f"{heal[key]:.2f} s" for key in ("p50", "p95", "max")], (cells, heal)
        assert cells[4] == f"{storm['reactor_lag_s']['p95']:.2f} s", cells
        assert cells[5:7] == [str(storm["lost"]), str(storm["jobs"])], cells
        assert cells[7] == f"{storm['master_cpu_s']:.1f} s", cells
        assert cells[8] == f"{storm['master_rss_mb']:,.0f} MB", cells
    # The command lines that the page names are those that wrote the file.
    with open(os.path.join(REPO, "docs", "guide", "scale.md"), encoding="utf-8") as page:
        text = page.read()
    assert found["storms_commands"]
    for command in found["storms_commands"]:
        assert f"`{command}`" in text, command


def test_the_scale_page_shows_each_audit_of_bench_fleet_json_as_it_ran():
    with open(os.path.join(REPO, "bench", "fleet.json"), encoding="utf-8") as results:
        audits = json.load(results)["audit"]
    table = rows(" minions x ")
    assert len(table) == len(audits), table
    for audit, cells in zip(audits, table, strict=True):
        steps = audit["steps_s"]
        assert cells[0] == f"{audit['minions']:,} minions x {audit['addresses_each']}", (cells, audit)
        assert cells[1] == f"{audit['seconds']:.1f} s", cells
        step_names = ("to_question", "to_last_answer", "to_forward", "forget", "to_runner_return")
        assert cells[2:7] == [f"{steps[key]:.2f} s" for key in step_names], (cells, steps)
        assert cells[7:9] == [f"{audit['publish_bytes']:,}", f"{audit['return_bytes']:,}"], cells
        assert audit["failed"] == {}, audit
