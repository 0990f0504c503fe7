"""Whether the doctor stays quiet on healthy training under the schedules people use.

The labelled runs of ``doctor_runs.py`` hold constant rates, a linear warm-up, a rate raised
once and an alternating rate; here every built-in task (Adam and SGD + momentum, seeds 0 and
1) and every test task of the suite (its two optimizers, seed 0) is trained for
``doctor_runs.STEPS`` steps under each schedule of :data:`doctor_runs.SCHEDULED`, all peaking at
3x the task's best fixed rate (the top of the healthy range of the labelled runs):
cosine warm restarts every 250 steps, a triangular cycle between a quarter of the best rate and
the peak (100 steps up, 100 down), one-cycle, and warm-up–stable–decay (5 % warm-up from 0,
the last 20 % decayed). Each run is judged by :func:`lrkit.doctor.diagnose` with the default
thresholds, and read as the labelled runs' healthy runs are (``doctor_quality.kind_of``): a run
whose loss climbed back to where it started is set apart as not healthy. A warning on a healthy
run is a false alarm unless it is an ``overfitting`` finding on a run that overfit in fact.

    python benchmarks/doctor_schedules.py [--jobs N]   # runs are cached and resumed
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lrkit._files import write_text

sys.path.insert(0, str(Path(__file__).parent))
import doctor_quality as dq  # noqa: E402
from doctor_runs import (  # noqa: E402
    OPTIMIZERS,
    RESULTS,
    SCHEDULED,
    TASKS,
    as_jobs,
    suite_test_runs,
    train,
)
from suggestion_quality import dated_machine, markdown_table, run_jobs  # noqa: E402

CACHE = RESULTS / "doctor_schedules_runs.jsonl"
#: split -> (seeds of the built-in tasks, seed of the suite's test tasks); the ``holdout`` runs
#: were made after the warm-restart rule (``restart_settle``) was settled on the ``first`` runs
SPLITS = {"first": ((0, 1), 0), "holdout": ((2,), 1)}


def jobs() -> list[dict[str, Any]]:
    """Every run, in a fixed order: the built-in tasks, then the suite's test tasks."""
    where = []
    for split, (seeds, suite_seed) in SPLITS.items():
        where += [(t, o, seed, split) for seed in seeds for t in TASKS for o in OPTIMIZERS]
        where += suite_test_runs(suite_seed, split)
    return as_jobs(where, SCHEDULED)


def judged(run: dict[str, Any]) -> tuple[str, bool, list[Any]]:
    """(kind as a healthy run, overfit in fact, findings)."""
    kind = dq.kind_of({**run, "label": "healthy"})
    return kind, dq.overfit_in_fact(run), dq.judge(run)


def table(
    runs: list[dict[str, Any]], labels: Iterable[str] = SCHEDULED, what: str = "schedule"
) -> tuple[list[str], list[str]]:
    """The lines of the table of ``runs`` by label (``what`` they are), and the findings on
    healthy runs."""
    rows, findings = [], []
    for label in labels:
        mine = [(run, *judged(run)) for run in runs if run["label"] == label]
        healthy = [(r, o, f) for r, k, o, f in mine if k == "healthy"]
        steps = sum(len(r["rows"]) for r, _, _ in healthy)
        critical = [(r["key"], x) for r, _, f in healthy for x in f if x.severity == "critical"]
        false = [
            (r["key"], x)
            for r, o, f in healthy
            for x in f
            if x.severity == "warning" and not (x.kind == "overfitting" and o)
        ]
        rose = [x for _, x in false if x.kind == "divergence" and "rate rose" in x.message]
        per_2000 = 2000 * len(false) / steps if steps else float("nan")
        rows.append(
            [
                f"`{label}`",
                f"{len(healthy)} of {len(mine)}",
                f"{len(critical)}" + (f" ({dq.count_by_rule(critical)})" if critical else ""),
                f"{per_2000:.2f} ({len(false)} in {steps:,} steps)",
                dq.count_by_rule(false),
                str(len(rose)),
            ]
        )
        findings += [f"- {key}: {x.severity} {x.kind} at step {x.step}" for key, x in critical]
        findings += [f"- {key}: warning {x.kind} at step {x.step}" for key, x in false]
    header = [
        what,
        "healthy in fact",
        "critical findings",
        "false warnings per 2,000 steps",
        "which",
        "of them divergence after a rate rise",
    ]
    return markdown_table(header, rows), findings


def page(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# The doctor on healthy scheduled training",
        "",
        dated_machine(),
        "",
        f"{len(runs)} runs of `benchmarks/doctor_schedules.py`; how they are made and judged is "
        "in its docstring. Regenerate: `python benchmarks/doctor_schedules.py`.",
    ]
    for split, (seeds, suite_seed) in SPLITS.items():
        mine = [run for run in runs if run["split"] == split]
        if not mine:
            continue
        lines += [
            "",
            f"## {split.capitalize()} runs",
            "",
            f"{len(mine)} runs: the built-in tasks at seed(s) "
            f"{', '.join(map(str, seeds))}, the suite's test tasks at seed {suite_seed}.",
            "",
        ]
        rows, findings = table(mine)
        lines += [*rows, "", "Findings on the healthy runs:", "", *(findings or ["- none"])]
    return "\n".join(lines) + "\n"


def make_and_write(
    doc: str, todo: list[dict[str, Any]], cache: Path, render: Any, name: str
) -> None:
    """Make the runs of ``todo`` not yet in ``cache`` (``--jobs N`` at once), then write
    ``render(runs)`` to ``results/name`` and print it; ``doc`` is the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="runs made at once (processes)")
    runs = run_jobs(todo, cache, max(1, parser.parse_args().jobs), worker=train)
    text = render(list(runs.values()))
    write_text(RESULTS / name, text)
    print(text)


def main() -> None:
    make_and_write(__doc__, jobs(), CACHE, page, "doctor_schedules.md")


if __name__ == "__main__":
    main()
