"""One run: train a fresh task model with one strategy and one seed, and record its curves.

Epoch 0 is the untrained model. After every epoch the model is scored on the training split
and on the validation split (in eval mode, so both curves mean the same thing); the mean
training loss while the epoch ran, the peak batch loss and the learning rate at every batch
are recorded too. A non-finite batch loss stops the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

#: At most this many (step, lr) points are kept per run (evenly thinned, last one kept).
MAX_LR_POINTS = 2000

EpochCallback = Callable[[int, dict[str, float]], None]


class _NonFinite(Exception):
    """A batch loss was NaN or infinite."""


def train_run(
    resolved: dict[str, Any],
    *,
    task: str,
    seed: int,
    epochs: int,
    batch_size: int | None = None,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train ``task`` (built with ``seed``) for ``epochs`` following ``resolved`` (a strategy
    with its values resolved to numbers: :meth:`Strategy.resolve`); return the run record
    (plain data)."""
    from lrkit import tasks
    from lrkit.tasks.base import evaluate, train_epoch
    from lrkit.torch import optimizers

    run = tasks.get(task, seed=seed, batch_size=batch_size)
    optimizer = optimizers.make_optimizer(
        resolved["optimizer"],
        run.model.parameters(),
        lr=resolved["lr"],
        **resolved["optimizer_params"],
    )
    scheduler, unit = _scheduler(resolved, optimizer)
    train_split = _unshuffled(run.train_loader)
    metric = run.metric_name
    record: dict[str, Any] = {
        "metric": metric,
        "steps_per_epoch": len(run.train_loader),
        "epochs": [],
        "train_loss": [],
        "train_score": [],
        "val_loss": [],
        "val_score": [],
        "running_loss": [],
        "train_seconds": [],
        "peak_loss": None,
        "nonfinite": False,
    }
    last_step = epochs * len(run.train_loader)
    lr_steps: list[int] = []
    lr_values: list[float] = []
    peak = -math.inf
    seconds = 0.0

    def score(epoch: int, running: float | None) -> dict[str, float]:
        optimizers.set_mode(optimizer, training=False)
        train = evaluate(run.model, run.loss_fn, train_split, run.metric, metric)
        val = run.evaluate()
        record["epochs"].append(epoch)
        record["train_loss"].append(train["loss"])
        record["train_score"].append(train[metric])
        record["val_loss"].append(val["loss"])
        record["val_score"].append(val[metric])
        record["running_loss"].append(running)
        record["train_seconds"].append(seconds)
        return val

    score(0, None)

    def on_step(loss: float) -> None:
        nonlocal peak
        lr_steps.append(len(lr_steps))
        lr_values.append(float(optimizer.param_groups[0]["lr"]))
        if not math.isfinite(loss):
            raise _NonFinite
        peak = max(peak, loss)
        if unit == "step" and len(lr_steps) < last_step:
            scheduler.step()

    for epoch in range(1, epochs + 1):
        optimizers.set_mode(optimizer, training=True)
        start = time.perf_counter()
        try:
            running = train_epoch(run.model, optimizer, run.loss_fn, run.train_loader, on_step)
        except _NonFinite:
            record["nonfinite"] = True
            seconds += time.perf_counter() - start
            break
        if unit == "epoch" and epoch < epochs:
            scheduler.step()
        seconds += time.perf_counter() - start
        val = score(epoch, running)
        if not all(math.isfinite(v) for v in val.values()):
            record["nonfinite"] = True
            break
        if on_epoch is not None:
            on_epoch(epoch, val)
    record["peak_loss"] = peak if math.isfinite(peak) else None
    record["lr"] = _thin(lr_steps, lr_values)
    return record


def _scheduler(resolved: dict[str, Any], optimizer: Any) -> tuple[Any, str | None]:
    """``lrkit.torch.Scheduler`` for the resolved strategy's schedule (and mirrored momentum),
    and its unit."""
    if resolved["schedule"] is None:
        return None, None
    from lrkit.compare.resolve import build
    from lrkit.torch import Scheduler

    schedule = build(resolved["schedule"]["schedule"], f"strategy {resolved['name']!r}.schedule")
    momentum = None
    if resolved.get("cycle_momentum"):
        momentum = schedule.momentum(*resolved["cycle_momentum"])
    return Scheduler(optimizer, lr=schedule, momentum=momentum), resolved["schedule"]["unit"]


def _unshuffled(loader: Any) -> Any:
    """The training data in a fixed order, so scoring it leaves the shuffling untouched."""
    from torch.utils.data import DataLoader, IterableDataset

    dataset = getattr(loader, "dataset", None)
    if dataset is None or isinstance(dataset, IterableDataset):
        return loader
    return DataLoader(dataset, batch_size=256, shuffle=False)


def _thin(steps: list[int], values: list[float]) -> dict[str, list[Any]]:
    """At most :data:`MAX_LR_POINTS` evenly spaced points, always keeping the last."""
    if len(steps) <= MAX_LR_POINTS:
        return {"steps": steps, "values": values}
    stride = math.ceil(len(steps) / MAX_LR_POINTS)
    keep = list(range(0, len(steps), stride))
    if keep[-1] != len(steps) - 1:
        keep.append(len(steps) - 1)
    return {"steps": [steps[i] for i in keep], "values": [values[i] for i in keep]}
