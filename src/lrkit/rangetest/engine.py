"""The range test as a push engine (:class:`RangeTest`) and its loop for a ``step(lr) -> loss``
callable (:func:`range_test`); see :mod:`lrkit.rangetest` for the sweep, its stopping rule and
its retries."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from lrkit.progress import progress_bar
from lrkit.rangetest.result import COMPLETED, DIVERGED, NON_FINITE, STOPPED, RangeTestResult
from lrkit.rangetest.retry import (
    MAX_SWEEPS,
    MIN_RETRY_STEPS,
    RETRY_FACTOR,
    default_max_steps,
    retry_range,
    unreadable,
)
from lrkit.rangetest.settings import RangeTestSettings
from lrkit.smoothing import EMA
from lrkit.sweep import lr_sweep

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lrkit.rangetest.settings import SweepKeywords

#: What :meth:`RangeTest.tell` answers.
STEP, RESTART, DONE = "step", "restart", "done"

StepFn = Callable[[float], float]
ProgressFn = Callable[[int, float, float], None]
ResetFn = Callable[[], None]


class RangeTest:
    """The range test as a push engine, for any training loop.

    The loop reads :attr:`lr`, takes one optimizer step at it, and hands the step's loss to
    :meth:`tell`, which answers :data:`STEP` (go on at the new :attr:`lr`), :data:`RESTART`
    (put the model back as it was before the first step, then go on: a retry sweep begins)
    or :data:`DONE`. :meth:`result` is then the curve; called before, it ends the sweep
    where it is (``stop_reason="stopped"``). With ``retry=False`` a curve no rule can read is
    returned as it is; otherwise see the module docstring.

    The sweep is ``settings`` (a :class:`~lrkit.rangetest.settings.RangeTestSettings`; default: its
    defaults), each keyword given replacing that field; ``result().settings`` records
    :data:`~lrkit.rangetest.settings.RECORDED` and the sweeps.
    """

    _lrs: list[float]
    _losses: list[float]
    _smoothed: list[float]
    _ema: EMA
    _best: float
    _advance: Callable[[str], None]

    def __init__(
        self,
        settings: RangeTestSettings | None = None,
        *,
        progress: bool = True,
        **sweep: Unpack[SweepKeywords],
    ) -> None:
        settings = RangeTestSettings.merged(settings, **sweep)
        #: The sweep's settings (each keyword given replaces that field of ``settings``).
        self.settings = settings
        num_steps = settings.num_steps
        max_steps = settings.max_steps
        if max_steps is None:
            max_steps = default_max_steps(num_steps)
        self._retry, self._max_steps, self._progress = settings.retry, max_steps, progress
        self._sweeps: list[dict[str, Any]] = []
        self._previous: RangeTestResult | None = None
        self._result: RangeTestResult | None = None
        self._bar = ExitStack()
        self._begin(float(settings.start_lr), float(settings.end_lr), num_steps)

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        if self._result is not None:
            raise RuntimeError("range test: finished; read result() instead of lr")
        return float(self._schedule[len(self._lrs)])

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def sweep(self) -> int:
        """The number of the sweep under way (1 for the first)."""
        return len(self._sweeps)

    def tell(self, loss: float) -> str:
        """Record the loss of the step just taken at :attr:`lr`; say what comes next."""
        lr, loss = self.lr, float(loss)
        self._lrs.append(lr)
        self._losses.append(loss)
        self._advance(f"lr {lr:.2e}  loss {loss:.4f}")
        if not math.isfinite(loss):
            self._smoothed.append(math.nan)
            return self._end(NON_FINITE)
        value = self._ema.update(loss)
        self._smoothed.append(value)
        self._best = min(self._best, value)
        if value > self.settings.diverge_factor * self._best:
            return self._end(DIVERGED)
        if len(self._lrs) == len(self._schedule):
            return self._end(COMPLETED)
        return STEP

    def result(self) -> RangeTestResult:
        """The curve (of the last sweep) and every sweep's record in ``settings["sweeps"]``."""
        if self._result is None:
            if self._lrs or self._previous is None:
                self._end(STOPPED)
            else:  # stopped before a retry took its first step: the last curve stands
                self._bar.close()
                self._sweeps.pop()
                self._sweeps[-1].pop("unreadable", None)
                self._finish(self._previous)
        assert self._result is not None
        return self._result

    def _begin(self, low: float, high: float, steps: int) -> None:
        self._schedule = lr_sweep(low, high, steps, self.settings.mode)
        self._lrs, self._losses, self._smoothed = [], [], []
        self._ema, self._best = EMA(self.settings.smoothing), math.inf
        self._sweeps.append({"start_lr": low, "end_lr": high, "num_steps": steps})
        label = "range test" if self.sweep == 1 else f"range test, sweep {self.sweep}"
        self._advance = self._bar.enter_context(progress_bar(label, steps, enabled=self._progress))

    def _end(self, reason: str) -> str:
        self._bar.close()
        current = self._sweeps[-1]
        current.update(
            steps=len(self._lrs), stop_reason=reason, stop_lr=self._lrs[-1] if self._lrs else None
        )
        result = RangeTestResult(self._lrs, self._losses, self._smoothed, reason)
        why = unreadable(result) if reason != STOPPED else None
        spent = sum(s["steps"] for s in self._sweeps)
        steps = min(RETRY_FACTOR * self.settings.num_steps, self._max_steps - spent)
        if (
            why is None
            or not self._retry
            or len(self._sweeps) == MAX_SWEEPS
            or steps < MIN_RETRY_STEPS
        ):
            self._finish(result)
            return DONE
        current["unreadable"] = why
        high = self._lrs[-1] if reason != COMPLETED else current["end_lr"]
        self._previous = result
        self._begin(*retry_range(high, len(self._sweeps)), steps)
        return RESTART

    def _finish(self, result: RangeTestResult) -> None:
        result.settings = {**self.settings.record(), "sweeps": self._sweeps}
        self._result = result


def range_test(
    step: StepFn,
    *,
    settings: RangeTestSettings | None = None,
    reset: ResetFn | None = None,
    on_step: ProgressFn | None = None,
    progress: bool = True,
    **sweep: Unpack[SweepKeywords],
) -> RangeTestResult:
    """Sweep ``step(lr) -> loss`` from ``start_lr`` to ``end_lr`` and record the curve: a loop
    over :class:`RangeTest`.

    The sweep is ``settings`` (a :class:`~lrkit.rangetest.settings.RangeTestSettings`; default: its
    defaults, 100 steps from ``1e-7`` to ``10``), each keyword given replacing that field.
    ``on_step(i, lr, loss)`` is called after every step (``i`` counts within the sweep);
    ``progress`` shows a progress bar (with ``rich`` installed; on by default, as in every
    adapter; ``False`` keeps the sweep quiet). The sweep stops early, keeping the offending
    point, when the smoothed loss exceeds ``diverge_factor`` times its best or the loss is not
    finite; ``stop_reason`` says which.

    With ``reset`` (a callable that puts the model back as it was before the first step), a
    curve the default rule cannot read is swept again (see the module docstring; not when
    ``settings.retry`` is ``False``), up to ``max_steps`` steps in all (default:
    ``num_steps · (1 + 2·RETRY_FACTOR)``, every retry that :data:`MAX_SWEEPS` allows).
    """
    settings = RangeTestSettings.merged(settings, **sweep)
    engine = RangeTest(settings, retry=settings.retry and reset is not None, progress=progress)
    i = 0
    while not engine.done:
        lr = engine.lr
        loss = float(step(lr))
        event = engine.tell(loss)
        if on_step is not None:
            on_step(i, lr, loss)
        i = 0 if event == RESTART else i + 1
        if event == RESTART and reset is not None:
            reset()
    return engine.result()
