"""Should the probe score a constant rate, or the rate after a cooldown? Measured through ``fit``.

For every built-in task, optimizer and design seed (0-9) of ``suggestion_quality.py`` (whose
cache must hold the range tests and grids: run it first) and ``--orders`` reshuffled data
orders, probe that seed's range-test candidates on that order with each variant below, then
train ``lrkit.torch.fit`` with ``wsd`` at the probe's winner, under the divergence guard. The
loader's shuffling and torch's random state are reseeded with ``1000 · seed + order``.
Regret is against the grid of ``suggestion_quality.md``.

- ``constant``: each candidate holds its rate (``lr_low / 2``, ``lr_low / 9``);
- ``cooldown c``: each candidate holds it, then decays linearly to 0 over the last ``c`` of
  its steps (:func:`lrkit.probe.candidate_schedule`);
- ``cooldown 0.4, 3 candidates``: ``lr_low / 2``, ``/ 4``, ``/ 9``;
- ``cooldown 0.6, lr_low / 3``: a less bold pair, ``lr_low / 3`` and ``/ 9``.

    python benchmarks/probe_cooldown.py          # about 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

import auto_policies as ap
import suggestion_quality as sq

#: name -> (candidate divisors, cooldown fraction, label)
VARIANTS = {
    "base": ((2.0, 9.0), 0.0, "constant"),
    "cool40": ((2.0, 9.0), 0.4, "cooldown 0.4"),
    "cool60": ((2.0, 9.0), 0.6, "cooldown 0.6"),
    "cool100": ((2.0, 9.0), 1.0, "cooldown 1.0"),
    "cool40x3": ((2.0, 4.0, 9.0), 0.4, "cooldown 0.4, 3 candidates"),
    "cool60d3": ((3.0, 9.0), 0.6, "cooldown 0.6, lr_low / 3"),
}


def train(job: dict[str, Any]) -> dict[str, Any]:
    """Probe one (variant, task, optimizer, seed, data order), fit ``wsd`` at the winner."""
    import torch

    from lrkit import RangeTestResult, tasks
    from lrkit.probe import probe_candidates, probe_steps
    from lrkit.torch import fit, probe_lr

    torch.set_num_threads(1)
    divisors, cooldown, _ = VARIANTS[job["variant"]]
    task = tasks.get(job["task"], seed=job["seed"])
    task.train_loader.generator.manual_seed(1000 * job["seed"] + job["order"])
    torch.manual_seed(1000 * job["seed"] + job["order"])
    found = RangeTestResult.from_dict(job["curve"])
    optimizer = task.make_optimizer(job["optimizer"])
    total = task.default_epochs * len(task.train_loader)
    probed = probe_lr(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        candidates=probe_candidates(found, divisors),
        steps=probe_steps(total),
        cooldown=cooldown,
        progress=False,
    )
    fit(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        task.default_epochs,
        policy="wsd",
        range_test=found,
        lr=probed.best,
        progress=False,
    )
    record = {k: v for k, v in job.items() if k != "curve"}
    return {
        **record,
        "lr": probed.best,
        "lrs": probed.lrs,
        "scores": probed.scores,
        "score": sq._points(task.evaluate()[task.metric_name]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3, help="data orders per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(sq.DESIGN_SEEDS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quality-cache", type=Path, default=sq.RESULTS / "suggestion_quality_runs.jsonl"
    )
    parser.add_argument("--cache", type=Path, default=sq.RESULTS / "probe_cooldown_runs.jsonl")
    args = parser.parse_args()
    quality = sq.run_jobs([], args.quality_cache, 1)
    orders = list(range(1, args.orders + 1))
    jobs = [
        {
            "key": sq.key(variant, task, optimizer, seed, order),
            "variant": variant,
            "task": task,
            "optimizer": optimizer,
            "seed": seed,
            "order": order,
            "curve": quality[sq.key("range", task, optimizer, seed)]["curve"],
        }
        for order in orders
        for seed in args.seeds
        for variant in VARIANTS
        for task in sq.TASKS
        for optimizer in sq.OPTIMIZERS
    ]
    done = sq.run_jobs(jobs, args.cache, args.jobs, worker=train)
    write_table(args.seeds, orders, quality, done)


def write_table(
    seeds: list[int], orders: list[int], quality: dict[str, Any], done: dict[str, Any]
) -> None:
    header = ["probe", "mean regret", "worst task", *(f"{t} {o}" for t, o in ap.PAIRS)]
    rows = []
    for variant, (_, _, label) in VARIANTS.items():
        regrets = ap.regrets_by_pair(variant, seeds, orders, quality, done)
        per_pair = [float(np.mean(regrets[pair])) for pair in ap.PAIRS]
        cells = [label, f"{np.mean(per_pair):.2f}", f"{max(per_pair):.1f}"]
        rows.append([*cells, *(f"{v:.1f}" for v in per_pair)])
    lines = [
        "# The probe before `wsd`: constant rate or cooldown",
        "",
        ap.orders_line(seeds, orders),
        "",
        "Each variant probes on the run's own data order, then `fit` trains `wsd` at the "
        "probe's winner with the divergence guard. Regret = grid-best score (from "
        "`suggestion_quality.md`) - score, in points, averaged per task and optimizer, then "
        "over them.",
        "",
        *sq.markdown_table(header, rows),
        "",
        "Regenerate: `python benchmarks/probe_cooldown.py` (runs are cached in "
        "`benchmarks/results/probe_cooldown_runs.jsonl`).",
        "",
    ]
    sq.publish("probe_cooldown.md", lines)


if __name__ == "__main__":
    main()
