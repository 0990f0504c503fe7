"""How far below a range test's edge does the best fixed rate lie? The fallback's distance.

When a curve is unreadable, the default rule falls back ``FALLBACK_DECADES`` below the curve's
edge (``RangeTestResult.edge_lr``: the lowest rate at which a sweep blew up or the curve rose
10 % above its start). This reads, for every design-split range test of the suite (cached by
``suite_quality.py``), ``log10(edge / good)``, where ``good`` is the geometric mean of the grid
rates within 1 point of the seed's best score, and writes its quantiles. Test tasks are left
out: the distance is a design choice.

    python benchmarks/fallback_edge.py
"""

from __future__ import annotations

import json
import math
import platform
from datetime import date

import numpy as np

import suite
import suite_quality as sqy
from lrkit import RangeTestResult
from lrkit._files import write_text
from lrkit.rangetest import FALLBACK_DECADES

OUT = sqy.sq.RESULTS / "fallback_edge.md"
QUANTILES = (10, 25, 50, 75, 90)


def distances() -> list[float]:
    """``log10(edge / good)`` of every design range test that has an edge."""
    splits = suite.split(suite.all_tasks())
    grid: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    curves = []
    for line in sqy.CACHE.read_text().splitlines():
        record = json.loads(line)
        if splits.get(record["task"]) != "design":
            continue
        where = (record["task"], record["optimizer"], record["seed"])
        if record["kind"] == "grid":
            grid.setdefault(where, []).append((record["lr"], record["score"]))
        elif record["kind"] == "range":
            curves.append((where, RangeTestResult.from_dict(record["range"])))
    out = []
    for where, result in curves:
        edge = result.edge_lr
        if edge is None:
            continue
        best = max(score for _, score in grid[where])
        good = [lr for lr, score in grid[where] if score >= best - 1]
        out.append(math.log10(edge) - float(np.mean(np.log10(good))))
    return out


def main() -> None:
    found = np.array(distances())
    rows = "\n".join(
        f"| {q} % | {v:.2f} | {10**v:.0f}× |"
        for q, v in zip(QUANTILES, np.percentile(found, QUANTILES), strict=True)
    )
    write_text(
        OUT,
        "# How far below its edge the best fixed rate lies\n\n"
        f"Date: {date.today()}. Machine: {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}. Regenerate: `python benchmarks/fallback_edge.py` "
        "(reads `suite_quality_runs.jsonl`).\n\n"
        f"{len(found)} range tests of the suite's design split with an edge (the lowest rate "
        "at which a sweep blew up or the curve rose 10 % above its start). `log10(edge / good)`, "
        "`good` the geometric mean of the grid rates within 1 point of the seed's best score:\n\n"
        "| quantile | decades | edge / good |\n| ---: | ---: | ---: |\n"
        f"{rows}\n\n"
        f"The fallback stands `FALLBACK_DECADES = {FALLBACK_DECADES:g}` decades below the edge: "
        "the median, rounded to half a decade.\n",
    )


if __name__ == "__main__":
    main()
