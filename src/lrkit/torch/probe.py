"""The probe for a torch model: :class:`LRProbe` inside any training loop, and
:func:`probe_lr`, the loop lrkit runs itself.

Every candidate starts from the same model, optimizer (and grad scaler) state and the same
random state — torch's, numpy's and ``random``'s generators and those of the loader and its
samplers — so a shuffled loader feeds each one the same batches. All of it is restored after
each candidate, whatever happens. Under ``torch.distributed`` each step's loss is averaged
over the ranks, so every rank scores the candidates alike.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import Any, ParamSpec, TypeVar

import torch
from torch import nn

from lrkit.probe import Probe, ProbeResult, probe_candidates
from lrkit.rangetest import DONE, RESTART, RangeTestResult
from lrkit.sweep import check_count
from lrkit.torch import distributed
from lrkit.torch.state import preserved, random_state
from lrkit.torch.step import (
    StepFn,
    TrainStep,
    check_training,
    cycle_batches,
    default_step_fn,
    loss_value,
    lr_setter,
    target_device,
)

P = ParamSpec("P")
R = TypeVar("R")


def _formerly_positional(
    name: str, positional: tuple[str, ...], *, method: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept ``candidates`` and ``steps`` after the ``positional`` arguments, where they were
    before they became keyword-only (as in :func:`lrkit.keras.probe_lr`); such a call warns."""
    leading = len(positional) + method

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if len(args) > leading:
                given = ("candidates", "steps")[: len(args) - leading]
                if len(args) > leading + 2 or any(key in kwargs for key in given):
                    raise TypeError(
                        f"{name}: takes {', '.join(positional)} and then keywords only "
                        "(candidates=..., steps=..., ...)"
                    )
                warnings.warn(
                    f"{name}: pass {' and '.join(given)} by keyword "
                    f"({', '.join(f'{key}=...' for key in given)})",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs.update(zip(given, args[leading:], strict=True))
                args = args[:leading]
            return function(*args, **kwargs)

        return call

    return wrap


def candidate_rates(candidates: RangeTestResult | Sequence[float]) -> list[float]:
    """A range test's :func:`~lrkit.probe.probe_candidates`, or the given rates."""
    if isinstance(candidates, RangeTestResult):
        return probe_candidates(candidates)
    return [float(lr) for lr in candidates]


class LRProbe:
    """The probe inside your own training loop: lrkit sets each step's learning rate, your
    loop takes the step and hands the loss to :meth:`record`; after each candidate lrkit puts
    the model, optimizer (and ``grad_scaler``) and random state back (``loader``'s
    generators too, so restarting the loader replays the same batches)::

        probe = LRProbe(model, optimizer, candidates=range_test, steps=200, loader=loader)
        while not probe.done:
            for inputs, targets in loader:          # restarted for every candidate
                ...  # forward, backward, optimizer step
                if not probe.record(loss):
                    break
        result = probe.result()

    :meth:`record` is ``False`` when the candidate is over: leave the loop over the data
    (and start it again while the probe is not done). ``candidates`` and ``steps`` are as in
    :func:`probe_lr`, keywords as there.
    """

    @_formerly_positional("LRProbe", ("model", "optimizer"), method=True)
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        candidates: RangeTestResult | Sequence[float],
        steps: int,
        cooldown: float = 0.0,
        loader: Any = None,
        grad_scaler: Any = None,
        snapshot: str = "cpu",
        progress: bool = True,
    ) -> None:
        check_training(model, optimizer)
        self._engine = Probe(
            candidate_rates(candidates),
            steps,
            cooldown=cooldown,
            progress=progress and distributed.is_main(),
        )
        self._set_lr = lr_setter(optimizer)
        self._state = ExitStack()
        self._restore_randomness = random_state(loader)
        self._state.callback(self._restore_randomness)
        self._restore = self._state.enter_context(
            preserved(model, optimizer, snapshot, grad_scaler)
        )
        self._set_lr(self._engine.lr)

    @property
    def lr(self) -> float:
        """The learning rate of the step under way (already set in the optimizer)."""
        return self._engine.lr

    @property
    def candidate(self) -> int:
        """The index of the candidate under way."""
        return self._engine.candidate

    @property
    def done(self) -> bool:
        return self._engine.done

    def record(self, loss: Any) -> bool:
        """Record the step's loss (a tensor or a number, unscaled) and set the next rate;
        ``False`` when the candidate (or the whole probe) is over."""
        value = distributed.global_mean(loss_value(loss))[0]
        event = self._engine.tell(value if math.isfinite(value) else math.inf)
        if event == DONE:
            self._state.close()
            return False
        if event == RESTART:
            self._restore()
            self._restore_randomness()
        self._set_lr(self._engine.lr)
        return event != RESTART

    def result(self) -> ProbeResult:
        """The scores; ends the probe (and restores) if it is still running."""
        result = self._engine.result()
        self._state.close()
        return result

    def __enter__(self) -> LRProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self._state.close()


@_formerly_positional("probe_lr", ("model", "optimizer", "loss_fn", "train_loader"))
def probe_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor] | None,
    train_loader: Iterable[Any],
    *,
    candidates: RangeTestResult | Sequence[float],
    steps: int,
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
    random state are left as they were. Under ``torch.distributed`` each step's loss is
    averaged over the ranks, so every rank scores the candidates alike.

    ``candidates`` is a range-test result (its :func:`~lrkit.probe.probe_candidates`) or the
    learning rates themselves; it and ``steps`` are keywords, as in
    :func:`lrkit.keras.probe_lr` (passed by position after ``train_loader``, as before, they
    still work with a ``DeprecationWarning``). The first param group gets the candidate,
    other groups keep their ratio to it. A step, the batches, ``step_fn``, ``device`` and
    ``snapshot`` are as in :func:`~lrkit.torch.find_lr` (``accumulation_steps``,
    ``grad_scaler``, ``amp_dtype``, ``clip_grad_norm``); :func:`~lrkit.probe.probe_steps`
    gives a good ``steps`` for a planned run (a third of it). With ``cooldown`` > 0 each
    candidate decays to 0 over that fraction of its steps
    (:func:`~lrkit.probe.candidate_schedule`), which scores the rate to hold before a decay
    rather than the rate to keep.
    """
    check_count("accumulation_steps", accumulation_steps)
    check_training(model, optimizer)
    target = target_device(model, device)
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
    with LRProbe(
        model,
        optimizer,
        candidates=candidates,
        steps=steps,
        cooldown=cooldown,
        loader=train_loader,
        grad_scaler=grad_scaler,
        snapshot=snapshot,
        progress=progress,
    ) as session:
        while not session.done:
            model.train()
            batches = cycle_batches(train_loader, "train_loader")
            while session.record(train_step(batches)[0]):
                pass
        return session.result()
