"""The Scale page's table is bench/fleet.json's storms (docs/guide/scale.md), row by row."""

import json
import os

from tests.support import REPO


def rows():
    with open(os.path.join(REPO, "docs", "guide", "scale.md"), encoding="utf-8") as page:
        table = [line for line in page.read().splitlines() if line.startswith("| ") and " starts" in line]
    return table


def test_the_scale_page_shows_each_storm_of_bench_fleet_json_as_it_ran():
    with open(os.path.join(REPO, "bench", "fleet.json"), encoding="utf-8") as results:
        found = json.load(results)
    storms, table = found["storms"], rows()
    assert len(table) == len(storms), table
    for storm, row in zip(storms, table, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        heal = storm["heal_s"]
        assert cells[0].startswith(f"{storm['starts']:,} starts"), (cells, storm["starts"])
        assert cells[1:4] == [f"{heal[key]:.2f} s" for key in ("p50", "p95", "max")], (cells, heal)
        assert cells[4] == f"{storm['reactor_lag_s']['p95']:.2f} s", cells
        assert cells[5:7] == [str(storm["lost"]), str(storm["jobs"])], cells
        assert cells[7] == f"{storm['master_cpu_s']:.1f} s", cells
        assert cells[8] == f"{storm['master_rss_mb']:,.0f} MB", cells
    # The command line that the page names is the one that wrote the file.
    with open(os.path.join(REPO, "docs", "guide", "scale.md"), encoding="utf-8") as page:
        assert f"`{found['storms_command']}`" in page.read()
