"""A whole log as the streaming doctor would have seen it: running summaries at every row.

:class:`Replay` computes, in one pass, what the :class:`~lrkit.doctor.window.Tracker` folds in
row by row (the smoothed loss, the gradient-norm z-scores, the best loss that has left the
window, the validation points) and builds the :class:`~lrkit.doctor.window.Window` the rules
would judge at any row. The recurrences run through the same code as the tracker's
(:class:`~lrkit.doctor.window.LossSmoother`, :class:`~lrkit.doctor.window.GradStats`), so every
number is the same, bit for bit.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from lrkit.doctor.thresholds import Thresholds
from lrkit.doctor.window import GradStats, LossSmoother, Window
from lrkit.trainlog import TrainingLog

_CHUNK = 65536


class Replay:
    """Per-row state of a log. Arrays named ``t*`` run over training rows (those with a
    loss); ``k[i]`` is the index of the last training row at row ``i`` (-1 before one)."""

    def __init__(self, log: TrainingLog, thresholds: Thresholds) -> None:
        t = self.t = thresholds
        self.unit = log.unit
        self.steps = log.steps
        self.n = len(log)
        self.is_train = log.has("loss")
        self.count = np.cumsum(self.is_train)
        self.k = self.count - 1
        every = bool(self.is_train.all())
        rows = np.flatnonzero(self.is_train)

        def train(values: np.ndarray) -> np.ndarray:
            return values if every else values[rows]

        self.tsteps = train(log.steps)
        self.tloss = train(log.column("loss"))
        self.tlr = train(_column(log, "lr"))
        self.tlr_has = train(log.has("lr"))
        self.tgrad = train(_column(log, "grad_norm"))
        self.tgrad_has = train(log.has("grad_norm"))
        smoother = LossSmoother(t.smoothing)
        grads = GradStats(t.warmup, t.grad_ema)
        smoothed, noise, z, typical = array("d"), array("d"), array("d"), array("d")
        for low in range(0, self.tloss.size, _CHUNK):
            losses = self.tloss[low : low + _CHUNK].tolist()
            norms = self.tgrad[low : low + _CHUNK].tolist()
            for loss, norm in zip(losses, norms, strict=True):
                smoothed.append(smoother.update(loss))
                noise.append(smoother.noise)
                z.append(grads.update(norm))
                typical.append(grads.typical)
        self.tsmooth = np.frombuffer(smoothed, dtype=float)
        self.tnoise = np.frombuffer(noise, dtype=float)
        self.tz = np.frombuffer(z, dtype=float)
        self.ttypical = np.frombuffer(typical, dtype=float)
        finite = np.isfinite(self.tloss)
        #: the first smoothed loss s_0 and the training row it belongs to (-1: none yet)
        self.start_index = int(np.argmax(finite)) if finite.any() else -1
        self.start = float(self.tsmooth[self.start_index]) if finite.any() else math.nan
        #: the training row of the second finite loss, where the noise is first known (-1: none)
        self.second_index = int(np.flatnonzero(finite)[1]) if finite.sum() > 1 else -1
        #: σ of a single loss over the first max(warmup, 2) finite losses, and where it is known
        first = self.tloss[finite][: max(t.warmup, 2)]
        self.start_noise_index = int(np.flatnonzero(finite)[first.size - 1]) if first.size else -1
        if first.size < max(t.warmup, 2):
            self.start_noise, self.start_noise_index = math.nan, self.tloss.size
        else:
            start_smoother = LossSmoother(t.smoothing)
            for loss in first.tolist():
                start_smoother.update(loss)
            self.start_noise = start_smoother.sigma
        self.finite_losses = self.tloss[finite][: max(t.warmup, 1)]
        self.finite_count = np.cumsum(finite)
        self.best_so_far = np.fmin.accumulate(
            np.where(np.isfinite(self.tsmooth), self.tsmooth, np.inf)
        )
        self._evicted: tuple[np.ndarray, np.ndarray] | None = None
        self._lr_peak: np.ndarray | None = None
        self._last_restart: np.ndarray | None = None
        val = log.has("val_loss") | log.has("val_metric")
        vrows = np.flatnonzero(val)
        self.vcount = np.cumsum(val)
        self.vsteps = log.steps[vrows]
        self.vloss = _column(log, "val_loss")[vrows]
        self.vmetric = _column(log, "val_metric")[vrows]
        vk = self.k[vrows]
        self.vtrain = np.where(
            vk >= 0, self.tsmooth[np.maximum(vk, 0)] if rows.size else np.nan, np.nan
        )

    def start_at(self, k: int) -> float:
        """s_0 as known at training row ``k``."""
        return self.start if 0 <= self.start_index <= k else math.nan

    def evicted(self) -> tuple[np.ndarray, np.ndarray]:
        """Running (smallest smoothed loss, its training row) over rows ``0..j``, as the
        tracker keeps it for rows that have left the window (``NaN`` never counts)."""
        if self._evicted is None:
            below = np.where(self.tsmooth < np.inf, self.tsmooth, np.inf)
            smallest = np.minimum.accumulate(below) if below.size else below
            previous = np.concatenate(([np.inf], smallest[:-1]))
            index = np.where(below < previous, np.arange(below.size), -1)
            self._evicted = (smallest, np.maximum.accumulate(index) if index.size else index)
        return self._evicted

    def lr_peak(self) -> np.ndarray:
        """The largest rate over training rows ``0..j`` (``NaN`` before the first rate)."""
        if self._lr_peak is None:
            self._lr_peak = np.fmax.accumulate(self.tlr) if self.tlr.size else self.tlr
        return self._lr_peak

    def last_restart(self) -> np.ndarray:
        """At each training row, the last row whose rate jumped ``lr_rise`` x in one step back
        to a level used before (a warm restart; -1 before one)."""
        if self._last_restart is None:
            jump = np.zeros(self.tlr.size, dtype=bool)
            with np.errstate(invalid="ignore"):
                now, before = self.tlr[1:], self.tlr[:-1]
                up = (now >= self.t.lr_rise * before) & (now > before)
                jump[1:] = up & (now <= self.lr_peak()[:-1])
            marks = np.where(jump, np.arange(jump.size), -1)
            self._last_restart = np.maximum.accumulate(marks) if marks.size else marks
        return self._last_restart

    def restarted(self) -> np.ndarray:
        """At each training row, whether a warm restart came within ``restart_settle`` rows."""
        last = self.last_restart()
        return (last >= 0) & (np.arange(last.size) - last < self.t.restart_settle)

    def best_noise(self, k: int) -> float:
        """The noise of the smoothed loss when it reached its best (or when first known), as
        known at training row ``k`` (``NaN`` before two finite losses)."""
        where = int(self.evicted()[1][k]) if k >= 0 else -1
        if where < 0:
            return math.nan
        return float(self.tnoise[min(max(where, self.second_index), k)])

    def loss_scale(self, k: int) -> float:
        """The mean of the first ``warmup`` finite losses up to training row ``k``."""
        if k < 0:
            return math.nan
        return self._scale(min(int(self.finite_count[k]), max(self.t.warmup, 1)))

    def _scale(self, seen: int) -> float:
        return float(np.mean(self.finite_losses[:seen].tolist())) if seen else math.nan

    def loss_scales(self) -> np.ndarray:
        """:meth:`loss_scale` at every training row."""
        cap = max(self.t.warmup, 1)
        table = np.array([self._scale(q) for q in range(min(cap, self.finite_losses.size) + 1)])
        return table[np.minimum(self.finite_count, table.size - 1)]

    def window(self, i: int) -> Window:
        """The window the rules judge at row ``i``."""
        t = self.t
        k = int(self.k[i])
        c = k + 1
        low = max(c - t.horizon(), 0)
        gone = k - t.horizon()  # the last training row that has left the window
        smallest, where = self.evicted()
        if gone >= 0 and where[gone] >= 0:
            at = int(where[gone])
            best_before = (
                float(smallest[gone]),
                int(self.tsteps[at]),
                float(self.tlr[at]),
            )
        else:
            best_before = (math.inf, -1, math.nan)
        seen = min(c, t.flat_steps)
        v = int(self.vcount[i])
        return Window(
            step=int(self.steps[i]),
            unit=self.unit,
            is_train=bool(self.is_train[i]),
            loss=float(self.tloss[k]) if k >= 0 else None,
            lr=float(self.tlr[k]) if k >= 0 and self.tlr_has[k] else None,
            grad_norm=float(self.tgrad[k]) if k >= 0 and self.tgrad_has[k] else None,
            count=c,
            steps=self.tsteps[low:c].astype(np.int64),
            losses=self.tloss[low:c].copy(),
            smoothed=self.tsmooth[low:c].copy(),
            lrs=self.tlr[low:c].copy(),
            best_before=best_before[0],
            best_before_step=best_before[1],
            best_before_lr=best_before[2],
            lr_peak_before=float(self.lr_peak()[gone]) if gone >= 0 else math.nan,
            last_restart=int(self.last_restart()[k]) if k >= 0 else -1,
            first_losses=self.tloss[:seen].copy(),
            first_grad_norms=self.tgrad[:seen].copy(),
            start_loss=self.start_at(k),
            best_noise=self.best_noise(k),
            start_noise=self.start_noise if k >= self.start_noise_index else math.nan,
            loss_scale=self.loss_scale(k),
            grad_z=self.tz[max(c - t.grad_patience, 0) : c].copy(),
            grad_typical=float(self.ttypical[k]) if k >= 0 else math.nan,
            val_steps=self.vsteps[:v].astype(np.int64),
            val_losses=self.vloss[:v].copy(),
            val_metrics=self.vmetric[:v].copy(),
            val_train=self.vtrain[:v].copy(),
        )


def _column(log: TrainingLog, name: str) -> np.ndarray:
    return log.values[name] if name in log.values else np.full(len(log), np.nan)
