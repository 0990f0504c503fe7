"""Time and peak memory of a 100-step range test against a plain 100-step training loop.

Three ways to run the test: ``find_lr`` (lrkit's loop) with the snapshot in CPU memory or on
disk, and the push API (``LRFinder.record`` called from the plain loop itself).

Each measurement runs in a fresh process, so peak resident memory (``ru_maxrss``) belongs to
that run alone. Two models: the built-in ``digits-cnn`` (memory dominated by the interpreter
and activations) and a wide MLP whose parameters and Adam state dominate memory (the case
where a second copy of the weights would show).

    python benchmarks/finder_overhead.py            # writes benchmarks/results/finder_overhead.md
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

STEPS = 100
REPEATS = 3
RESULTS = Path(__file__).parent / "results" / "finder_overhead.md"
LABELS = {"plain": "plain loop", "push": "plain loop + LRFinder.record (push API)"}

CHILD = r"""
import json, resource, sys, time
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from lrkit.torch import LRFinder, find_lr
from lrkit import tasks

model_name, mode, steps, WARMUP = sys.argv[1], sys.argv[2], int(sys.argv[3]), 10
torch.manual_seed(0)
if model_name == "digits-cnn":
    task = tasks.get("digits-cnn", seed=0)
    model, loader, loss_fn = task.model, task.train_loader, task.loss_fn
else:
    model = nn.Sequential(nn.Linear(256, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(),
                          nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    x, y = torch.randn(2048, 256), torch.randint(0, 10, (2048,))
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def run(steps):
    if mode not in ("plain", "push"):
        find_lr(model, optimizer, loss_fn, loader, num_steps=steps, end_lr=1e-2,
                snapshot=mode, progress=False)
        return
    finder = LRFinder(model, optimizer, num_steps=steps, end_lr=1e-2, retry=False,
                      progress=False) if mode == "push" else None
    batches = iter(loader)
    for step in range(steps):
        try:
            inputs, targets = next(batches)
        except StopIteration:
            batches = iter(loader)
            inputs, targets = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if finder is None:
            float(loss.detach())
        elif not finder.record(loss):
            break
    if finder is not None:
        finder.result()


run(WARMUP)  # first calls (lazy imports, allocator) are not what a step costs
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
run(steps)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "baseline_kib": baseline}))
"""


def measure(model: str, mode: str) -> dict[str, float]:
    runs = []
    for _ in range(REPEATS):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, model, mode, str(STEPS)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mib": statistics.median(r["peak_kib"] for r in runs) / 1024,
        "above_mib": statistics.median(r["peak_kib"] - r["baseline_kib"] for r in runs) / 1024,
    }


def main() -> None:
    rows = []
    for model in ("digits-cnn", "wide-mlp"):
        plain = measure(model, "plain")
        for mode in ("plain", "cpu", "disk", "push"):
            m = plain if mode == "plain" else measure(model, mode)
            rows.append(
                f"| {model} | {LABELS.get(mode, f'find_lr (snapshot={mode})')} "
                f"| {m['seconds']:.2f} | {m['seconds'] / plain['seconds']:.3f}x "
                f"| {m['peak_mib']:.0f} | {m['peak_mib'] / plain['peak_mib']:.3f}x "
                f"| {m['above_mib']:.1f} |"
            )
            print(rows[-1], flush=True)
    uname = platform.uname()
    text = "\n".join(
        [
            "# Range-test overhead",
            "",
            f"Date: {date.today().isoformat()}. Machine: {uname.system} {uname.release} "
            f"{uname.machine}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"OMP_NUM_THREADS=1. {STEPS} steps, Adam, median of {REPEATS} fresh processes, "
            "each timed after a 10-step warm-up of the same kind (the first calls in a process "
            "pay for lazy imports once, about 0.05 s).",
            "",
            "`peak RSS` is the process's peak resident memory (interpreter and torch included);",
            "`above start` is how far the peak rose above the resident memory after the model,",
            "data and optimizer were built.",
            "",
            "| model | run | seconds | time vs plain | peak RSS MiB | peak vs plain "
            "| above start MiB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "Regenerate: `python benchmarks/finder_overhead.py`.",
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
