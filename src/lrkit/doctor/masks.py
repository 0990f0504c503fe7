"""Where each built-in rule fires, over every row of a :class:`~lrkit.doctor.replay.Replay`.

Each function returns a :class:`Mask` of boolean arrays over rows. ``fires`` is the rule's
answer computed on whole arrays; ``unsure`` marks the rows where that answer rests on a
comparison closer than the rounding of the array arithmetic (a mean summed in another order)
or that are cheaper to judge one by one, and where the rule itself is asked; ``critical``,
for a rule whose severity varies (``divergence``), marks the rows where its finding is
critical. Everything else is computed with the same operations as the rule, so both agree on
every row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lrkit.divergence import best_spread, climbed, diverged, given_back
from lrkit.doctor.replay import Replay
from lrkit.doctor.thresholds import Thresholds
from lrkit.smoothing import running_median


class Mask(NamedTuple):
    """Where a rule fires, where the arrays cannot tell, and where its finding is critical
    (``None``: its severity never varies)."""

    fires: np.ndarray
    unsure: np.ndarray
    critical: np.ndarray | None = None


_TOL = 1e-9
_CHUNK = 8192


def _near(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where ``a`` and ``b`` are too close for array arithmetic to tell apart."""
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) <= _TOL * (np.abs(a) + np.abs(b)) + 1e-300


def _rows(replay: Replay, per_train: np.ndarray) -> np.ndarray:
    """A per-training-row array read at every row (``False`` before the first)."""
    k = replay.k
    out = np.zeros(replay.n, dtype=bool)
    has = k >= 0
    out[has] = per_train[k[has]]
    return out


def _none(replay: Replay) -> np.ndarray:
    return np.zeros(replay.n, dtype=bool)


def non_finite(r: Replay) -> Mask:
    bad = ~np.isfinite(r.tloss) | (r.tgrad_has & ~np.isfinite(r.tgrad))
    return Mask(_rows(r, bad), _none(r))


def divergence(r: Replay) -> Mask:
    t = r.t
    n = r.tloss.size
    size = t.diverge_fast_steps
    level = running_median(r.tloss, size) if size else r.tsmooth
    peak = r.lr_peak()
    evicted = r.evicted()[1]
    ok, critical = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for lo in range(0, n, _CHUNK):
        rows = np.arange(lo, min(lo + _CHUNK, n))
        ok[rows], critical[rows] = _diverged_rows(r, rows, level[rows], peak, evicted[rows])
    ok &= np.arange(n) + 1 > t.warmup
    return Mask(_rows(r, ok), _none(r), _rows(r, ok & critical))


def _diverged_rows(
    r: Replay, rows: np.ndarray, level: np.ndarray, peak: np.ndarray, evicted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(fires, critical) of ``divergence`` at the training ``rows``; ``level`` is the median
    of the last ``diverge_fast_steps`` losses there, ``peak`` the running largest rate."""
    t = r.t
    smooth, best = r.tsmooth[rows], r.best_so_far[rows]
    where = np.minimum(np.maximum(evicted, r.second_index), rows)
    with np.errstate(invalid="ignore"):
        noise = np.where(where >= 0, r.tnoise[np.maximum(where, 0)], np.nan)
        ok = np.isfinite(smooth) & np.isfinite(best) & np.isfinite(noise)
        ok &= (r.start_index >= 0) & (rows >= r.start_index) & np.isfinite(r.start)
        sigma = np.where(rows >= r.start_noise_index, r.start_noise, np.nan)
        start_noise = t.diverge_noise * sigma
        spread = [best_spread(count, t.smoothing) for count in (rows + 1).tolist()]
        allowance = t.diverge_noise + np.array(spread)
        slow = diverged(
            smooth,
            r.start,
            best,
            t.diverge_give_back,
            t.diverge_min_fall,
            allowance * noise,
            start_noise,
        )
        fast, recent = np.zeros_like(slow), smooth
        if t.diverge_fast_steps:
            size = t.diverge_fast_steps
            earlier = rows - size
            before = np.where(earlier >= 0, r.best_so_far[np.maximum(earlier, 0)], np.inf)
            full = rows + 1 >= size
            fast = full & np.isfinite(level) & np.isfinite(start_noise) & np.isfinite(before)
            fast_noise = allowance * sigma / math.sqrt(size)
            raised_noise = t.diverge_noise * sigma / math.sqrt(size)
            gave = diverged(
                level,
                r.start,
                before,
                t.diverge_fast_give_back,
                t.diverge_min_fall,
                fast_noise,
                np.inf,
            )
            # where the rate is lr_rise x every rate before the last `size` losses
            raised = np.flatnonzero(
                (earlier >= 0) & (r.tlr[rows] >= t.lr_rise * peak[np.maximum(earlier, 0)])
            )
            gave[raised] |= diverged(
                level[raised],
                r.start,
                before[raised],
                t.diverge_raised_give_back,
                t.diverge_min_fall,
                raised_noise[raised],
                np.inf,
            )
            fast &= gave
            recent = np.where(full & np.isfinite(level), level, smooth)
        ok &= slow | fast
        learned = r.start - best >= start_noise / math.sqrt(max(t.warmup, 2))
        critical = climbed(smooth, r.start, t.diverge_min_fall, start_noise) | (
            slow & learned & given_back(recent, r.start, best, t.diverge_critical)
        )
    return ok, critical


def _stats(windows: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation along rows of the finite entries."""
    n = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, windows, 0.0).sum(axis=1) / n
        dev = np.where(finite, windows - mean[:, None], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / n)
    return mean, std


def spike(r: Replay) -> Mask:
    t = r.t
    size = r.tloss.size
    w = t.spike_window
    fires = np.zeros(size, dtype=bool)
    unsure = np.zeros(size, dtype=bool)
    if size > w:
        x = r.tloss
        finite = np.isfinite(x)
        nonpos = np.concatenate(([0], np.cumsum(finite & (x <= 0))))
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.log(np.where(finite & (x > 0), x, np.nan))
        raw_w, log_w, fin_w = (sliding_window_view(a, w) for a in (x, logs, finite))
        start = np.where(np.arange(size) >= r.start_index, r.start, np.nan)
        for lo in range(w, size, _CHUNK):
            ks = np.arange(lo, min(lo + _CHUNK, size))
            loss = x[ks]
            fin = fin_w[ks - w]
            use_log = (loss > 0) & (nonpos[ks] - nonpos[ks - w] == 0)
            windows = np.where(use_log[:, None], log_w[ks - w], raw_w[ks - w])
            mean, std = _stats(windows, fin)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                value = np.where(use_log, np.log(np.where(loss > 0, loss, 1.0)), loss)
                limit = mean + t.spike_sigma * std
                judged = np.isfinite(loss) & (fin.sum(axis=1) >= 2)
                typical = np.where(use_log, np.exp(mean), mean)
                fall = start[ks] - r.best_so_far[ks]
                rise, least = loss - typical, t.spike_min_rise * fall
                fallen = fall > 0
                fires[ks] = judged & (value > limit) & (~fallen | (rise >= least))
            unsure[ks] = judged & (_near(value, limit) | (fallen & _near(rise, least)))
    settled = ~r.restarted()
    return Mask(_rows(r, fires & settled) & r.is_train, _rows(r, unsure & settled) & r.is_train)


def grad_explosion(r: Replay) -> Mask:
    t = r.t
    p = t.grad_patience
    size = r.tloss.size
    fires = np.zeros(size, dtype=bool)
    unsure = np.zeros(size, dtype=bool)
    if size > p:
        with np.errstate(invalid="ignore"):
            high = np.asarray(sliding_window_view(r.tz > t.grad_z, p).all(axis=1))
            ks = np.arange(p, size)
            now, before = r.tsmooth[ks], r.tsmooth[ks - p]
            strong = r.tgrad_has[ks] & (r.tgrad[ks] >= t.grad_min_ratio * r.ttypical[ks])
            ok = high[ks - p + 1] & strong & (ks + 1 > t.warmup) & (ks + 1 > t.grad_settle)
            fires[ks] = ok & ~(now < before)
            unsure[ks] = ok & (now < before) & _near(now, before)
    settled = ~r.restarted()
    return Mask(_rows(r, fires & settled) & r.is_train, _rows(r, unsure & settled) & r.is_train)


def flat_start(r: Replay) -> Mask:
    """``lr_too_low`` and ``dead_start`` are judged at one row: the ``flat_steps``-th
    training row; the rule itself judges it."""
    unsure = r.is_train & (r.count == r.t.flat_steps)
    return Mask(_none(r), unsure)


def _rolling_min(values: np.ndarray, size: int) -> np.ndarray:
    """min(values[j : j + size]) for every full window (van Herk / Gil-Werman)."""
    n = values.size
    blocks = -(-n // size)
    padded = np.full(blocks * size, np.inf)
    padded[:n] = values
    grid = padded.reshape(blocks, size)
    forward = np.minimum.accumulate(grid, axis=1).ravel()
    backward = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    starts = np.arange(n - size + 1)
    return np.minimum(backward[starts], forward[starts + size - 1])


def plateau(r: Replay) -> Mask:
    t = r.t
    p = t.plateau_patience
    size = r.tloss.size
    fires = np.zeros(size, dtype=bool)
    if size > p + t.warmup:
        s = r.tsmooth
        finite = np.isfinite(s)
        lowest = _rolling_min(np.where(finite, s, np.inf), p)  # window [j, j + p)
        counts = np.concatenate(([0], np.cumsum(finite)))
        ks = np.arange(p + t.warmup, size)
        earlier = r.best_so_far[ks - p]
        recent = lowest[ks - p + 1]
        some = counts[ks + 1] - counts[ks - p + 1] > 0
        with np.errstate(invalid="ignore"):
            improved = recent < earlier - t.plateau_min_delta * np.abs(earlier)
        fires[ks] = np.isfinite(earlier) & some & ~improved
    return Mask(_rows(r, fires), _none(r))


def _judge(
    t: Thresholds, means: np.ndarray, errors: np.ndarray, floor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of block means: (oscillating, unsure), as ``rules._turns`` and the trend test."""
    blocks = means.shape[1]
    moves = np.diff(means, axis=1)
    noise = 2 * np.sqrt(errors[:, :-1] ** 2 + errors[:, 1:] ** 2)
    bar = np.maximum(noise, floor[:, None])
    unsure = _near(np.abs(moves), bar).any(axis=1)
    signs = np.where(np.abs(moves) > bar, np.sign(moves), 0.0)
    turns = np.zeros(means.shape[0], dtype=np.int64)
    last = np.zeros(means.shape[0])
    for column in signs.T:
        turns += (column != 0) & (last != 0) & (column != last)
        last = np.where(column != 0, column, last)
    x = np.arange(blocks) - (blocks - 1) / 2
    centre = means.mean(axis=1)
    slope = (means - centre[:, None]) @ x / (x @ x)
    level = np.abs(centre)
    with np.errstate(invalid="ignore", divide="ignore"):
        fall = np.where(level > 0, -slope * (blocks - 1) / level, 0.0)
    trend = np.full_like(fall, t.osc_trend)
    fire = (turns >= t.osc_turns) & (fall < trend)
    return fire, unsure | _near(fall, trend) | _near(level, np.zeros_like(level))


def _block_stats(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of ``x[j : j + size]`` for every ``j``."""
    view = sliding_window_view(x, size)
    means = np.empty(view.shape[0])
    errors = np.empty(view.shape[0])
    with np.errstate(invalid="ignore"):
        for lo in range(0, view.shape[0], _CHUNK):
            part = view[lo : lo + _CHUNK]
            means[lo : lo + _CHUNK] = part.mean(axis=1)
            errors[lo : lo + _CHUNK] = part.std(axis=1) / np.sqrt(size)
    return means, errors


def oscillation(r: Replay) -> Mask:
    t = r.t
    b = t.osc_blocks
    fires, unsure = _none(r), _none(r)
    scale_at = r.loss_scales()
    floor_t = t.osc_swing * np.abs(scale_at)
    size = t.osc_window // b
    m = r.tloss.size
    train_fire = np.zeros(m, dtype=bool)
    train_unsure = np.zeros(m, dtype=bool)
    if m >= t.osc_window:
        x = r.tloss
        nonfinite = np.concatenate(([0], np.cumsum(~np.isfinite(x))))
        block_means, block_errors = _block_stats(x, size)
        offsets = (b - np.arange(b))[None, :] * size
        for lo in range(t.osc_window - 1, m, _CHUNK):
            ks = np.arange(lo, min(lo + _CHUNK, m))
            ks = ks[nonfinite[ks + 1] - nonfinite[ks + 1 - t.osc_window] == 0]
            if ks.size:
                starts = ks[:, None] - offsets + 1
                judged = _judge(t, block_means[starts], block_errors[starts], floor_t[ks])
                train_fire[ks], train_unsure[ks] = judged
    ok_scale = _rows(r, np.isfinite(scale_at))
    fires |= _rows(r, train_fire) & ok_scale
    unsure |= _rows(r, train_unsure) & ok_scale
    # the validation series depends only on how many validations there are and on the floor
    nv = t.osc_validations
    rows = np.flatnonzero(ok_scale & (r.vcount >= nv)) if nv else np.empty(0, dtype=np.int64)
    if rows.size:
        cap = max(t.warmup, 1)
        key = r.vcount[rows] * (cap + 1) + np.minimum(r.finite_count[r.k[rows]], cap)
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        first = rows[starts]
        vals = sliding_window_view(r.vloss, nv)[r.vcount[first] - nv]
        finite = np.isfinite(vals).all(axis=1)
        fire = np.zeros(first.size, dtype=bool)
        doubt = np.zeros(first.size, dtype=bool)
        if finite.any():
            floor = t.osc_swing * np.abs(scale_at[r.k[first[finite]]])
            judged = _judge(t, vals[finite], np.zeros_like(vals[finite]), floor)
            fire[finite], doubt[finite] = judged
        group = np.repeat(np.arange(first.size), np.diff(np.append(starts, rows.size)))
        fires[rows] |= fire[group]
        unsure[rows] |= doubt[group]
    return Mask(fires, unsure)


def overfitting(r: Replay) -> Mask:
    t = r.t
    k = t.overfit_patience
    nv = r.vloss.size
    per_v = np.zeros(nv + 1, dtype=bool)  # by how many validations have been seen
    unsure_v = np.zeros(nv + 1, dtype=bool)
    if nv >= 2 * k:
        val = r.vloss
        finite_prefix = np.cumsum(~np.isfinite(val)) == 0
        rolling = np.convolve(np.where(np.isfinite(val), val, 0.0), np.ones(k) / k, mode="valid")
        running = np.minimum.accumulate(rolling)
        new = np.concatenate(([True], rolling[1:] < running[:-1]))
        best = np.maximum.accumulate(np.where(new, np.arange(rolling.size), 0))
        counts = np.arange(2 * k, nv + 1)
        last = counts - k  # index of the latest rolling mean
        b = best[last]
        limit = rolling[b] * (1 + t.overfit_min_rise)
        with np.errstate(invalid="ignore"):
            ok = finite_prefix[counts - 1] & (last - b >= k)
            then = r.vtrain[b + k - 1]
            ok &= then - r.vtrain[counts - 1] > t.overfit_train_fall * np.abs(then)
        per_v[counts] = ok & (rolling[last] > limit)
        unsure_v[counts] = ok & _near(rolling[last], limit)
    return Mask(per_v[r.vcount], unsure_v[r.vcount])


#: Built-in rule name -> its mask (``lr_too_low`` and ``dead_start`` share one).
MASKS: dict[str, Callable[[Replay], Mask]] = {
    "non_finite": non_finite,
    "divergence": divergence,
    "spike": spike,
    "grad_explosion": grad_explosion,
    "lr_too_low": flat_start,
    "dead_start": flat_start,
    "plateau": plateau,
    "oscillation": oscillation,
    "overfitting": overfitting,
}
