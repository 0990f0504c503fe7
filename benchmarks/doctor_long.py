"""Whether the doctor stays quiet on long healthy training.

The labelled runs of ``doctor_runs.py`` last 1,000 steps. A long run gives every rule many
more chances to fire on noise, and the best loss a rule holds the present against is then the
least of many noisy values. Here every built-in task (Adam and SGD + momentum) and every test
task of the suite (its two optimizers) is trained at its best fixed rate (``healthy``) for
:data:`STEPS` steps, once per seed of :data:`SPLITS`, and judged as ``doctor_schedules.py``
judges its runs: a run whose loss climbed back to where it started is set apart as not
healthy, and a warning on a healthy run is a false alarm unless it is an ``overfitting``
finding on a run that overfit in fact.

    python benchmarks/doctor_long.py [--jobs N]   # runs are cached and resumed
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from doctor_runs import OPTIMIZERS, RESULTS, TASKS, as_jobs, suite_test_runs  # noqa: E402
from doctor_schedules import make_and_write, table  # noqa: E402
from suggestion_quality import dated_machine  # noqa: E402

CACHE = RESULTS / "doctor_long_runs.jsonl"
STEPS = 10_000
LABELS = ("healthy",)
#: split -> seed; the ``holdout`` runs were made on 2026-12-08 after the ``first`` runs had been
#: looked at, with the rules unchanged since
SPLITS = {"first": 0, "holdout": 1}


def jobs() -> list[dict[str, Any]]:
    """Every run, in a fixed order: per split, the built-in tasks, then the suite's test tasks."""
    where = []
    for split, seed in SPLITS.items():
        where += [(t, o, seed, split) for t in TASKS for o in OPTIMIZERS]
        where += suite_test_runs(seed, split)
    return [{**job, "steps": STEPS} for job in as_jobs(where, LABELS)]


def page(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# The doctor on long healthy training",
        "",
        dated_machine(),
        "",
        f"{len(runs)} runs of {STEPS:,} steps of `benchmarks/doctor_long.py`; how they are made "
        "and judged is in its docstring. Regenerate: `python benchmarks/doctor_long.py`.",
    ]
    for split, seed in SPLITS.items():
        mine = [run for run in runs if run["split"] == split]
        if not mine:
            continue
        rows, findings = table(mine, LABELS, "label")
        lines += [
            "",
            f"## {split.capitalize()} runs",
            "",
            f"{len(mine)} runs, seed {seed}.",
            "",
            *rows,
            "",
            f"### Findings on the healthy {split} runs",
            "",
            *(findings or ["- none"]),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    make_and_write(__doc__, jobs(), CACHE, page, "doctor_long.md")


if __name__ == "__main__":
    main()
