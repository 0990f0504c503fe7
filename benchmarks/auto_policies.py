"""Which schedule should ``fit`` train with? Policies compared on reshuffled data orders.

For every built-in task, optimizer and seed of ``suggestion_quality.py`` (whose cache must
hold the range tests, probes and grids: run it first), train ``lrkit.torch.fit`` with each
policy below from that seed's range test and probe, on ``--orders`` data orders other than the
benchmark's own: the task's initial weights stay, the loader's shuffling and torch's random
state are reseeded with ``1000 · seed + order``. Regret is against the same grid as there.

- ``wsd@hold+guard``: ``wsd`` at the probe's hold rate
  (:attr:`lrkit.probe.ProbeResult.hold`), with the divergence guard;
- ``wsd@best+guard``: ``wsd`` at the probe's winner, with the guard;
- ``wsd@best``: the same without the guard;
- ``wsd@suggestion+guard``: ``wsd`` at the probe's suggestion (a step below a bold winner),
  with the guard: ``fit``'s default, chosen on ``suite_quality.py``'s design split;
- ``one_cycle@suggestion``: one-cycle peaking at 2 × the suggestion, no guard.

    python benchmarks/auto_policies.py            # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

import suggestion_quality as sq

POLICIES = {
    "wsd@hold+guard": ("wsd", "hold", True),
    "wsd@best+guard": ("wsd", "best", True),
    "wsd@best": ("wsd", "best", False),
    "wsd@suggestion+guard": ("wsd", "suggestion", True),
    "one_cycle@suggestion": ("one_cycle", "suggestion", False),
}
FAILED = 20.0  # regret, in points, above which a run counts as failed


def train(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (policy, task, optimizer, seed, data order) with ``fit``; score it."""
    import torch

    from lrkit import RangeTestResult, tasks
    from lrkit.torch import fit

    torch.set_num_threads(1)
    task = tasks.get(job["task"], seed=job["seed"])
    task.train_loader.generator.manual_seed(1000 * job["seed"] + job["order"])
    torch.manual_seed(1000 * job["seed"] + job["order"])
    policy, _, guard = POLICIES[job["policy"]]
    fit(
        task.model,
        task.make_optimizer(job["optimizer"]),
        task.loss_fn,
        task.train_loader,
        task.default_epochs,
        policy=policy,
        range_test=RangeTestResult.from_dict(job["curve"]),
        lr=job["lr"],
        guard=guard,
        progress=False,
    )
    record = {k: v for k, v in job.items() if k != "curve"}
    return {**record, "score": sq._points(task.evaluate()[task.metric_name])}


def main() -> None:
    from lrkit.probe import ProbeResult

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3, help="data orders per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(13)))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quality-cache", type=Path, default=sq.RESULTS / "suggestion_quality_runs.jsonl"
    )
    parser.add_argument("--cache", type=Path, default=sq.RESULTS / "auto_policies_runs.jsonl")
    args = parser.parse_args()
    quality = sq.run_jobs([], args.quality_cache, 1)
    orders = range(1, args.orders + 1)
    jobs = []
    for name, (_, rate, _) in POLICIES.items():
        for task in sq.TASKS:
            for optimizer in sq.OPTIMIZERS:
                for seed in args.seeds:
                    probed = ProbeResult.from_dict(
                        quality[sq.key(sq.PROBE, task, optimizer, seed)]["probe"]
                    )
                    curve = quality[sq.key("range", task, optimizer, seed)]["curve"]
                    for order in orders:
                        jobs.append(
                            {
                                "key": sq.key(name, task, optimizer, seed, order),
                                "policy": name,
                                "task": task,
                                "optimizer": optimizer,
                                "seed": seed,
                                "order": order,
                                "lr": getattr(probed, rate),
                                "curve": curve,
                            }
                        )
    done = sq.run_jobs(jobs, args.cache, args.jobs, worker=train)
    write_table(args.seeds, list(orders), quality, done)


PAIRS = [(task, optimizer) for task in sq.TASKS for optimizer in sq.OPTIMIZERS]


def regrets_by_pair(
    name: str, seeds: list[int], orders: list[int], quality: dict[str, Any], done: dict[str, Any]
) -> dict[tuple[str, str], list[float]]:
    """Grid-best score minus the score of run ``name``, per (task, optimizer), over every seed
    and data order."""

    def best(task: str, optimizer: str, seed: int) -> float:
        return max(run["score"] for run in sq.grid_runs(quality, task, optimizer, seed).values())

    return {
        pair: [
            best(*pair, seed) - done[sq.key(name, *pair, seed, order)]["score"]
            for seed in seeds
            for order in orders
        ]
        for pair in PAIRS
    }


def orders_line(seeds: list[int], orders: list[int]) -> str:
    """The date, the machine, the seeds and the data orders, for a results page."""
    return (
        f"{sq.dated_machine()} Seeds: {seeds}; data "
        f"orders {orders} per seed (the benchmark's own order is not among them)."
    )


def write_table(
    seeds: list[int], orders: list[int], quality: dict[str, Any], done: dict[str, Any]
) -> None:
    header = ["policy", "mean regret", "worst task", f"failed runs (> {FAILED:.0f} points)"]
    header += [f"{task} {optimizer}" for task, optimizer in PAIRS]
    rows = []
    for name in POLICIES:
        regrets = regrets_by_pair(name, seeds, orders, quality, done)
        per_pair = [float(np.mean(regrets[pair])) for pair in PAIRS]
        failed = sum(r > FAILED for values in regrets.values() for r in values)
        runs = sum(len(values) for values in regrets.values())
        cells = [f"`{name}`", f"{np.mean(per_pair):.2f}", f"{max(per_pair):.1f}"]
        rows.append([*cells, f"{failed} of {runs}", *(f"{v:.1f}" for v in per_pair)])
    lines = [
        "# `fit` policies on reshuffled data orders",
        "",
        orders_line(seeds, orders),
        "",
        "Regret = grid-best score (from `suggestion_quality.md`) - score, in points, averaged "
        "per task and optimizer, then over them.",
        "",
        *sq.markdown_table(header, rows),
        "",
        "Regenerate: `python benchmarks/auto_policies.py` (runs are cached in "
        "`benchmarks/results/auto_policies_runs.jsonl`).",
        "",
    ]
    sq.publish("auto_policies.md", lines)


if __name__ == "__main__":
    main()
