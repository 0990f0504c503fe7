"""``fit``: find the learning rate, turn it into a schedule, train — in one call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sized
from typing import Any

import torch
from torch import nn

from lrkit.guard import DivergenceGuard
from lrkit.history import History
from lrkit.plan import POLICIES, RATE_POLICIES, make_plan, probe_budget, sweep_budget
from lrkit.progress import progress_bar
from lrkit.rangetest import RangeTestResult
from lrkit.sweep import check_count
from lrkit.torch import distributed
from lrkit.torch.evaluation import Metric, evaluate
from lrkit.torch.probe import probe_lr
from lrkit.torch.rangetest import find_lr
from lrkit.torch.rollback import Rollback
from lrkit.torch.scheduler import Scheduler, drives_momentum
from lrkit.torch.step import (
    StepFn,
    TrainStep,
    check_training,
    cycle_batches,
    default_step_fn,
    target_device,
)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor] | None,
    train_loader: Iterable[Any],
    epochs: int,
    *,
    val_loader: Iterable[Any] | None = None,
    evaluate_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
    steps_per_epoch: int | None = None,
    policy: str = "wsd",
    metric: Metric | None = None,
    metric_name: str = "metric",
    range_test: RangeTestResult | None = None,
    probe: bool = True,
    lr: float | None = None,
    guard: DivergenceGuard | bool = True,
    find_kwargs: dict[str, Any] | None = None,
    grad_scaler: Any = None,
    amp_dtype: torch.dtype | None = None,
    clip_grad_norm: float | None = None,
    step_fn: StepFn | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    """Run the range test (unless ``range_test`` is given), probe, schedule by ``policy``, train.

    The policies built around one rate (``wsd``, the default, ``one_cycle``, ``cosine``,
    ``constant``) use ``lr`` when given; otherwise, with ``probe`` (the default), the rate
    :func:`~lrkit.torch.probe_lr` suggests after probing the range test's two candidates for a
    third of the run's steps each (compared on training loss, so ``val_loader`` stays unseen;
    ``.suggestion``: the winner, a step below it when the bold one won); without the probe,
    the range test's suggestion. The range test
    and the probe together take at most :func:`lrkit.plan.overhead_budget` steps (the run
    itself up to 300 steps, 300 up to 600, half the run beyond) unless ``find_kwargs``
    sets the sweep's ``num_steps``/``max_steps`` (or gives ``settings``). The plan
    comes from :func:`lrkit.plan.make_plan` over ``epochs × len(loader)`` steps; with
    ``one_cycle`` and the CLR policies, momentum (or Adam's beta1) follows the mirrored
    curve. Returns the history: per step ``lr`` and ``loss``; per epoch, at its last step,
    ``val_loss`` and ``val_metric`` (``metric(outputs, targets)``, averaged over
    ``val_loader`` weighted by batch size). To keep or plot the range test or the probe, run
    them first and pass ``range_test`` and ``lr``.

    Every step — of the range test, the probe and the run — is a
    :class:`~lrkit.torch.step.TrainStep` with ``grad_scaler``, ``amp_dtype`` and
    ``clip_grad_norm``; batches and ``step_fn`` are as in :func:`~lrkit.torch.find_lr`.

    ``guard`` (a :class:`~lrkit.guard.DivergenceGuard`, or ``True`` for the default one)
    watches the training loss: when, after the plan's ``guard_warmup`` (the first tenth of the
    run), the smoothed loss gives back half of its fall (or a loss is non-finite), the model
    and optimizer go back to a copy saved near the best smoothed loss (every ``save_every``
    steps: at most 50 times)
    and the rest of the schedule is divided by 3; the history records the new factor in a
    ``rollback`` column at that step. ``guard=False`` trains without it.

    ``evaluate_fn(model) -> {"loss": ..., "metric": ...}`` replaces the evaluation on
    ``val_loader`` after every epoch (any other keys are recorded too, as ``val_<key>``).
    ``steps_per_epoch`` is needed for a loader without a length (an ``IterableDataset``);
    the loader is then read on across epochs, and restarted when it runs out.

    Under ``torch.distributed`` every loss (training and validation) is averaged over the
    ranks, so the range test, the probe, the guard and the history agree on every rank.

    ``history.plan`` is the :class:`~lrkit.plan.Plan` it trained with: the ``range_test`` and
    ``probe`` results, the ``policy``, its ``lr`` and schedule, and the ``overhead_steps`` they
    took out of the ``total_steps`` of the run.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: must be an integer >= 1, got {epochs!r}")
    if steps_per_epoch is None:
        steps_per_epoch = _length(train_loader)
        if steps_per_epoch is None:
            raise ValueError(
                "steps_per_epoch: train_loader has no length (an IterableDataset?); "
                "give the number of optimizer steps per epoch"
            )
        if steps_per_epoch == 0:
            raise ValueError("train_loader: the loader yields no batches")
    check_count("steps_per_epoch", steps_per_epoch)
    check_training(model, optimizer)
    target = target_device(model, device)
    precision: dict[str, Any] = {
        "grad_scaler": grad_scaler,
        "amp_dtype": amp_dtype,
        "clip_grad_norm": clip_grad_norm,
    }
    compute_loss = step_fn or default_step_fn(loss_fn)
    train_step = TrainStep(model, optimizer, compute_loss, target, **precision)
    total_steps = epochs * steps_per_epoch
    range_steps = 0
    if range_test is None:
        sweep = dict(find_kwargs or {})
        if not {"num_steps", "settings"} & set(sweep):  # the budget's, unless the caller chose
            sweep["num_steps"], budget_max = sweep_budget(total_steps)
            sweep.setdefault("max_steps", budget_max)
        range_test = find_lr(
            model,
            optimizer,
            loss_fn,
            train_loader,
            step_fn=step_fn,
            device=device,
            progress=progress,
            **precision,
            **sweep,
        )
        range_steps = range_test.steps_run
    probed = None
    if lr is None and probe and policy in RATE_POLICIES:
        probed = probe_lr(
            model,
            optimizer,
            loss_fn,
            train_loader,
            candidates=range_test,
            steps=probe_budget(total_steps, range_steps),
            step_fn=step_fn,
            device=device,
            progress=progress,
            **precision,
        )
    plan = make_plan(
        policy,
        total_steps,
        steps_per_epoch,
        range_test=range_test,
        probe=probed,
        lr=lr,
        overhead_steps=range_steps + (probed.steps * len(probed.lrs) if probed else 0),
    )
    momentum = plan.momentum if drives_momentum(optimizer) else None
    scheduler = Scheduler(optimizer, lr=plan.schedule, momentum=momentum)
    history = History(metric_name=metric_name if metric is not None else None)
    history.plan = plan
    if guard is True:
        guard = DivergenceGuard(warmup=plan.guard_warmup)
    rollback = (
        Rollback(model, optimizer, scheduler, guard, every=plan.save_every) if guard else None
    )
    step = 0
    shown = progress and distributed.is_main()
    with progress_bar(f"training ({policy})", total_steps, enabled=shown) as bar:
        batches = cycle_batches(train_loader, "train_loader")
        for _ in range(epochs):
            model.train()
            for _ in range(steps_per_epoch):
                current = optimizer.param_groups[0]["lr"]
                value = distributed.global_mean(train_step(batches)[0])[0]
                if step + 1 < total_steps:  # the last step needs no next learning rate
                    scheduler.step()
                factor = rollback.update(step, value) if rollback is not None else None
                history.append(step, lr=current, loss=value, rollback=factor)
                bar(f"lr {current:.2e}  loss {value:.4f}")
                step += 1
            scores = _validate(model, val_loader, evaluate_fn, loss_fn, step_fn, metric, target)
            if scores:
                history.append(step - 1, **{f"val_{name}": v for name, v in scores.items()})
    history.close()
    return history


def _length(loader: Iterable[Any]) -> int | None:
    """``len(loader)``, or ``None`` for a loader without one (a DataLoader over an
    ``IterableDataset`` has ``__len__`` but raises)."""
    if not isinstance(loader, Sized):
        return None
    try:
        return len(loader)
    except TypeError:
        return None


def _validate(
    model: nn.Module,
    val_loader: Iterable[Any] | None,
    evaluate_fn: Callable[[nn.Module], Mapping[str, float]] | None,
    loss_fn: Callable[..., torch.Tensor] | None,
    step_fn: StepFn | None,
    metric: Metric | None,
    device: torch.device,
) -> dict[str, float]:
    """The epoch's validation scores, averaged over the ranks; ``{}`` without validation."""
    if evaluate_fn is not None:
        was_training = model.training
        scores = dict(evaluate_fn(model))
        model.train(was_training)
    elif val_loader is not None:
        if loss_fn is None and step_fn is None:  # dict batches the model scores itself
            step_fn = default_step_fn(None)
        scores = evaluate(
            model,
            val_loader,
            None if step_fn else loss_fn,
            step_fn=step_fn,
            metric=metric,
            device=device,
        )
    else:
        return {}
    return {name: distributed.global_mean(float(v))[0] for name, v in scores.items()}
