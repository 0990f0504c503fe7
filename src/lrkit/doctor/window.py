"""What the rules look at: a :class:`Window` over the recent history, kept up by a tracker.

The :class:`Tracker` folds each observation into running summaries (the smoothed loss, the
gradient-norm statistics, the best loss that has left the window) so that a rule never
has to scan the whole history: every rule is a pure function of one :class:`Window`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from lrkit.doctor.thresholds import Thresholds


@dataclass(frozen=True)
class Window:
    """The history as a rule sees it at one observation.

    Arrays over the most recent training steps (at most ``Thresholds.horizon()``), oldest
    first: ``steps``, raw ``losses`` (non-finite values kept), ``smoothed`` losses (the
    bias-corrected EMA, which skips non-finite losses) and ``lrs``. Validation points, all of
    them: ``val_steps``, ``val_losses``, ``val_metrics`` and ``val_train`` (the smoothed
    training loss when each was taken). ``loss``, ``lr`` and ``grad_norm`` are the latest
    training values, ``None`` when not measured; in arrays ``NaN`` marks a value not measured.
    ``unit`` is ``"step"`` or ``"epoch"``: what one observation is.

    Running summaries: ``count`` training observations so far; ``best_before`` (with its
    ``best_before_step`` and ``best_before_lr``), the smallest smoothed loss among those
    that have left the window (``inf`` if none; see :meth:`best`); ``first_losses`` and
    ``first_grad_norms``, the first ``flat_steps`` values; ``loss_scale``, the mean of the
    first ``warmup`` finite losses; ``grad_z``, the z-scores of the latest ``grad_patience``
    gradient norms and ``grad_typical`` = exp(EMA mean of log gradient norm).
    """

    step: int
    unit: str
    is_train: bool
    loss: float | None
    lr: float | None
    grad_norm: float | None
    count: int
    steps: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    lrs: np.ndarray
    best_before: float
    best_before_step: int
    best_before_lr: float
    first_losses: np.ndarray
    first_grad_norms: np.ndarray
    loss_scale: float
    grad_z: np.ndarray
    grad_typical: float
    val_steps: np.ndarray
    val_losses: np.ndarray
    val_metrics: np.ndarray
    val_train: np.ndarray

    def best(self, before: int | None = None) -> tuple[float, int, float]:
        """(smallest smoothed loss, its step, its lr) over all steps, or over those before
        the last ``before`` steps of the window."""
        recent = (
            self.smoothed
            if before is None
            else self.smoothed[: max(len(self.smoothed) - before, 0)]
        )
        best, step, lr = self.best_before, self.best_before_step, self.best_before_lr
        finite = np.isfinite(recent)
        if finite.any():
            index = int(np.argmin(np.where(finite, recent, np.inf)))
            if recent[index] < best:
                best, step, lr = (
                    float(recent[index]),
                    int(self.steps[index]),
                    float(self.lrs[index]),
                )
        return best, step, lr


class _Recent:
    """The last ``size`` rows of a few float columns, appended in O(1) (a sliding buffer)."""

    def __init__(self, size: int, columns: int) -> None:
        self.size = size
        self._data = np.full((columns, 2 * size), np.nan)
        self._end = 0

    def append(self, *values: float) -> tuple[float, ...] | None:
        """Add a row; return the row that left the window, if one did."""
        if self._end == self._data.shape[1]:
            self._data[:, : self.size] = self._data[:, self._end - self.size : self._end]
            self._end = self.size
        evicted = None
        if self._end >= self.size:
            evicted = tuple(self._data[:, self._end - self.size])
        self._data[:, self._end] = values
        self._end += 1
        return evicted

    def column(self, index: int) -> np.ndarray:
        """A copy of one column over the window, oldest first."""
        return self._data[index, max(self._end - self.size, 0) : self._end].copy()

    def last(self, index: int) -> float:
        return float(self._data[index, self._end - 1]) if self._end else math.nan


class Tracker:
    """Folds observations into running summaries and hands out :class:`Window` objects."""

    def __init__(self, thresholds: Thresholds, unit: str = "step") -> None:
        self.t = thresholds
        self.unit = unit
        self._recent = _Recent(thresholds.horizon(), 4)  # step, loss, smoothed, lr
        self._first = np.full((2, thresholds.flat_steps), np.nan)  # loss, grad norm
        self._scale: list[float] = []
        self._avg = 0.0
        self._finite = 0
        self._best_before = (math.inf, -1, math.nan)
        self._grad_z: deque[float] = deque(maxlen=thresholds.grad_patience)
        self._grad_mean = math.nan
        self._grad_var = 0.0
        self._grad_count = 0
        self._val: list[tuple[float, float, float, float]] = []
        self._val_arrays = np.empty((4, 0))
        self._last: tuple[float | None, float | None, float | None] = (None, None, None)
        self.count = 0

    def update(
        self,
        step: int,
        loss: float | None,
        lr: float | None,
        grad_norm: float | None,
        val_loss: float | None,
        val_metric: float | None,
    ) -> Window:
        """Fold in one observation and return the window the rules judge."""
        if loss is not None:
            self._train(step, float(loss), lr, grad_norm)
        if val_loss is not None or val_metric is not None:
            self._validation(step, val_loss, val_metric)
        return self._window(step, loss is not None)

    def _validation(self, step: int, val_loss: float | None, val_metric: float | None) -> None:
        point = (float(step), _nan(val_loss), _nan(val_metric), self._recent.last(2))
        if self._val and self._val[-1][0] == step:
            old = self._val[-1]
            point = (
                point[0],
                old[1] if val_loss is None else point[1],
                old[2] if val_metric is None else point[2],
                point[3],
            )
            self._val[-1] = point
        else:
            self._val.append(point)
        self._val_arrays = np.array(self._val, dtype=float).T

    def _train(self, step: int, loss: float, lr: float | None, grad_norm: float | None) -> None:
        beta = self.t.smoothing
        if math.isfinite(loss):
            self._finite += 1
            self._avg = beta * self._avg + (1 - beta) * loss
            smoothed = self._avg / (1 - beta**self._finite)
            if len(self._scale) < max(self.t.warmup, 1):
                self._scale.append(loss)
        else:
            smoothed = self._recent.last(2)
        if self.count < self.t.flat_steps:
            self._first[:, self.count] = (loss, _nan(grad_norm))
        self.count += 1
        evicted = self._recent.append(step, loss, smoothed, _nan(lr))
        if evicted is not None and evicted[2] < self._best_before[0]:
            self._best_before = (evicted[2], int(evicted[0]), evicted[3])
        self._grad(_nan(grad_norm))
        self._last = (loss, _opt(lr), _opt(grad_norm))

    def _grad(self, grad_norm: float) -> None:
        """z = (log g - m) / sqrt(v) against the running mean m and variance v of log g.

        m and v are plain averages over the first ``warmup`` norms, then EMAs with weight
        ``grad_ema``: a = max(grad_ema, 1/n); m += a d; v = (1 - a)(v + a d^2), d = log g - m.
        """
        if not (math.isfinite(grad_norm) and grad_norm > 0):
            self._grad_z.append(math.nan)
            return
        x = math.log(grad_norm)
        ready = self._grad_count >= max(self.t.warmup, 2) and self._grad_var > 0
        z = (x - self._grad_mean) / math.sqrt(self._grad_var) if ready else math.nan
        self._grad_z.append(z)
        self._grad_count += 1
        if self._grad_count == 1:
            self._grad_mean = x
            return
        a = max(self.t.grad_ema, 1 / self._grad_count)
        d = x - self._grad_mean
        self._grad_mean += a * d
        self._grad_var = (1 - a) * (self._grad_var + a * d * d)

    def _window(self, step: int, is_train: bool) -> Window:
        loss, lr, grad_norm = self._last
        typical = math.exp(self._grad_mean) if math.isfinite(self._grad_mean) else math.nan
        seen = min(self.count, self.t.flat_steps)
        val = self._val_arrays
        return Window(
            step=step,
            unit=self.unit,
            is_train=is_train,
            loss=loss,
            lr=lr,
            grad_norm=grad_norm,
            count=self.count,
            steps=self._recent.column(0).astype(np.int64),
            losses=self._recent.column(1),
            smoothed=self._recent.column(2),
            lrs=self._recent.column(3),
            best_before=self._best_before[0],
            best_before_step=self._best_before[1],
            best_before_lr=self._best_before[2],
            first_losses=self._first[0, :seen].copy(),
            first_grad_norms=self._first[1, :seen].copy(),
            loss_scale=float(np.mean(self._scale)) if self._scale else math.nan,
            grad_z=np.array(self._grad_z, dtype=float),
            grad_typical=typical,
            val_steps=val[0].astype(np.int64),
            val_losses=val[1].copy(),
            val_metrics=val[2].copy(),
            val_train=val[3].copy(),
        )


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
