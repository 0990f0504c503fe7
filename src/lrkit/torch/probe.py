"""The probe for a torch model: builds the ``train(rate)`` callable :func:`lrkit.probe.probe`
drives.

Every candidate starts from the same model and optimizer state and the same random state —
torch's, numpy's and ``random``'s generators and those of the loader and its samplers — so a
shuffled loader feeds each one the same batches. All of it is restored after each candidate,
whatever happens.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from lrkit.probe import ProbeResult, probe, probe_candidates
from lrkit.rangetest import RangeTestResult
from lrkit.schedules import Schedule
from lrkit.sweep import check_count
from lrkit.torch.state import preserved, randomness_preserved
from lrkit.torch.step import (
    StepFn,
    TrainStep,
    cycle_batches,
    default_step_fn,
    lr_setter,
    model_device,
)


def probe_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor] | None,
    train_loader: Iterable[Any],
    candidates: RangeTestResult | Sequence[float],
    steps: int,
    *,
    accumulation_steps: int = 1,
    grad_scaler: Any = None,
    amp_dtype: torch.dtype | None = None,
    clip_grad_norm: float | None = None,
    step_fn: StepFn | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "cpu",
    cooldown: float = 0.0,
    progress: bool = True,
) -> ProbeResult:
    """Train ``steps`` steps at each candidate learning rate and return the scores; the best
    is ``.best`` and the rate to train at ``.suggestion``. ``model``, ``optimizer`` and the
    random state are left as they were.

    ``candidates`` is a range-test result (its :func:`~lrkit.probe.probe_candidates`) or the
    learning rates themselves. The first param group gets the candidate, other groups keep
    their ratio to it. A step, the batches, ``step_fn``, ``device`` and ``snapshot`` are as in
    :func:`~lrkit.torch.find_lr` (``accumulation_steps``, ``grad_scaler``, ``amp_dtype``,
    ``clip_grad_norm``); :func:`~lrkit.probe.probe_steps` gives a good ``steps``
    for a planned run (a third of it). With ``cooldown`` > 0 each candidate decays to 0 over
    that fraction of its steps (:func:`~lrkit.probe.candidate_schedule`), which scores the
    rate to hold before a decay rather than the rate to keep.
    """
    lrs = (
        probe_candidates(candidates)
        if isinstance(candidates, RangeTestResult)
        else [float(lr) for lr in candidates]
    )
    check_count("accumulation_steps", accumulation_steps)
    target = torch.device(device) if device is not None else model_device(model)
    train_step = TrainStep(
        model,
        optimizer,
        step_fn or default_step_fn(loss_fn),
        target,
        accumulation_steps,
        grad_scaler=grad_scaler,
        amp_dtype=amp_dtype,
        clip_grad_norm=clip_grad_norm,
    )
    set_lr = lr_setter(optimizer)

    def train(rate: Schedule) -> Iterator[float]:
        with (
            preserved(model, optimizer, snapshot, grad_scaler),
            randomness_preserved(train_loader),
        ):
            model.train()
            batches = cycle_batches(train_loader, "train_loader")
            for step in itertools.count():
                set_lr(rate(step))
                yield train_step(batches)[0]

    return probe(train, lrs, steps, cooldown=cooldown, progress=progress)
