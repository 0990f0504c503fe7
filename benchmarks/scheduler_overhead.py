"""Cost of one ``lrkit.torch.Scheduler.step()`` against torch's own schedulers.

Each pair drives the same optimizer setup (one param group, SGD with momentum) through the
same schedule; the two are timed in alternation, and the best of the repeats is kept.
Writes a markdown table to ``benchmarks/results/scheduler_overhead.md``.

    python benchmarks/scheduler_overhead.py [--steps 20000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import timeit
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler as tls

from lrkit import schedules as S
from lrkit.torch import Scheduler

OUT = Path(__file__).parent / "results" / "scheduler_overhead.md"
TOTAL = 10**8  # long enough that no run reaches the end of a schedule


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)


def _lrkit(lr: S.Schedule, momentum: S.Schedule | None = None) -> Callable[[], Any]:
    return lambda: Scheduler(_optimizer(), lr=lr, momentum=momentum)


def _cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    tri = S.triangular(0.01, 0.1, 2000)
    exp_range = S.exp_range(0.01, 0.1, 2000, gamma=0.9999)
    cycle = S.one_cycle(0.1, TOTAL)
    three = S.one_cycle(0.1, TOTAL, anneal="linear", three_phase=True)
    return [
        (
            "CyclicLR triangular, momentum",
            lambda: tls.CyclicLR(_optimizer(), 0.01, 0.1, step_size_up=2000),
            _lrkit(tri, tri.momentum()),
        ),
        (
            "CyclicLR exp_range, momentum",
            lambda: tls.CyclicLR(
                _optimizer(), 0.01, 0.1, step_size_up=2000, mode="exp_range", gamma=0.9999
            ),
            _lrkit(exp_range, exp_range.momentum()),
        ),
        (
            "OneCycleLR cos, momentum",
            lambda: tls.OneCycleLR(_optimizer(), 0.1, total_steps=TOTAL),
            _lrkit(cycle, cycle.momentum()),
        ),
        (
            "OneCycleLR linear three_phase, momentum",
            lambda: tls.OneCycleLR(
                _optimizer(), 0.1, total_steps=TOTAL, anneal_strategy="linear", three_phase=True
            ),
            _lrkit(three, three.momentum()),
        ),
        (
            "CosineAnnealingLR",
            lambda: tls.CosineAnnealingLR(_optimizer(), T_max=TOTAL),
            _lrkit(S.cosine(0.1, TOTAL)),
        ),
        (
            "CosineAnnealingLR after a LinearLR warm-up (SequentialLR)",
            lambda: _sequential(),
            _lrkit(S.warmup(S.cosine(0.1, TOTAL), warmup_steps=100, start=0.001)),
        ),
    ]


def _sequential() -> Any:
    optimizer = _optimizer()
    warm = tls.LinearLR(optimizer, start_factor=0.01, total_iters=100)
    cos = tls.CosineAnnealingLR(optimizer, T_max=TOTAL)
    return tls.SequentialLR(optimizer, [warm, cos], milestones=[100])


def per_step_us(make: Callable[[], Any], steps: int) -> float:
    scheduler = make()
    return timeit.timeit(scheduler.step, number=steps) / steps * 1e6


def measure(steps: int, repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    for name, torch_make, lrkit_make in _cases():
        theirs, ours = [], []
        for _ in range(repeats):
            theirs.append(per_step_us(torch_make, steps))
            ours.append(per_step_us(lrkit_make, steps))
        rows.append((name, min(theirs), min(ours)))
        print(f"{name}: torch {min(theirs):.2f} µs, lrkit {min(ours):.2f} µs", flush=True)
    return rows


def _machine(load: tuple[float, float]) -> str:
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return (
        f"- machine: `{uname}`\n"
        f"- cores (`nproc`): {os.cpu_count()}\n"
        f"- 1-minute load average before / after the run: {load[0]:.1f} / {load[1]:.1f} "
        "(other work on the same cores inflates both columns alike)\n"
        f"- date: {datetime.date.today().isoformat()}\n"
        f"- python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}"
    )


def report(
    rows: list[tuple[str, float, float]], steps: int, repeats: int, load: tuple[float, float]
) -> str:
    lines = [
        "# Scheduler step overhead",
        "",
        "Cost of one `scheduler.step()` (µs, best of "
        f"{repeats} runs of {steps:,} steps each, torch and lrkit timed in alternation).",
        "Goal: lrkit / torch <= 1.0. Produced by `python benchmarks/scheduler_overhead.py`.",
        "",
        _machine(load),
        "",
        "| schedule | torch (µs/step) | lrkit `Scheduler` (µs/step) | lrkit / torch |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, theirs, ours in rows:
        lines.append(f"| {name} | {theirs:.2f} | {ours:.2f} | {ours / theirs:.2f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # torch warns that no optimizer.step() came first
    torch.set_num_threads(1)
    before = os.getloadavg()[0]
    rows = measure(args.steps, args.repeats)
    load = (before, os.getloadavg()[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, args.steps, args.repeats, load))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
