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
from lrkit.smoothing import EMA


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
    that have left the window (``inf`` if none; see :meth:`best`); ``lr_peak_before``, the
    largest rate among them (``NaN`` if none; see :meth:`lr_peak`); ``last_restart``, the index
    (from 0) of the last training observation whose rate jumped ``lr_rise`` x in one step back
    to a level used before, a warm restart (-1 if none); ``first_losses`` and
    ``first_grad_norms``, the first ``flat_steps`` values; ``start_loss``, the first smoothed
    loss (``NaN`` before one); ``best_noise``, the standard deviation of the smoothed loss (see
    :class:`LossSmoother`) when it reached its best so far (or when first known, at the second
    finite loss, if the best came first), so that a blow-up after the best does not count as
    noise (``NaN`` before two finite losses); ``start_noise``, the standard deviation σ of a
    single loss (see :class:`LossSmoother`) over the first max(``warmup``, 2) finite losses
    (``NaN`` before them); ``loss_scale``, the mean of the first ``warmup``
    finite losses; ``grad_z``, the z-scores of the latest ``grad_patience`` gradient norms and
    ``grad_typical`` = exp(EMA mean of log gradient norm).
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
    lr_peak_before: float
    last_restart: int
    first_losses: np.ndarray
    first_grad_norms: np.ndarray
    start_loss: float
    best_noise: float
    start_noise: float
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

    def lr_peak(self, before: int) -> float:
        """The largest rate over all steps before the last ``before`` of the window (``NaN``
        if none is known)."""
        earlier = self.lrs[: max(len(self.lrs) - before, 0)]
        if np.isfinite(earlier).any():
            return float(np.fmax(self.lr_peak_before, np.nanmax(earlier)))
        return self.lr_peak_before

    def restarted(self, within: int) -> bool:
        """Whether a warm restart came within the last ``within`` training observations."""
        return self.last_restart >= 0 and self.count - 1 - self.last_restart < within


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


class LossSmoother:
    """The smoothed loss s_t = β s_{t-1} + (1-β) loss_t, bias-corrected over the finite
    losses (:class:`lrkit.smoothing.EMA`); a non-finite loss leaves it where it was (``NaN``
    before the first finite one).

    Its noise: σ² is an average of d²/2 over differences d of consecutive finite losses
    (weight max(0.01, 1/pairs)), and the standard deviation of s after n finite losses is
    σ · sqrt((1-β)(1-β^{2n}) / ((1+β)(1-β^n)²)).
    """

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self._ema = EMA(beta)
        self._previous = math.nan
        self._square = 0.0
        self._pairs = 0

    @property
    def value(self) -> float:
        """s_t (``NaN`` before the first finite loss)."""
        return self._ema.value

    @property
    def finite(self) -> int:
        """The finite losses seen so far."""
        return self._ema.count

    def update(self, loss: float) -> float:
        if math.isfinite(loss):
            if self.finite:
                d = loss - self._previous
                self._pairs += 1
                self._square += max(0.01, 1 / self._pairs) * (d * d / 2 - self._square)
            self._previous = loss
        return self._ema.update(loss)

    @property
    def sigma(self) -> float:
        """σ, the standard deviation of a single loss (``NaN`` before two finite losses)."""
        return math.sqrt(self._square) if self._pairs else math.nan

    @property
    def noise(self) -> float:
        """The standard deviation of the smoothed loss (``NaN`` before two finite losses)."""
        if not self._pairs:
            return math.nan
        b, n = self.beta, self.finite
        spread = (1 - b) * (1 - b ** (2 * n)) / ((1 + b) * (1 - b**n) ** 2)
        return math.sqrt(self._square * spread)


class GradStats:
    """z = (log g - m) / sqrt(v) against the running mean m and variance v of log g.

    m and v are plain averages over the first ``warmup`` norms, then EMAs with weight
    ``ema``: a = max(ema, 1/n); m += a d; v = (1 - a)(v + a d^2), d = log g - m. A missing,
    non-finite or non-positive norm has z = NaN and leaves m and v alone.
    """

    def __init__(self, warmup: int, ema: float) -> None:
        self.warmup = warmup
        self.ema = ema
        self.mean = math.nan
        self._var = 0.0
        self._count = 0

    def update(self, grad_norm: float) -> float:
        """Fold in one norm; return its z-score against the statistics before it."""
        if not (math.isfinite(grad_norm) and grad_norm > 0):
            return math.nan
        x = math.log(grad_norm)
        ready = self._count >= max(self.warmup, 2) and self._var > 0
        z = (x - self.mean) / math.sqrt(self._var) if ready else math.nan
        self._count += 1
        if self._count == 1:
            self.mean = x
            return z
        a = max(self.ema, 1 / self._count)
        d = x - self.mean
        self.mean += a * d
        self._var = (1 - a) * (self._var + a * d * d)
        return z

    @property
    def typical(self) -> float:
        """exp(m), the typical norm (``NaN`` before the first)."""
        return math.exp(self.mean) if math.isfinite(self.mean) else math.nan


class Tracker:
    """Folds observations into running summaries and hands out :class:`Window` objects."""

    def __init__(self, thresholds: Thresholds, unit: str = "step") -> None:
        self.t = thresholds
        self.unit = unit
        self._recent = _Recent(thresholds.horizon(), 4)  # step, loss, smoothed, lr
        self._first = np.full((2, thresholds.flat_steps), np.nan)  # loss, grad norm
        self._scale: list[float] = []
        self._smoother = LossSmoother(thresholds.smoothing)
        self._start = math.nan
        self._best = (math.inf, math.nan)  # smallest smoothed loss so far, its noise
        self._start_noise = math.nan
        self._best_before = (math.inf, -1, math.nan)
        self._lr_peak = math.nan
        self._lr_max = math.nan  # the largest rate so far, and the latest one
        self._lr_last = math.nan
        self._last_restart = -1
        self._grad_z: deque[float] = deque(maxlen=thresholds.grad_patience)
        self._grads = GradStats(thresholds.warmup, thresholds.grad_ema)
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
        smoothed = self._smoother.update(loss)
        if math.isfinite(loss):
            if self._smoother.finite == 1:
                self._start = smoothed
            if smoothed < self._best[0]:
                self._best = (smoothed, self._smoother.noise)
            elif math.isnan(self._best[1]):
                self._best = (self._best[0], self._smoother.noise)
            if self._smoother.finite == max(self.t.warmup, 2):
                self._start_noise = self._smoother.sigma
            if len(self._scale) < max(self.t.warmup, 1):
                self._scale.append(loss)
        if self.count < self.t.flat_steps:
            self._first[:, self.count] = (loss, _nan(grad_norm))
        rate = _nan(lr)
        last, peak = self._lr_last, self._lr_max
        if rate >= self.t.lr_rise * last and last < rate <= peak:
            self._last_restart = self.count
        self._lr_max, self._lr_last = float(np.fmax(self._lr_max, rate)), rate
        self.count += 1
        evicted = self._recent.append(step, loss, smoothed, rate)
        if evicted is not None:
            if evicted[2] < self._best_before[0]:
                self._best_before = (evicted[2], int(evicted[0]), evicted[3])
            self._lr_peak = float(np.fmax(self._lr_peak, evicted[3]))
        self._grad_z.append(self._grads.update(_nan(grad_norm)))
        self._last = (loss, _opt(lr), _opt(grad_norm))

    def _window(self, step: int, is_train: bool) -> Window:
        loss, lr, grad_norm = self._last
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
            lr_peak_before=self._lr_peak,
            last_restart=self._last_restart,
            first_losses=self._first[0, :seen].copy(),
            first_grad_norms=self._first[1, :seen].copy(),
            start_loss=self._start,
            best_noise=self._best[1],
            start_noise=self._start_noise,
            loss_scale=float(np.mean(self._scale)) if self._scale else math.nan,
            grad_z=np.array(self._grad_z, dtype=float),
            grad_typical=self._grads.typical,
            val_steps=val[0].astype(np.int64),
            val_losses=val[1].copy(),
            val_metrics=val[2].copy(),
            val_train=val[3].copy(),
        )


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
