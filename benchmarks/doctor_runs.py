"""The labelled training runs the doctor is judged on: how each was made is its label.

Every built-in task is trained with Adam and with SGD + momentum, and each task of
:data:`SUITE_TASKS` (from ``benchmarks/suite``) with its two optimizers, starting from the rate
with the best mean score in the fixed-rate grid of ``suggestion_quality.py`` (built-in tasks) or
``suite_quality.py`` (suite tasks) (``best``), in ten ways:

| label | how the run is made | event (step) |
| --- | --- | --- |
| ``healthy`` | ``best`` | none |
| ``healthy_low`` | ``0.3 x best`` | none |
| ``healthy_high`` | ``3 x best`` | none |
| ``warmup`` | linear warm-up from ``best / 100`` to ``3 x best`` over 100 steps | none |
| ``too_high`` | ``f x best`` from the start, ``f`` in [30, 300] | 0 |
| ``too_low`` | ``f x best``, ``f`` in [1e-4, 1e-3] | 0 |
| ``raised`` | ``best``, then multiplied by ``f`` in [10, 100] at step 500 | 500 |
| ``nan`` | ``best``; one weight of the first layer becomes NaN at step 500 | 500 |
| ``oscillating`` | ``best`` for 300 steps, then 32 at ``5 x best``, 32 at ``best / 5``, ... | 300 |
| ``overfitting`` | ``best`` on 64 training examples | none (judged by the rule) |

:data:`SCHEDULED` holds the schedules of ``doctor_schedules.py`` (healthy training under
warm restarts, a triangular cycle, one-cycle and warm-up–stable–decay), made by the same
:func:`train`.

Factors ``f`` are drawn log-uniformly from a generator seeded by the run. Each run lasts
:data:`STEPS` optimizer steps, or the job's ``steps`` (``raised`` and ``nan`` stop 100 steps
after their event) and is
validated every :data:`VAL_EVERY` steps. A run is recorded as a log would be: per step the
rate, loss and global gradient norm (before the update), per validation ``val_loss`` and
``val_metric``; numbers are kept to 6 significant digits.

Split, fixed by rule: on the built-in tasks, seed 0 runs are design runs (thresholds are tuned
on them) and seed 1 runs are test runs (only reported); a suite task is run once (seed 0) and
its runs follow the suite's split by task (:func:`suite.split`), so the test runs include tasks
no threshold was ever chosen on. Holdout runs are new runs of the test tasks, each split
made after the rules' thresholds and severities were last changed and never looked at before a
change was settled: ``holdout`` (2026-12-03) the built-in tasks at seed 2 and the suite's test
tasks at seed 1, ``holdout-2`` (2026-12-04) at seeds 3 and 2, ``holdout-3`` (2026-12-04, after
the rate-rise test of ``divergence``) at seeds 4 and 3, ``holdout-4`` (2026-12-07, after a loss
that rose stopped counting as a rate too low) at seeds 5 and 4.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import lrkit.schedules as S

sys.path.insert(0, str(Path(__file__).parent))
RESULTS = Path(__file__).parent / "results"
CACHE = RESULTS / "doctor_quality_runs.jsonl"
TASKS = ("digits-cnn", "series-cnn-lstm", "tabular-mlp", "friedman-regression", "motif-gru")
OPTIMIZERS = ("adam", "momentum")
LABELS = (
    "healthy",
    "healthy_low",
    "healthy_high",
    "warmup",
    "too_high",
    "too_low",
    "raised",
    "nan",
    "oscillating",
    "overfitting",
)
SEEDS = {"design": 0, "test": 1}
#: Suite tasks run once (seed 0), split by task (:func:`suite.split`): every task of the suite.
SUITE_TASKS = (
    "shapes-cnn",
    "gunpoint-lstm",
    "vowels-gru",
    "digits-resnet",
    "noisy-labels-mlp",
    "char-transformer",
    "arrowhead-fcn",
    "char-lstm",
    "diabetes-mlp",
    "italy-bilstm",
    "shapes-resnet",
    "wine-mlp",
    "arrowhead-gru",
    "digits-autoencoder",
    "digits-finetune",
    "osuleaf-cnn-lstm",
    "patches-cnn",
    "sparse-regression-mlp",
)
SUITE_SEED = 0
#: Holdout splits: new runs of the test tasks, split -> (seed of the built-in tasks, seed of
#: the suite's test tasks, the day they were made).
HOLDOUTS = {
    "holdout": (2, 1, "2026-12-03"),
    "holdout-2": (3, 2, "2026-12-04"),
    "holdout-3": (4, 3, "2026-12-04"),
    "holdout-4": (5, 4, "2026-12-07"),
}
STEPS = 1000
VAL_EVERY = 25
EVENT = {"too_high": 0, "too_low": 0, "raised": 500, "nan": 500, "oscillating": 300}
SMALL_TRAIN = 64


def best_rates(
    paths: tuple[Path, ...] = (
        RESULTS / "suggestion_quality_runs.jsonl",
        RESULTS / "suite_quality_runs.jsonl",
    ),
) -> dict[str, float]:
    """``task|optimizer`` -> the grid rate with the best mean score over the seeds."""
    scores: dict[tuple[str, str, float], list[float]] = {}
    seen: set[tuple[str, str, float, int]] = set()
    for path in paths:
        with path.open() as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("kind") != "grid":
                    continue
                where = (record["task"], record["optimizer"], record["lr"])
                if (*where, record["seed"]) not in seen:
                    seen.add((*where, record["seed"]))
                    scores.setdefault(where, []).append(record["score"])
    best: dict[str, tuple[float, float]] = {}
    for (task, optimizer, lr), values in scores.items():
        mean = float(np.mean(values))
        name = f"{task}|{optimizer}"
        if name not in best or mean > best[name][0]:
            best[name] = (mean, lr)
    return {name: lr for name, (_, lr) in best.items()}


def jobs() -> list[dict[str, Any]]:
    """Every run to make, in a fixed order: the built-in tasks, then the suite tasks."""
    import suite

    where = [
        (task, optimizer, seed, split)
        for split, seed in SEEDS.items()
        for task in TASKS
        for optimizer in OPTIMIZERS
    ]
    split_of = suite.split(suite.all_tasks())
    where += [
        (name, optimizer, SUITE_SEED, split_of[name])
        for name in SUITE_TASKS
        for optimizer in suite.get(name).optimizers
    ]
    for holdout, (seed, suite_seed, _) in HOLDOUTS.items():
        where += [(task, optimizer, seed, holdout) for task in TASKS for optimizer in OPTIMIZERS]
        where += suite_test_runs(suite_seed, holdout)
    return as_jobs(where, LABELS)


def suite_test_runs(seed: int, split: str) -> list[tuple[str, str, int, str]]:
    """(task, optimizer, seed, split) for every test task of the suite and its optimizers."""
    import suite

    split_of = suite.split(suite.all_tasks())
    return [
        (name, optimizer, seed, split)
        for name in SUITE_TASKS
        if split_of[name] == "test"
        for optimizer in suite.get(name).optimizers
    ]


def as_jobs(where: list[tuple[str, str, int, str]], labels: Iterable[str]) -> list[dict[str, Any]]:
    """One job per (task, optimizer, seed, split) of ``where`` and label, at the task's best
    fixed rate."""
    rates = best_rates()
    return [
        {
            "key": f"{task}|{optimizer}|{label}|{seed}",
            "task": task,
            "optimizer": optimizer,
            "label": label,
            "seed": seed,
            "split": split,
            "best_lr": rates[f"{task}|{optimizer}"],
        }
        for task, optimizer, seed, split in where
        for label in labels
    ]


def _factor(job: dict[str, Any], low: float, high: float) -> float:
    digest = sum(ord(c) * (i + 1) for i, c in enumerate(job["key"]))
    rng = np.random.default_rng(digest)
    return float(10 ** rng.uniform(math.log10(low), math.log10(high)))


#: Scheduled runs (``doctor_schedules.py``): label -> the schedule, from the best fixed rate.
SCHEDULED: dict[str, Any] = {
    "cosine_restarts": lambda best: S.cosine_restarts(3 * best, 250),
    "triangular": lambda best: S.triangular(best / 4, 3 * best, 100),
    "one_cycle": lambda best: S.one_cycle(3 * best, STEPS),
    "wsd": lambda best: S.wsd(3 * best, STEPS, STEPS // 5, warmup_steps=STEPS // 20),
}


def schedule(job: dict[str, Any]) -> tuple[Any, float]:
    """(step -> rate, the factor drawn for this run or 1)."""
    best, label = job["best_lr"], job["label"]
    if label in SCHEDULED:
        return SCHEDULED[label](best), 1.0
    factor = 1.0
    if label == "too_high":
        factor = _factor(job, 30, 300)
    elif label == "too_low":
        factor = _factor(job, 1e-4, 1e-3)
    elif label == "raised":
        factor = _factor(job, 10, 100)
    scale = {"healthy_low": 0.3, "healthy_high": 3.0, "too_high": factor, "too_low": factor}

    def rate(step: int) -> float:
        if label == "warmup":
            return best / 100 + (3 * best - best / 100) * min(step / 100, 1.0)
        if label == "raised" and step >= EVENT["raised"]:
            return best * factor
        if label == "oscillating" and step >= EVENT["oscillating"]:
            high = (step - EVENT["oscillating"]) // 32 % 2 == 0
            return best * (5.0 if high else 0.2)
        return best * scale.get(label, 1.0)

    return rate, factor


def _small(loader: Any, seed: int) -> Any:
    import torch
    from torch.utils.data import DataLoader, Subset

    generator = torch.Generator().manual_seed(seed)
    picked = torch.randperm(len(loader.dataset), generator=generator)[:SMALL_TRAIN].tolist()
    return DataLoader(
        Subset(loader.dataset, picked),
        batch_size=16,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


def _poison(model: Any) -> None:
    """One weight of the first layer becomes NaN."""
    import torch

    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = math.nan


def _round(value: float) -> float | str:
    if math.isfinite(value):
        return float(f"{value:.6g}")
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def train(job: dict[str, Any]) -> dict[str, Any]:
    """Make one run; return its record (the job, the factor and the logged rows)."""
    import torch

    import suite

    torch.set_num_threads(1)
    started = time.perf_counter()
    task = suite.get(job["task"]).build(job["seed"])
    loader = _small(task.train_loader, job["seed"]) if job["label"] == "overfitting" else None
    loader = loader or task.train_loader
    rate, factor = schedule(job)
    optimizer: Any = suite.make_optimizer(task, job["optimizer"], rate(0))
    event = EVENT.get(job["label"])
    last = event + 100 if job["label"] in ("raised", "nan") else job.get("steps", STEPS)
    rows: list[dict[str, Any]] = []
    step = 0
    while step < last:
        task.model.train()
        for inputs, targets in loader:
            lr = rate(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if job["label"] == "nan" and step == event:
                _poison(task.model)
            optimizer.zero_grad()
            loss = task.loss_fn(task.model(inputs), targets)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(task.model.parameters(), math.inf)
            optimizer.step()
            row = {"step": step, "lr": lr, "loss": float(loss.detach()), "grad_norm": float(norm)}
            step += 1
            if step % VAL_EVERY == 0:
                scores = task.evaluate()
                row["val_loss"] = scores["loss"]
                row["val_metric"] = scores[task.metric_name]
            rows.append({k: v if k == "step" else _round(v) for k, v in row.items()})
            if step >= last:
                break
    return {
        **job,
        "factor": factor,
        "event": event,
        "metric": task.metric_name,
        "seconds": round(time.perf_counter() - started, 2),
        "rows": rows,
    }


def make_runs(cache: Path = CACHE, workers: int = 1) -> dict[str, dict[str, Any]]:
    """Make every run not yet in ``cache`` (appended as each finishes, by ``workers``
    processes, through :func:`suggestion_quality.run_jobs`); return all by key."""
    import suggestion_quality as sq

    return sq.run_jobs(jobs(), cache, max(1, workers), worker=train)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="runs made at once (processes)")
    make_runs(workers=parser.parse_args().jobs)
