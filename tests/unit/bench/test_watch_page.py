"""The Performance page's table of the watcher's cost is bench/watch.json's, row by row."""

import json
import os

from tests.support import REPO


def test_the_performance_page_shows_each_load_of_bench_watch_json_as_it_ran():
    with open(os.path.join(REPO, "bench", "watch.json"), encoding="utf-8") as results:
        runs = json.load(results)["runs"]
    with open(os.path.join(REPO, "docs", "guide", "performance.md"), encoding="utf-8") as page:
        text = page.read()
    section = text[text.index("## What the watcher costs") :]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "frames sent" not in line]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert len(cells) == len(runs), cells
    for run, row in zip(runs, cells, strict=True):
        assert row[0] == run["load"], (row, run)
        assert row[1:] == [
            f"{run['per_second']:,}",
            f"{100 * run['core_share']:.2f}%",
            f"{run['seen']:,}",
            str(run["asked"]),
            str(run["changed"]),
        ], (row, run)
    # The bench's own figure for the filter: unrelated traffic stays in the kernel.
    (unrelated,) = [run for run in runs if run["load"].startswith("unrelated")]
    assert unrelated["seen"] == 0 and unrelated["core_share"] < 0.01, unrelated
