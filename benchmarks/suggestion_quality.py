"""How good is each suggestion rule? Regret against a fixed-learning-rate grid, per task.

For every built-in task, optimizer (Adam, SGD with momentum 0.9) and seed:

1. ground truth: train at every learning rate of a grid (3 points per decade, wide enough that
   both ends fail) for the task's budget and score the model on its validation split;
2. run one 100-step range test, ask every rule for a learning rate, train at it, score it;
3. probe the range test's two candidates for a third of the budget each
   (``lrkit.torch.probe_lr``), train at the probe's suggestion, score it;
4. train Prodigy and Schedule-Free AdamW at their defaults (when installed), and
   ``lrkit.torch.fit`` with its defaults (range test + probe + ``wsd`` under the divergence
   guard).

Regret = grid-best score - score, in points (accuracy x 100, or R² x 100 for regression).
Every finished run is appended to a JSON-lines cache, so an interrupted run resumes.

    python benchmarks/suggestion_quality.py              # full table (about 100 min, 2 cores)
    python benchmarks/suggestion_quality.py --quick      # one seed, two tasks: a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
TASKS = ["digits-cnn", "series-cnn-lstm", "tabular-mlp", "friedman-regression", "motif-gru"]
HELD_OUT = "motif-gru"  # never looked at while designing the default rule
DESIGN_SEEDS = tuple(range(10))  # the seeds the default rule and the probe were designed on
OPTIMIZERS = {"adam": (-5.0, 0.0), "momentum": (-4.0, 1.0)}  # grid bounds, log10 lr
RULES = ["steepest", "valley", "minimum", "slide", "centred", "default"]
PROBE = "probe"  # the range test's candidates, settled by lrkit.torch.probe_lr
LR_FREE = {"prodigy": "adam", "schedulefree": "adam"}
#: A reference, not a method: the one grid rate per task with the best mean over the seeds.
HINDSIGHT = "hindsight"


def grid(optimizer: str) -> list[float]:
    low, high = OPTIMIZERS[optimizer]
    return [float(10**e) for e in np.round(np.arange(low, high + 1e-9, 1 / 3), 6)]


def grid_runs(done: dict[str, Any], task: str, optimizer: str, seed: int) -> dict[float, Any]:
    """The cached grid runs of one task, optimizer and seed, by learning rate."""
    return {lr: done[key("grid", task, optimizer, seed, f"{lr:.6g}")] for lr in grid(optimizer)}


def dated_machine() -> str:
    """Today's date and this machine, for the first line of a results page."""
    return (
        f"Date: {date.today().isoformat()}. Machine: {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}."
    )


SOURCE = Path(__file__).resolve().parents[1] / "src" / "lrkit"


def code_version() -> str:
    """The first 12 hex digits of the SHA-256 of lrkit's source (every ``.py`` under
    ``src/lrkit``, by path): which code made a cached run."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*.py")):
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def provenance(records: Iterable[dict[str, Any]]) -> str:
    """One sentence for a results page: how many of ``records`` today's code made. A cached
    run is reused whatever code made it; delete its line to make it again."""
    records = list(records)
    today = code_version()
    fresh = sum(record.get("code") == today for record in records)
    if fresh == len(records):
        return f"Every run was made by today's code (`{today}`, `code` in the cache)."
    return (
        f"{fresh} of {len(records)} runs were made by today's code (`{today}`); the others "
        "by earlier code (`code` in the cache, absent before it was recorded), reused because "
        "a cached run is kept until its line is deleted."
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a markdown table: the first column left-aligned, the others right."""
    return [
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def publish(name: str, lines: list[str]) -> None:
    """Write a results page to ``benchmarks/results/name`` and print it."""
    (RESULTS / name).write_text("\n".join(lines))
    print("\n".join(lines))


def key(*parts: Any) -> str:
    return "|".join(str(p) for p in parts)


def train(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (task, optimizer, lr, seed) for the task's budget; score on validation."""
    import torch

    from lrkit import tasks

    torch.set_num_threads(1)
    task = tasks.get(job["task"], seed=job["seed"])
    name = job["optimizer"]
    start = time.perf_counter()
    if name == "prodigy":
        from prodigyopt import Prodigy

        optimizer: Any = Prodigy(task.model.parameters(), lr=1.0)
    elif name == "schedulefree":
        from schedulefree import AdamWScheduleFree

        optimizer = AdamWScheduleFree(task.model.parameters())
    elif name == "auto":
        from lrkit.torch import fit

        history = fit(
            task.model,
            task.make_optimizer(job["base_optimizer"]),
            task.loss_fn,
            task.train_loader,
            task.default_epochs,
            val_loader=task.val_loader,
            metric=task.metric,
            progress=False,
        )
        score = task.evaluate()[task.metric_name]
        assert history.plan is not None  # fit records the plan it trained with
        return {
            **job,
            "score": _points(score),
            "seconds": time.perf_counter() - start,
            "steps": len(history),
            "overhead_steps": history.plan.overhead_steps,
            "lr": float(history.column("lr").max()),
        }
    else:
        optimizer = task.make_optimizer(name, lr=job["lr"])
    steps = 0
    for _ in range(task.default_epochs):
        if hasattr(optimizer, "train"):
            optimizer.train()
        tasks.train_epoch(task.model, optimizer, task.loss_fn, task.train_loader)
        steps += len(task.train_loader)
    if hasattr(optimizer, "eval"):
        optimizer.eval()
    score = task.evaluate()[task.metric_name]
    return {**job, "score": _points(score), "seconds": time.perf_counter() - start, "steps": steps}


def range_test(job: dict[str, Any]) -> dict[str, Any]:
    """One 100-step range test; returns the curve and what it cost."""
    import torch

    from lrkit import tasks
    from lrkit.torch import find_lr

    torch.set_num_threads(1)
    task = tasks.get(job["task"], seed=job["seed"])
    start = time.perf_counter()
    result = find_lr(
        task.model,
        task.make_optimizer(job["optimizer"]),
        task.loss_fn,
        task.train_loader,
        num_steps=100,
        progress=False,
    )
    return {
        **job,
        "curve": result.to_dict(),
        "seconds": time.perf_counter() - start,
        "steps": len(result.lrs),
    }


def probe(job: dict[str, Any]) -> dict[str, Any]:
    """Probe the candidates of a cached range test for a third of the task's budget each."""
    import torch

    from lrkit import RangeTestResult, tasks
    from lrkit.probe import probe_steps
    from lrkit.torch import probe_lr

    torch.set_num_threads(1)
    task = tasks.get(job["task"], seed=job["seed"])
    total = task.default_epochs * len(task.train_loader)
    start = time.perf_counter()
    result = probe_lr(
        task.model,
        task.make_optimizer(job["optimizer"]),
        task.loss_fn,
        task.train_loader,
        candidates=RangeTestResult.from_dict(job["curve"]),
        steps=probe_steps(total),
        progress=False,
    )
    job = {k: v for k, v in job.items() if k != "curve"}
    return {
        **job,
        "lr": result.suggestion,
        "probe": result.to_dict(),
        "seconds": time.perf_counter() - start,
        "steps": result.steps * len(result.lrs),
    }


def _points(score: float) -> float:
    """Score in points, floored at 0 (an R² below 0 is no better than predicting the mean)."""
    return 100.0 * max(score, 0.0) if math.isfinite(score) else 0.0


def run_jobs(
    jobs: list[dict[str, Any]],
    cache: Path,
    workers: int,
    worker: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the jobs not yet in ``cache`` (append each as it finishes); return all by key.

    ``worker(job) -> record`` runs a job; by default it is chosen by the job's ``kind``."""
    done: dict[str, dict[str, Any]] = {}
    if cache.exists():
        data = cache.read_bytes()
        if data and not data.endswith(b"\n"):  # a run killed while appending its last record
            data = data[: data.rfind(b"\n") + 1]
            os.truncate(cache, len(data))
        for line in data.decode().splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("score") is not None:  # runs cached before scores were floored
                    record["score"] = max(record["score"], 0.0)
                done[record["key"]] = record
    todo = [job for job in jobs if job["key"] not in done]
    print(f"{len(jobs) - len(todo)} cached, {len(todo)} to run", flush=True)
    with ProcessPoolExecutor(workers) as pool, cache.open("a") as out:
        work = {"range": range_test, "probe": probe}
        futures = [pool.submit(worker or work.get(j["kind"], train), j) for j in todo]
        code = code_version()
        for i, future in enumerate(futures, 1):
            record = {**future.result(), "code": code}
            done[record["key"]] = record
            out.write(json.dumps(record) + "\n")
            out.flush()
            if i % 20 == 0 or i == len(futures):
                print(f"  {i}/{len(futures)}", flush=True)
    return done


def suggestions(curve: dict[str, Any], rules: list[str] = RULES) -> dict[str, float | None]:
    """Rule -> its learning rate on a cached curve, ``None`` where the rule has no answer."""
    from lrkit import RangeTestResult

    result = RangeTestResult.from_dict(curve)
    out: dict[str, float | None] = {}
    for rule in rules:
        try:
            out[rule] = result.suggest(rule).lr
        except ValueError:
            out[rule] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, two tasks")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(13)))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=RESULTS / "suggestion_quality_runs.jsonl")
    args = parser.parse_args()
    task_names = TASKS[:2] if args.quick else TASKS
    seeds = args.seeds[:1] if args.quick else args.seeds
    args.cache.parent.mkdir(parents=True, exist_ok=True)

    # phase 1: grids and range tests
    jobs = []
    for task in task_names:
        for seed in seeds:
            for optimizer in OPTIMIZERS:
                for lr in grid(optimizer):
                    jobs.append(
                        {
                            "key": key("grid", task, optimizer, seed, f"{lr:.6g}"),
                            "kind": "grid",
                            "task": task,
                            "optimizer": optimizer,
                            "seed": seed,
                            "lr": lr,
                        }
                    )
                jobs.append(
                    {
                        "key": key("range", task, optimizer, seed),
                        "kind": "range",
                        "task": task,
                        "optimizer": optimizer,
                        "seed": seed,
                    }
                )
            for lr_free in LR_FREE:
                jobs.append(
                    {
                        "key": key(lr_free, task, seed),
                        "kind": lr_free,
                        "task": task,
                        "optimizer": lr_free,
                        "seed": seed,
                        "lr": None,
                    }
                )
            for optimizer in OPTIMIZERS:
                jobs.append(
                    {
                        "key": key("auto", task, optimizer, seed),
                        "kind": "auto",
                        "task": task,
                        "optimizer": "auto",
                        "base_optimizer": optimizer,
                        "seed": seed,
                        "lr": None,
                    }
                )
    done = run_jobs(jobs, args.cache, args.jobs)

    # phase 2: probe each range test's candidates
    range_jobs = [job for job in jobs if job["kind"] == "range"]
    probe_jobs = [
        {
            **job,
            "key": key(PROBE, job["task"], job["optimizer"], job["seed"]),
            "kind": PROBE,
            "curve": done[job["key"]]["curve"],
        }
        for job in range_jobs
    ]
    done.update(run_jobs(probe_jobs, args.cache, args.jobs))

    # phase 3: train at each rule's suggestion and at each probe's suggestion
    from lrkit.probe import ProbeResult

    picks: dict[str, dict[str, float | None]] = {}
    rule_jobs = []
    for job in range_jobs:
        picked = suggestions(done[job["key"]]["curve"])
        probed = done[key(PROBE, job["task"], job["optimizer"], job["seed"])]["probe"]
        picked[PROBE] = ProbeResult.from_dict(probed).suggestion
        picks[job["key"]] = picked
        for lr in {v for v in picked.values() if v is not None}:
            rule_jobs.append(
                {
                    "key": key("rule", job["task"], job["optimizer"], job["seed"], f"{lr:.6g}"),
                    "kind": "rule",
                    "task": job["task"],
                    "optimizer": job["optimizer"],
                    "seed": job["seed"],
                    "lr": lr,
                }
            )
    done.update(run_jobs(rule_jobs, args.cache, args.jobs))
    write_table(task_names, seeds, done, picks)


def write_table(
    task_names: list[str],
    seeds: list[int],
    done: dict[str, Any],
    picks: dict[str, dict[str, float | None]],
) -> None:
    methods = [*RULES, PROBE, "auto", *LR_FREE, HINDSIGHT]
    regrets: dict[tuple[str, str, str, int], float] = {}  # (task, optimizer, method, seed)
    cost: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}  # steps, seconds
    best_rows = []
    for task in task_names:
        for optimizer in OPTIMIZERS:
            best_lrs, best_scores = [], []
            for seed in seeds:
                scores = grid_runs(done, task, optimizer, seed)
                best_lr = max(scores, key=lambda lr: scores[lr]["score"])
                best = scores[best_lr]["score"]
                best_lrs.append(best_lr)
                best_scores.append(best)
                grid_cost = np.array([sum(r[k] for r in scores.values()) for k in SPENT])
                range_run = done[key("range", task, optimizer, seed)]
                probe_run = done[key(PROBE, task, optimizer, seed)]
                for rule, lr in picks[key("range", task, optimizer, seed)].items():
                    cell = (task, optimizer, rule, seed)
                    if lr is None:
                        regrets[cell] = best - scores[grid(optimizer)[0]]["score"]
                        continue
                    score = done[key("rule", task, optimizer, seed, f"{lr:.6g}")]["score"]
                    regrets[cell] = best - score
                    spent = _spent(range_run) + (_spent(probe_run) if rule == PROBE else 0)
                    cost[rule].append(tuple(spent / grid_cost))
                extra = [("auto", key("auto", task, optimizer, seed))]
                if optimizer == "adam":
                    extra += [(m, key(m, task, seed)) for m in LR_FREE]
                for method, run_key in extra:
                    if run_key in done:
                        regrets[(task, optimizer, method, seed)] = best - done[run_key]["score"]
                        spent = _spent(done[run_key])
                        if method == "auto":  # fit's seconds include its range test and probe
                            spent += [done[run_key]["overhead_steps"], 0]
                        cost[method].append(tuple(spent / grid_cost))
            by_lr = {
                lr: [done[key("grid", task, optimizer, s, f"{lr:.6g}")]["score"] for s in seeds]
                for lr in grid(optimizer)
            }
            in_hindsight = by_lr[max(by_lr, key=lambda lr: np.mean(by_lr[lr]))]
            for seed, best, score in zip(seeds, best_scores, in_hindsight, strict=True):
                regrets[(task, optimizer, HINDSIGHT, seed)] = best - score
            best_rows.append(
                f"| {task} | {optimizer} | {_geo(best_lrs):.2g} | {np.mean(best_scores):.1f} |"
            )

    lines = [
        "# Suggestion quality",
        "",
        f"{dated_machine()} Seeds: {seeds}. "
        f"Held-out task: `{HELD_OUT}`. The default rule and the probe were designed on the "
        f"other tasks and on seeds {DESIGN_SEEDS[0]}-{DESIGN_SEEDS[-1]}; later seeds were run "
        "after that, as a fresh check. `auto`'s policy was chosen on all tasks and seeds, but on "
        "other data orders than these (`auto_policies.md`). " + provenance(done.values()),
        "",
        "Scores are validation accuracy (R² for `friedman-regression`, floored at 0) in points "
        "after the task's budget. Regret = grid-best - score (lower is better; negative beats "
        "the grid).",
        "",
        "## Grid ground truth (mean over seeds)",
        "",
        "| task | optimizer | best lr (geo-mean) | best score |",
        "| --- | --- | ---: | ---: |",
        *best_rows,
        "",
        "## Mean regret per task (points)",
        "",
        "| task | optimizer | " + " | ".join(methods) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in methods) + " |",
    ]

    def mean_of(method: str, tasks: Any, seed_set: Any) -> list[float]:
        return [
            v for (t, _, m, s), v in regrets.items() if m == method and t in tasks and s in seed_set
        ]

    for task in task_names:
        for optimizer in OPTIMIZERS:
            row = [
                _fmt(
                    [v for (t, o, m, _), v in regrets.items() if (t, o, m) == (task, optimizer, x)]
                )
                for x in methods
            ]
            lines.append(f"| {task} | {optimizer} | " + " | ".join(row) + " |")
    design = [s for s in seeds if s in DESIGN_SEEDS]
    later = [s for s in seeds if s not in DESIGN_SEEDS]
    summaries = [
        ("tuning tasks", [t for t in task_names if t != HELD_OUT], seeds),
        ("held-out task", [t for t in task_names if t == HELD_OUT], seeds),
    ]
    if design and later:
        summaries += [
            (f"design seeds {_span(design)}", task_names, design),
            (f"later seeds {_span(later)}", task_names, later),
        ]
    for label, selected, seed_set in [*summaries, ("all", task_names, seeds)]:
        if selected:
            row = [_fmt(mean_of(m, selected, seed_set)) for m in methods]
            lines.append(f"| **mean, {label}** | | " + " | ".join(row) + " |")
    worst = []
    for method in methods:
        by_task: dict[tuple[str, str], list[float]] = {}
        for (t, o, m, _), v in regrets.items():
            if m == method:
                by_task.setdefault((t, o), []).append(v)
        per_task = [float(np.mean(vs)) for vs in by_task.values()]
        worst.append(_fmt([max(per_task)]) if per_task else "—")
    lines.append("| **worst task mean** | | " + " | ".join(worst) + " |")
    lines += ["", *_against_lr_free(task_names, seeds, done)]
    lines += [
        "",
        "## Compute as a fraction of the grid's",
        "",
        "| measure | " + " | ".join(methods) + " |",
        "| --- | " + " | ".join("---:" for _ in methods) + " |",
        *(
            f"| {measure} | "
            + " | ".join(
                f"{np.mean([c[i] for c in cost[m]]):.1%}" if cost[m] else "—" for m in methods
            )
            + " |"
            for i, measure in enumerate(SPENT)
        ),
        "",
        "Steps are training steps (forward and backward passes) and do not depend on the "
        "machine. Seconds do, and the cached runs were timed at different times under "
        "different load (the grid in an earlier run of this script), so treat them as rough. "
        "Rules cost one 100-step range test; `probe` adds two probes of a third of the budget "
        "each; `auto` (range test, probe, `wsd`), Prodigy and Schedule-Free include the "
        "training run that is kept. A rule with no answer scores as the grid's lowest "
        "learning rate would. `probe` and `auto` compare training losses only: the validation "
        "split stays unseen until the score.",
        "",
        "`hindsight` is no method but the floor the noise sets: the single grid rate with the "
        "best mean score over the seeds, per task and optimizer, chosen after seeing them all; "
        "it still misses each seed's own best.",
        "",
        "Regenerate: `python benchmarks/suggestion_quality.py` (runs are cached in "
        "`benchmarks/results/suggestion_quality_runs.jsonl`; delete it to start over).",
        "",
    ]
    publish("suggestion_quality.md", lines)


SPENT = ("steps", "seconds")


def _against_lr_free(task_names: list[str], seeds: list[int], done: dict[str, Any]) -> list[str]:
    """Per task (Adam): mean scores of ``auto`` and each learning-rate-free optimizer, and the
    paired difference auto − it over the seeds, ± its standard error s/√n."""
    header = ["task", "auto", *LR_FREE, *(f"auto − {m}" for m in LR_FREE)]
    rows = []
    for task in task_names:
        auto = [done.get(key("auto", task, "adam", seed)) for seed in seeds]
        cells, gaps = [_fmt([r["score"] for r in auto if r])], []
        for method in LR_FREE:
            runs = [done.get(key(method, task, seed)) for seed in seeds]
            cells.append(_fmt([r["score"] for r in runs if r]))
            paired = [a["score"] - r["score"] for a, r in zip(auto, runs, strict=True) if a and r]
            gaps.append(_gap(paired))
        rows.append([task, *cells, *gaps])
    return [
        "## `auto` against the learning-rate-free optimizers (Adam, mean score in points)",
        "",
        *markdown_table(header, rows),
        "",
        "The difference is paired by seed (same data, split and initial weights). Where it is "
        "within about two standard errors of 0, the table cannot tell the two apart.",
    ]


def _gap(paired: list[float]) -> str:
    if len(paired) < 2:
        return "—"
    error = float(np.std(paired, ddof=1) / np.sqrt(len(paired)))
    return f"{np.mean(paired):+.2f} ± {error:.2f}"


def _spent(run: dict[str, Any]) -> Any:
    return np.array([run[k] for k in SPENT], dtype=float)


def _span(seeds: list[int]) -> str:
    """``0-9`` for a run of consecutive seeds, else the seeds one by one."""
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _geo(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _fmt(values: list[float] | None) -> str:
    return f"{np.mean(values):.1f}" if values else "—"


if __name__ == "__main__":
    main()
