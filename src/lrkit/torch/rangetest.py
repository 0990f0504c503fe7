"""The range test for a torch model: :class:`LRFinder` inside any training loop, and
:func:`find_lr`, the loop lrkit runs itself.

Before the sweep the model's parameters and buffers, the optimizer's state and param groups
(and a grad scaler's state) are copied to CPU memory (or to a file with ``snapshot="disk"``);
afterwards they are loaded back, so all are bit-identical to before — whether the sweep
completed, diverged, hit a NaN, raised, or was interrupted. Under ``torch.distributed`` each
step's loss is averaged over the ranks, so every rank sees the same curve, the same rates and
the same stop step; only rank 0 shows progress.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lrkit.rangetest import DONE, RESTART, RangeTest, RangeTestResult, RangeTestSettings
from lrkit.sweep import check_count
from lrkit.torch import distributed
from lrkit.torch.state import preserved, randomness_preserved
from lrkit.torch.step import (
    StepFn,
    TrainStep,
    as_loss,
    check_training,
    cycle_batches,
    default_step_fn,
    loss_value,
    lr_setter,
    target_device,
    to_device,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lrkit.rangetest.settings import SweepKeywords

#: Steps in a row the grad scaler may skip before the loss counts as non-finite.
MAX_SKIPPED = 20


class LRFinder:
    """The range test inside your own training loop: lrkit sets each step's learning rate,
    your loop takes the step (forward, backward, clipping, scaler, optimizer) and hands the
    loss to :meth:`record`; lrkit decides when to stop and puts everything back::

        finder = LRFinder(model, optimizer)
        while not finder.done:
            for inputs, targets in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(inputs), targets)
                loss.backward()
                optimizer.step()
                if not finder.record(loss):
                    break
        result = finder.result()

    The model, the optimizer (and ``grad_scaler``) and the random state are copied when the
    finder is made, and loaded back before a retry sweep and when it is done (or
    :meth:`result` is asked for early, or a ``with LRFinder(...)`` block exits). The first
    param group gets the swept rate, other groups keep their ratio to it. The sweep is
    ``settings`` (a :class:`lrkit.RangeTestSettings`), each keyword given replacing that
    field, as in :class:`lrkit.RangeTest`. ``batch_size`` (the global batch of one optimizer step)
    is recorded for :meth:`~lrkit.RangeTestResult.for_batch_size`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        settings: RangeTestSettings | None = None,
        grad_scaler: Any = None,
        batch_size: int | None = None,
        snapshot: str = "cpu",
        progress: bool = True,
        **sweep: Unpack[SweepKeywords],
    ) -> None:
        check_training(model, optimizer)
        if batch_size is not None:
            check_count("batch_size", batch_size)
        self._engine = RangeTest(settings, progress=progress and distributed.is_main(), **sweep)
        self._optimizer, self._scaler, self._batch_size = optimizer, grad_scaler, batch_size
        self._set_lr = lr_setter(optimizer)
        self._state = ExitStack()
        self._state.enter_context(randomness_preserved(None))
        self._restore = self._state.enter_context(
            preserved(model, optimizer, snapshot, grad_scaler)
        )
        self._scale = self._current_scale()
        self._skipped = 0
        self._set_lr(self._engine.lr)

    @property
    def lr(self) -> float:
        """The learning rate of the step under way (already set in the optimizer)."""
        return self._engine.lr

    @property
    def done(self) -> bool:
        return self._engine.done

    def record(self, loss: Any, *, skipped: bool | None = None) -> bool:
        """Record the step's loss (a tensor or a number; unscaled, not ``scaler.scale(loss)``)
        and set the next rate; ``False`` once the test is done.

        A step the grad scaler skipped (with ``grad_scaler`` given, its scale fell; or
        ``skipped=True``) is not recorded: the same rate is tried again, up to
        :data:`MAX_SKIPPED` times in a row, after which the loss counts as non-finite.
        """
        value = loss_value(loss)
        scale = self._current_scale()
        if skipped is None:
            skipped = scale is not None and self._scale is not None and scale < self._scale
        self._scale = scale
        value, skipped = distributed.global_mean(value, bool(skipped))
        if skipped and math.isfinite(value) and self._skipped < MAX_SKIPPED:
            self._skipped += 1
            return True
        self._skipped = 0
        event = self._engine.tell(value if not skipped else math.nan)
        if event == RESTART:
            self._restore()
            self._scale = self._current_scale()
        if event == DONE:
            self._state.close()
            return False
        self._set_lr(self._engine.lr)
        return True

    def result(self) -> RangeTestResult:
        """The curve and its settings; ends the test (and restores) if it is still running."""
        result = self._engine.result()
        self._state.close()
        result.settings.update(
            batch_size=self._batch_size,
            optimizer=type(self._optimizer).__name__,
            world_size=distributed.world_size(),
        )
        return result

    def __enter__(self) -> LRFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._state.close()

    def _current_scale(self) -> float | None:
        return None if self._scaler is None else float(self._scaler.get_scale())


def find_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor] | None,
    train_loader: Iterable[Any],
    *,
    settings: RangeTestSettings | None = None,
    accumulation_steps: int = 1,
    grad_scaler: Any = None,
    amp_dtype: torch.dtype | None = None,
    clip_grad_norm: float | None = None,
    val_loader: Iterable[Any] | None = None,
    val_batches: int = 4,
    step_fn: StepFn | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "cpu",
    progress: bool = True,
    **sweep: Unpack[SweepKeywords],
) -> RangeTestResult:
    """Run the learning-rate range test on ``model`` and restore it, ``optimizer`` and the random
    state (torch, numpy, ``random``, the loader's generators) after, so that training next is
    exactly what it would have been without the test. A loop over :class:`LRFinder`.

    Each of the ``num_steps`` steps is a :class:`~lrkit.torch.step.TrainStep`:
    ``accumulation_steps`` batches forward (under autocast to ``amp_dtype``) and backward
    (through ``grad_scaler``), the gradients clipped to ``clip_grad_norm``, one optimizer
    step. The recorded loss is the mean unscaled training loss of those batches, or, with
    ``val_loader``, the mean validation loss over its first ``val_batches`` batches after the
    step — which costs ``num_steps × val_batches`` extra forward passes.

    Batches are ``(inputs, targets)`` pairs for ``loss_fn``, or dicts the model takes as
    keywords and returns a ``.loss`` for (Hugging Face models); ``step_fn(model, batch) ->
    loss`` reads any other shape. They are moved to ``device`` (by default the model's). See
    :class:`lrkit.RangeTest` for the sweep, its stopping rules and the retries a curve no
    rule can read gets (``retry=False`` turns them off; ``max_steps`` bounds the steps of all
    sweeps together). The sweep is ``settings`` (a :class:`lrkit.RangeTestSettings`;
    default: its defaults), each keyword given replacing that field.
    """
    settings = RangeTestSettings.merged(settings, **sweep)
    check_count("accumulation_steps", accumulation_steps)
    if val_loader is not None and val_batches < 1:
        raise ValueError(f"val_batches: must be >= 1, got {val_batches}")
    compute_loss = step_fn or default_step_fn(loss_fn)
    check_training(model, optimizer)
    target = target_device(model, device)
    train_step = TrainStep(
        model,
        optimizer,
        compute_loss,
        target,
        accumulation_steps,
        grad_scaler=grad_scaler,
        amp_dtype=amp_dtype,
        clip_grad_norm=clip_grad_norm,
    )
    batch_size = global_batch_size(train_loader)
    with randomness_preserved(train_loader):
        batches = cycle_batches(train_loader, "train_loader")
        val_slice = [] if val_loader is None else list(itertools.islice(val_loader, val_batches))
        if val_loader is not None and not val_slice:
            raise ValueError("val_loader: the loader yields no batches")
        with LRFinder(
            model,
            optimizer,
            settings=settings,
            grad_scaler=grad_scaler,
            batch_size=batch_size * accumulation_steps if batch_size else None,
            snapshot=snapshot,
            progress=progress,
        ) as finder:
            while not finder.done:
                model.train()
                loss, taken = train_step(batches)
                if val_loader is not None and taken:
                    loss = _mean_loss(model, compute_loss, val_slice, target)
                finder.record(loss, skipped=not taken)
            result = finder.result()
    result.settings.update(
        accumulation_steps=accumulation_steps,
        curve="validation" if val_loader is not None else "training",
    )
    return result


def global_batch_size(loader: Any) -> int | None:
    """Examples per batch over all ranks: an Accelerate loader's ``total_batch_size``, else
    ``batch_size`` × the world size; ``None`` when the loader does not say."""
    total = getattr(loader, "total_batch_size", None)
    if isinstance(total, int) and total > 0:
        return total
    size = getattr(loader, "batch_size", None)
    return size * distributed.world_size() if isinstance(size, int) and size > 0 else None


@torch.no_grad()
def _mean_loss(model: nn.Module, compute_loss: StepFn, batches: list[Any], device: Any) -> float:
    model.eval()
    total = sum(
        float(as_loss(compute_loss(model, to_device(batch, device)), "step_fn"))
        for batch in batches
    )
    return total / len(batches)
