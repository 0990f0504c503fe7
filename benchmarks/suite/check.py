"""Print every suite task's split, size, batch, budget and the time of one training run.

    python benchmarks/suite/check.py                 # every task
    python benchmarks/suite/check.py shapes-cnn      # some tasks

The run is the task's budget at a fixed rate of 1e-3 with its first optimizer, on one thread.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import suite  # noqa: E402
from lrkit import tasks  # noqa: E402


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    everything = suite.all_tasks()
    splits = suite.split(everything)
    print(f"{'task':22} {'split':6} {'train':>6} {'batch':>5} {'steps':>6} {'seconds':>7} score")
    for entry in everything:
        if names and entry.name not in names:
            continue
        task = entry.build(0)
        loader = task.train_loader
        optimizer = suite.make_optimizer(task, entry.optimizers[0], 1e-3)
        start = time.perf_counter()
        for _ in range(task.default_epochs):
            tasks.train_epoch(task.model, optimizer, task.loss_fn, loader)
        seconds = time.perf_counter() - start
        score = task.evaluate()[task.metric_name]
        print(
            f"{entry.name:22} {splits[entry.name]:6} {len(loader.dataset):6d} "
            f"{loader.batch_size:5d} {task.default_epochs * len(loader):6d} {seconds:7.1f} "
            f"{task.metric_name}={score:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
