"""Is ``auto`` ahead of the learning-rate-free optimizers? The paired comparison, on more seeds.

``suggestion_quality.py`` compares ``auto`` (``lrkit.torch.fit`` with its defaults, Adam) with
Prodigy and Schedule-Free AdamW on its 13 seeds; where two of them finish within a validation
sample of each other, 13 seeds cannot tell them apart. This script adds ``--extra`` fresh seeds
(13, 14, ...) of the same three runs — no grid is needed for a paired difference — and reports,
per task, the mean score of each and the difference ``auto − other`` paired by seed (same data,
split and initial weights), with its standard error and a two-sided sign-flip p-value.

    python benchmarks/auto_vs_lr_free.py          # about 25 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

import suggestion_quality as sq

#: The comparison's seeds start where the benchmark's 13 end.
FIRST_EXTRA_SEED = 13
METHODS = ("auto", *sq.LR_FREE)


def job(method: str, task: str, seed: int) -> dict[str, Any]:
    """The job ``suggestion_quality.train`` runs for ``method`` (keys as in its cache)."""
    if method == "auto":
        return {
            "key": sq.key("auto", task, "adam", seed),
            "kind": "auto",
            "task": task,
            "optimizer": "auto",
            "base_optimizer": "adam",
            "seed": seed,
            "lr": None,
        }
    return {
        "key": sq.key(method, task, seed),
        "kind": method,
        "task": task,
        "optimizer": method,
        "seed": seed,
        "lr": None,
    }


def sign_flip_p(paired: np.ndarray, draws: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of a zero mean under random sign flips of the paired differences:
    the share of flipped means at least as far from 0 as the observed one."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(draws, paired.size))
    flipped = np.abs((signs * paired).mean(axis=1))
    return float((np.sum(flipped >= abs(paired.mean()) - 1e-12) + 1) / (draws + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=50, help="fresh seeds to add")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quality-cache", type=Path, default=sq.RESULTS / "suggestion_quality_runs.jsonl"
    )
    parser.add_argument("--cache", type=Path, default=sq.RESULTS / "auto_vs_lr_free_runs.jsonl")
    args = parser.parse_args()
    quality = sq.run_jobs([], args.quality_cache, 1)
    extra = list(range(FIRST_EXTRA_SEED, FIRST_EXTRA_SEED + args.extra))
    jobs = [job(m, task, seed) for seed in extra for task in sq.TASKS for m in METHODS]
    done = sq.run_jobs(jobs, args.cache, args.jobs)
    base = list(range(FIRST_EXTRA_SEED))
    write_table({**quality, **done}, base, extra)


def write_table(done: dict[str, Any], base: list[int], extra: list[int]) -> None:
    seeds = base + extra

    def scores(method: str, task: str) -> np.ndarray:
        return np.array([done[job(method, task, seed)["key"]]["score"] for seed in seeds])

    others = list(sq.LR_FREE)
    header = ["task", *METHODS, *(f"auto − {m}" for m in others), *(f"p vs {m}" for m in others)]
    rows = []
    for task in sq.TASKS:
        auto = scores("auto", task)
        cells = [task, *(f"{scores(m, task).mean():.2f}" for m in METHODS)]
        gaps, ps = [], []
        for method in others:
            paired = auto - scores(method, task)
            error = paired.std(ddof=1) / np.sqrt(paired.size)
            gaps.append(f"{paired.mean():+.2f} ± {error:.2f}")
            ps.append(f"{sign_flip_p(paired):.3f}")
        rows.append(cells + gaps + ps)
    lines = [
        "# `auto` against the learning-rate-free optimizers, on more seeds",
        "",
        f"{sq.dated_machine()} Seeds: 0-{seeds[-1]} ({len(base)} from "
        f"`suggestion_quality.md`, {len(extra)} fresh).",
        "",
        "Mean validation score in points (R² for `friedman-regression`), Adam. `auto` is "
        "`lrkit.torch.fit` with its defaults; Prodigy and Schedule-Free AdamW run at theirs. "
        "The difference is paired by seed (same data, split and initial weights), ± one "
        "standard error; p is the two-sided sign-flip test of a zero mean difference.",
        "",
        *sq.markdown_table(header, rows),
        "",
        "Regenerate: `python benchmarks/auto_vs_lr_free.py` (runs are cached in "
        "`benchmarks/results/auto_vs_lr_free_runs.jsonl`; the first 13 seeds come from "
        "`suggestion_quality_runs.jsonl`).",
        "",
    ]
    sq.publish("auto_vs_lr_free.md", lines)


if __name__ == "__main__":
    main()
