"""Can the learning rate be trusted on tasks lrkit was never tuned on? Regret on the suite.

For every task of ``benchmarks/suite`` (its design/test split is fixed by a rule there), each
of the task's two optimizers and each seed:

1. ground truth: train at every rate of a fixed-LR grid (3 per decade: 1e-5 to 1 for the
   Adam family and RMSprop, 1e-4 to 10 for SGD with momentum) for the task's budget;
2. ``lrkit.torch.find_lr`` at its defaults (100 steps, and the retries a curve no rule can
   read gets); train at every rule's suggestion; a rule with no answer is a *refusal* and
   scores as the grid's lowest rate would;
3. ``probe``: the range test's two candidates probed for a third of the run each, then
   trained at the probe's suggestion (a constant rate);
4. ``auto``: ``lrkit.torch.fit`` at its defaults (range test, probe, ``wsd`` at the probe's
   hold rate, divergence guard), its overhead (range test + probe steps) recorded; a raised
   error is a refusal;
5. ``wsd hindsight``: ``wsd`` (no guard) at 7 peak rates around the best constant rate in
   hindsight (± 1 decade; the grid rate with the best mean over the seeds); per seed the best
   of them, chosen after the fact: the floor for ``auto``'s own kind;
6. Prodigy and Schedule-Free AdamW at their defaults, for the Adam-family pairs.

Regret = the seed's grid-best score − score, in points (accuracy or R² × 100, floored at 0).
Every finished run is appended to a JSON-lines cache, so an interrupted run resumes; grid runs
of the built-in tasks are taken from ``suggestion_quality``'s cache, which ran the same jobs.

    python benchmarks/suite_quality.py                        # everything (hours; see README)
    python benchmarks/suite_quality.py --split test           # the test tasks only
    python benchmarks/suite_quality.py --tasks wine-mlp --seeds 0   # a subset
    python benchmarks/suite_quality.py --table                # the tables from the cache
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import suggestion_quality as sq
import suite

key = sq.key
CACHE = sq.RESULTS / "suite_quality_runs.jsonl"
SEEDS = (0, 1, 2)
#: log10 bounds of the fixed-rate grid per optimizer (3 points per decade).
GRID = {"adam": (-5.0, 0.0), "adamw": (-5.0, 0.0), "rmsprop": (-5.0, 0.0), "momentum": (-4.0, 1.0)}
ADAM_FAMILY = ("adam", "adamw")
RULES = ["steepest", "valley", "minimum", "slide", "default"]
LR_FREE = ("prodigy", "schedulefree")
#: ``wsd`` peaks tried in hindsight: the best constant grid rate × 10^(k/3), k = -3..3.
WSD_OFFSETS = range(-3, 4)
METHODS = [*RULES, "probe", "auto", *LR_FREE, "hindsight", "wsd hindsight"]


def grid(optimizer: str) -> list[float]:
    low, high = GRID[optimizer]
    return [float(10**e) for e in np.round(np.arange(low, high + 1e-9, 1 / 3), 6)]


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One job of any kind, in a fresh single-threaded task; returns the record to cache."""
    import torch

    torch.set_num_threads(1)
    task = suite.get(job["task"]).build(job["seed"])
    start = time.perf_counter()
    record = {**job, **WORKERS[job["kind"]](task, job)}
    record["seconds"] = time.perf_counter() - start
    record.pop("curve", None)
    return record


def _train_fixed(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    optimizer = suite.make_optimizer(task, job["optimizer"], job["lr"])
    return _train(task, optimizer)


def _train(task: Any, optimizer: Any) -> dict[str, Any]:
    from lrkit import tasks

    for _ in range(task.default_epochs):
        if hasattr(optimizer, "train"):  # Schedule-Free switches its weights
            optimizer.train()
        tasks.train_epoch(task.model, optimizer, task.loss_fn, task.train_loader)
    if hasattr(optimizer, "eval"):
        optimizer.eval()
    return {"score": _score(task), "steps": task.default_epochs * len(task.train_loader)}


def _lr_free(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    if job["kind"] == "prodigy":
        from prodigyopt import Prodigy

        return _train(task, Prodigy(task.model.parameters(), lr=1.0))
    from schedulefree import AdamWScheduleFree

    return _train(task, AdamWScheduleFree(task.model.parameters()))


def _range(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    from lrkit.torch import find_lr

    optimizer = suite.make_optimizer(task, job["optimizer"])
    found = find_lr(task.model, optimizer, task.loss_fn, task.train_loader, progress=False)
    return {"range": found.to_dict(), "steps": found.steps_run}


def _probe(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    from lrkit import RangeTestResult, SuggestionError
    from lrkit.probe import probe_steps
    from lrkit.torch import probe_lr

    total = task.default_epochs * len(task.train_loader)
    try:
        probed = probe_lr(
            task.model,
            suite.make_optimizer(task, job["optimizer"]),
            task.loss_fn,
            task.train_loader,
            candidates=RangeTestResult.from_dict(job["curve"]),
            steps=probe_steps(total),
            progress=False,
        )
        lr = probed.suggestion
    except SuggestionError as exc:
        return {"lr": None, "error": str(exc), "steps": 0}
    return {"lr": lr, "probe": probed.to_dict(), "steps": probed.steps * len(probed.lrs)}


def _auto(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    from lrkit import SuggestionError
    from lrkit.torch import fit

    try:
        history = fit(
            task.model,
            suite.make_optimizer(task, job["optimizer"]),
            task.loss_fn,
            task.train_loader,
            task.default_epochs,
            progress=False,
        )
    except SuggestionError as exc:
        return {"score": None, "error": str(exc)}
    plan = history.plan
    return {
        "score": _score(task),
        "lr": plan.lr,
        "overhead_steps": plan.overhead_steps,
        "steps": plan.total_steps,
        "sweeps": len(plan.range_test.sweeps),
        "verdict": plan.probe.verdict if plan.probe is not None else None,
        "range": plan.range_test.to_dict(),
        "probe": plan.probe.to_dict() if plan.probe is not None else None,
    }


def _wsd(task: Any, job: dict[str, Any]) -> dict[str, Any]:
    from lrkit import RangeTestResult
    from lrkit.torch import fit

    fit(
        task.model,
        suite.make_optimizer(task, job["optimizer"]),
        task.loss_fn,
        task.train_loader,
        task.default_epochs,
        range_test=RangeTestResult.from_dict(job["curve"]),  # wsd reads only ``lr``
        lr=job["lr"],
        guard=False,
        progress=False,
    )
    return {"score": _score(task), "steps": task.default_epochs * len(task.train_loader)}


WORKERS = {
    "grid": _train_fixed,
    "rule": _train_fixed,
    "range": _range,
    "probe": _probe,
    "auto": _auto,
    "wsd": _wsd,
    "prodigy": _lr_free,
    "schedulefree": _lr_free,
}


def _score(task: Any) -> float:
    return sq._points(task.evaluate()[task.metric_name])


def lr_free_pair(name: str) -> str | None:
    """The optimizer of ``name`` whose grid the learning-rate-free optimizers are scored
    against: its first Adam-family one (``None``: the task has none)."""
    return next((o for o in suite.get(name).optimizers if o in ADAM_FAMILY), None)


def pairs(names: list[str]) -> list[tuple[str, str]]:
    return [(name, opt) for name in names for opt in suite.get(name).optimizers]


def job(kind: str, task: str, optimizer: str, seed: int, lr: float | None = None) -> dict[str, Any]:
    parts = [kind, task, optimizer, seed] + ([f"{lr:.6g}"] if lr is not None else [])
    return {
        "key": key(*parts),
        "kind": kind,
        "task": task,
        "optimizer": optimizer,
        "seed": seed,
        "lr": lr,
    }


def reuse_builtin_grids(cache: Path) -> None:
    """Copy the built-in tasks' grid runs from ``suggestion_quality``'s cache (same jobs)."""
    have = set(sq.run_jobs([], cache, 1)) if cache.exists() else set()
    source = sq.RESULTS / "suggestion_quality_runs.jsonl"
    if not source.exists():
        return
    copied = []
    for line in source.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") != "grid" or record["seed"] not in SEEDS:
            continue
        new = job("grid", record["task"], record["optimizer"], record["seed"], record["lr"])
        if new["key"] not in have:
            copied.append({**new, **{k: record[k] for k in ("score", "seconds", "steps")}})
    with cache.open("a") as out:
        for record in copied:
            out.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", help="task names (default: the whole suite)")
    parser.add_argument("--split", choices=("design", "test"), help="only this split's tasks")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--table", action="store_true", help="only write the tables")
    args = parser.parse_args()
    everything = suite.all_tasks()
    splits = suite.split(everything)
    names = args.tasks or [t.name for t in everything]
    if args.split:
        names = [n for n in names if splits[n] == args.split]
    from suite_tables import write_table

    if args.table:
        write_table(sq.run_jobs([], args.cache, 1), splits, args.seeds)
        return
    reuse_builtin_grids(args.cache)
    seeds = args.seeds
    first = []
    for name, opt in pairs(names):
        for seed in seeds:
            first += [job("grid", name, opt, seed, lr) for lr in grid(opt)]
            first += [job("range", name, opt, seed), job("auto", name, opt, seed)]
            if opt == lr_free_pair(name):
                first += [job(kind, name, "-", seed) for kind in LR_FREE]
    done = sq.run_jobs(first, args.cache, args.jobs, worker=run)
    second = []
    for name, opt in pairs(names):
        for seed in seeds:
            curve = done[key("range", name, opt, seed)]["range"]
            second.append({**job("probe", name, opt, seed), "curve": curve})
            picked = {lr for lr in suggestions(curve).values() if lr is not None}
            second += [job("rule", name, opt, seed, lr) for lr in sorted(picked)]
            best = hindsight_lr(done, name, opt, seeds)
            second += [
                {**job("wsd", name, opt, seed, best * 10 ** (k / 3)), "curve": curve}
                for k in WSD_OFFSETS
            ]
    done.update(sq.run_jobs(second, args.cache, args.jobs, worker=run))
    third = []
    for name, opt in pairs(names):
        for seed in seeds:
            lr = done[key("probe", name, opt, seed)]["lr"]
            if lr is not None:
                third.append(job("rule", name, opt, seed, lr))
    done.update(sq.run_jobs(third, args.cache, args.jobs, worker=run))
    write_table(done, splits, seeds)


def suggestions(curve: dict[str, Any]) -> dict[str, float | None]:
    return sq.suggestions(curve, RULES)


def hindsight_lr(done: dict[str, Any], name: str, opt: str, seeds: list[int]) -> float:
    """The grid rate with the best mean score over ``seeds``: a single seed's best is often a
    lucky point on the small, noisy tasks."""
    mean = {
        lr: np.mean([done[key("grid", name, opt, s, f"{lr:.6g}")]["score"] for s in seeds])
        for lr in grid(opt)
    }
    return max(mean, key=lambda lr: mean[lr])


if __name__ == "__main__":
    main()
