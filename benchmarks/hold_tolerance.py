"""Which rate should ``wsd`` hold? Rules that read the probe, judged by the runs they lead to.

For every built-in task, optimizer and seed of ``suggestion_quality.py`` (whose cache must hold
the range tests and grids: run it first), on the benchmark's own data order and on
``--orders`` reshuffled ones (the loader's shuffling and torch's random state reseeded with
``1000 · seed + order``):

1. probe the range test's bold and safe candidates, ``lr_low / 2`` and ``lr_low / 9``, for a
   third of the run each, once at a constant rate and once with a cooldown over the last 60 %
   of the steps (``lrkit.torch.probe_lr``);
2. train ``lrkit.torch.fit`` (``wsd``, divergence guard) at ``lr_low / 2``, ``/ 3`` and ``/ 9``.

Each rule below picks one of those rates from the probes' scores, and is scored by the run at
that rate, with no further training; regret is against the grid of ``suggestion_quality.md``.

- ``winner``: the constant probe's winner (``ProbeResult.best``; ``fit``'s rule before);
- ``winner, cooldown``: the cooled-down probe's winner;
- ``tolerance k``: the bold rate unless its constant-probe score is more than ``k`` times the
  safe one's (``ProbeResult.boldest_within(k)``; ``fit`` held ``k = 1.5`` before);
- ``80 % of the largest fall``: ``ProbeResult.hold``, the bold rate when its fall from the
  starting loss is at least 80 % of the largest, and the safe one when no candidate fell by
  more than twice the noise;
- ``always bold`` / ``always lr_low / 3`` / ``always safe``: no probe;
- ``best of the three (hindsight)``: seen after the fact — the floor for any rule.

Runs fall in three groups: *design* (seeds 0-9, reshuffled orders, every task but the
held-out ``motif-gru``), where the tolerance was chosen; *fresh* (seeds 10-12 or
``motif-gru``, reshuffled orders); and the benchmark's own order (all seeds and tasks).

    python benchmarks/hold_tolerance.py          # about 45 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import auto_policies as ap
import suggestion_quality as sq

#: ``fit`` runs at ``lr_low / d`` for each of these: the bold, the stepped-back, the safe rate.
DIVISORS = (2.0, 3.0, 9.0)
BOLD, MIDDLE, SAFE = (str(d) for d in DIVISORS)
#: name -> cooldown of the probes
PROBES = {"const": 0.0, "cool60": 0.6}
TOLERANCES = (1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0)


def train(job: dict[str, Any]) -> dict[str, Any]:
    """Probe one (task, optimizer, seed, data order) both ways; fit ``wsd`` at each rate."""
    import torch

    from lrkit import RangeTestResult, tasks
    from lrkit.probe import probe_candidates, probe_steps
    from lrkit.torch import fit, probe_lr

    torch.set_num_threads(1)
    found = RangeTestResult.from_dict(job["curve"])
    lr_low = probe_candidates(found, (1.0,))[0]

    def fresh_task() -> Any:
        task = tasks.get(job["task"], seed=job["seed"])
        if job["order"]:
            task.train_loader.generator.manual_seed(1000 * job["seed"] + job["order"])
            torch.manual_seed(1000 * job["seed"] + job["order"])
        return task

    record: dict[str, Any] = {k: v for k, v in job.items() if k != "curve"}
    record["lr_low"] = lr_low
    task = fresh_task()
    optimizer = task.make_optimizer(job["optimizer"])
    steps = probe_steps(task.default_epochs * len(task.train_loader))
    for name, cooldown in PROBES.items():
        probed = probe_lr(
            task.model,
            optimizer,
            task.loss_fn,
            task.train_loader,
            candidates=[lr_low / DIVISORS[0], lr_low / DIVISORS[-1]],
            steps=steps,
            cooldown=cooldown,
            progress=False,
        )
        record[name] = probed.losses
    record["fit"] = {}
    for divisor in DIVISORS:
        task = fresh_task()
        history = fit(
            task.model,
            task.make_optimizer(job["optimizer"]),
            task.loss_fn,
            task.train_loader,
            task.default_epochs,
            policy="wsd",
            range_test=found,
            lr=lr_low / divisor,
            progress=False,
        )
        rollbacks = (
            int(np.isfinite(history.column("rollback")).sum())
            if "rollback" in history.columns
            else 0
        )
        record["fit"][str(divisor)] = [sq._points(task.evaluate()[task.metric_name]), rollbacks]
    return record


def rules() -> dict[str, Callable[[dict[str, Any]], str]]:
    """Rule name -> which run (a key of ``record["fit"]``) it picks for a record."""
    from lrkit.probe import ProbeResult

    def probed(record: dict[str, Any], probe: str) -> ProbeResult:
        return ProbeResult([2.0, 1.0], record[probe], 1)  # 2: the bold rate, 1: the safe one

    def fall(record: dict[str, Any]) -> str:
        try:
            return BOLD if probed(record, "const").hold == 2.0 else SAFE
        except ValueError:  # both candidates diverged
            return SAFE

    def winner(probe: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: BOLD if probed(r, probe).best == 2.0 else SAFE

    def tolerance(k: float) -> Callable[[dict[str, Any]], str]:
        return lambda r: BOLD if probed(r, "const").boldest_within(k) == 2.0 else SAFE

    picks: dict[str, Callable[[dict[str, Any]], str]] = {
        "winner": winner("const"),
        "winner, cooldown": winner("cool60"),
    }
    picks.update(
        {
            f"tolerance {k}" + (" (`fit`'s rule before)" if k == 1.5 else ""): tolerance(k)
            for k in TOLERANCES
        }
    )
    picks["80 % of the largest fall, beyond the noise (`.hold`, `fit`'s rule)"] = fall
    picks.update(
        {
            "always bold": lambda r: BOLD,
            "always lr_low / 3": lambda r: MIDDLE,
            "always safe": lambda r: SAFE,
            "best of the three (hindsight)": lambda r: max(r["fit"], key=lambda d: r["fit"][d][0]),
        }
    )
    return picks


def group(record: dict[str, Any]) -> str:
    if record["order"] == 0:
        return "benchmark order"
    fresh = record["seed"] not in sq.DESIGN_SEEDS or record["task"] == sq.HELD_OUT
    return "fresh" if fresh else "design"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3, help="reshuffled data orders per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(13)))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quality-cache", type=Path, default=sq.RESULTS / "suggestion_quality_runs.jsonl"
    )
    parser.add_argument("--cache", type=Path, default=sq.RESULTS / "hold_tolerance_runs.jsonl")
    args = parser.parse_args()
    quality = sq.run_jobs([], args.quality_cache, 1)
    jobs = [
        {
            "key": sq.key(task, optimizer, seed, order),
            "task": task,
            "optimizer": optimizer,
            "seed": seed,
            "order": order,
            "curve": quality[sq.key("range", task, optimizer, seed)]["curve"],
        }
        for order in range(args.orders + 1)
        for seed in args.seeds
        for task in sq.TASKS
        for optimizer in sq.OPTIMIZERS
    ]
    done = sq.run_jobs(jobs, args.cache, args.jobs, worker=train)
    write_table(args.seeds, args.orders, quality, [done[job["key"]] for job in jobs])


def write_table(
    seeds: list[int], orders: int, quality: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    groups = ("design", "fresh", "benchmark order")
    # (rule, group) -> (task, optimizer) -> regrets
    regrets: dict[tuple[str, str], dict[tuple[str, str], list[float]]] = {}
    picks = rules()
    for record in records:
        pair = (record["task"], record["optimizer"])
        runs = sq.grid_runs(quality, *pair, record["seed"])
        best = max(run["score"] for run in runs.values())
        for name, pick in picks.items():
            regret = best - record["fit"][pick(record)][0]
            for where in (group(record), "all"):
                regrets.setdefault((name, where), {}).setdefault(pair, []).append(regret)

    def summary(name: str, where: str) -> tuple[float, float]:
        per_pair = [float(np.mean(v)) for v in regrets[(name, where)].values()]
        return float(np.mean(per_pair)), max(per_pair)

    header = ["rule", *(f"{g}: mean, worst" for g in groups), "all: mean, worst"]
    rows = []
    for name in picks:
        cells = [f"{m:.2f}, {w:.1f}" for m, w in (summary(name, g) for g in (*groups, "all"))]
        rows.append([name, *cells])
    pair_header = ["rule", *(f"{t} {o}" for t, o in ap.PAIRS)]
    pair_rows = [
        [name, *(f"{np.mean(regrets[(name, 'all')][pair]):.1f}" for pair in ap.PAIRS)]
        for name in picks
    ]
    counts = {g: sum(group(r) == g for r in records) for g in groups}
    lines = [
        "# Which rate should `wsd` hold?",
        "",
        f"{sq.dated_machine()} Seeds: {seeds}; the benchmark's own data order and "
        f"{orders} reshuffled ones per seed. Runs: "
        + ", ".join(f"{counts[g]} {g}" for g in groups)
        + ".",
        "",
        "Each rule picks `lr_low / 2` (bold), `/ 3` or `/ 9` (safe) from the probes; the "
        "pick is scored by `fit` (`wsd`, divergence guard) at that rate. Regret = grid-best "
        "score (from `suggestion_quality.md`) - score, in points, averaged per task and "
        "optimizer, then over them; worst = the worst task and optimizer. The tolerance was "
        "chosen on the design runs (seeds 0-9, reshuffled orders, tasks other than "
        f"`{sq.HELD_OUT}`); fresh runs are seeds 10-12 and `{sq.HELD_OUT}`.",
        "",
        *sq.markdown_table(header, rows),
        "",
        "## Per task and optimizer, all runs",
        "",
        *sq.markdown_table(pair_header, pair_rows),
        "",
        "Regenerate: `python benchmarks/hold_tolerance.py` (runs are cached in "
        "`benchmarks/results/hold_tolerance_runs.jsonl`).",
        "",
    ]
    sq.publish("hold_tolerance.md", lines)


if __name__ == "__main__":
    main()
