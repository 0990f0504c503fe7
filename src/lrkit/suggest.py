"""Suggestion rules: pure functions from a range-test curve ``(lrs, losses)`` to a learning rate.

Every rule first cuts the curve at its first non-finite loss, works on what is left, and
returns a learning rate that was actually swept. A curve that is too short or never falls
raises :class:`SuggestionError` (a ``ValueError``) that says why.

Rules:

- ``steepest``: the learning rate where the loss falls fastest per decade,
  ``argmin_i d loss / d log(lr)``, looked for only before the minimum of the curve.
- ``valley``: the middle of the longest stretch over which the loss keeps falling
  (the longest decreasing subsequence of the curve).
- ``minimum``: the learning rate at the lowest loss, divided by 10.
- ``slide``: where the curve, read from its end backwards, first becomes straight again
  (the slopes at both ends of a 15-point window agree).
- ``centred``: the learning rate at the lowest point of the *raw* curve, clipped at its
  starting level and smoothed without lag (a centred Gaussian), divided by 6.
- ``rise``: not a rule but the edge the others stand below: the first rate past the lowest
  point of the centred-smoothed curve at which it is :data:`RISE_FRACTION` above where it
  started, and :data:`RISE_Z` times its noise (:func:`rise`).
- ``default``: the rule lrkit recommends (:data:`DEFAULT_RULE`): ``centred``, chosen by
  ``benchmarks/suggestion_quality.py``.

A rule of your own is any callable ``rule(lrs, losses) -> float | Suggestion`` (a
:data:`Rule`, like fastai's ``suggest_funcs``): pass it wherever a rule's name goes
(:func:`suggest`, :meth:`lrkit.RangeTestResult.suggest`). It gets the curve up to its first
non-finite loss as two float arrays, the *raw* losses (the EMA curve is
``lrkit.smoothing.ema(losses, β)``); a float it returns must be a finite learning rate > 0 and
is marked at the nearest swept rate, named after the callable.

:func:`clr_bounds` gives Smith's cyclical bounds: ``base_lr`` where the (lag-free) loss has
made 10 % of its total fall, ``max_lr`` where it has made 90 % of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Fewest finite points a curve needs before any rule answers.
MIN_POINTS = 5
#: Smallest fall of the loss, relative to its starting value, that counts as a descent.
MIN_RELATIVE_DROP = 0.01

DEFAULT_RULE = "centred"
#: The curve has risen when it is this fraction of its starting level above it ...
RISE_FRACTION = 0.1
#: ... and this many times its noise (:func:`rise`).
RISE_Z = 4.0


class SuggestionError(ValueError):
    """The curve has no shape a rule can read a learning rate from."""


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, the index on the curve it came from, and the rule."""

    lr: float
    index: int
    method: str


FloatArray = NDArray[np.float64]


def finite_prefix(lrs: ArrayLike, losses: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The curve up to (not including) its first non-finite loss or learning rate."""
    lr_array = np.asarray(lrs, dtype=np.float64)
    loss_array = np.asarray(losses, dtype=np.float64)
    if lr_array.shape != loss_array.shape or lr_array.ndim != 1:
        raise ValueError(
            f"lrs and losses: must be 1-D and of equal length, got shapes "
            f"{lr_array.shape} and {loss_array.shape}"
        )
    bad = ~(np.isfinite(loss_array) & np.isfinite(lr_array))
    end = int(np.argmax(bad)) if bad.any() else len(loss_array)
    return lr_array[:end], loss_array[:end]


def start_level(losses: FloatArray) -> float:
    """Where the loss started: the median of the first 10 % of the curve (at least 3 points),
    so that one lucky or unlucky first batch does not set the reference."""
    return float(np.median(losses[: max(3, len(losses) // 10)]))


def _usable_curve(lrs: ArrayLike, losses: ArrayLike, method: str) -> tuple[FloatArray, FloatArray]:
    lr_array, loss_array = finite_prefix(lrs, losses)
    if len(loss_array) < MIN_POINTS:
        raise SuggestionError(
            f"{method}: the curve has {len(loss_array)} finite points before the first "
            f"non-finite loss; at least {MIN_POINTS} are needed (sweep more steps, or start lower)"
        )
    if np.any(np.diff(lr_array) <= 0):
        raise ValueError(f"{method}: lrs must increase strictly")
    start, lowest = start_level(loss_array), loss_array.min()
    scale = max(abs(start), np.finfo(np.float64).tiny)
    if (start - lowest) / scale < MIN_RELATIVE_DROP:
        raise SuggestionError(
            f"{method}: the loss never fell by {MIN_RELATIVE_DROP:.0%} of its starting value "
            f"({start:.4g} -> lowest {lowest:.4g}); the sweep may start too high, end too "
            "low, or the model may not be learning at all"
        )
    return lr_array, loss_array


def steepest(lrs: ArrayLike, losses: ArrayLike) -> Suggestion:
    """``argmin_i d loss / d log(lr)`` over the curve up to its minimum."""
    lr_array, loss_array = _usable_curve(lrs, losses, "steepest")
    end = int(np.argmin(loss_array)) + 1
    if end < 2:
        raise SuggestionError("steepest: the loss is lowest at the first point; nothing descends")
    slopes = np.gradient(loss_array[:end], np.log(lr_array[:end]))
    index = int(np.argmin(slopes))
    return Suggestion(float(lr_array[index]), index, "steepest")


def longest_descent(losses: FloatArray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence of ``losses``.

    Among equally long ones the latest start wins, so a flat stretch before the fall does not
    count as part of it.
    """
    n = len(losses)
    length = np.ones(n, dtype=np.int64)
    first = np.arange(n)
    for i in range(1, n):
        higher = np.flatnonzero(losses[:i] > losses[i])
        if higher.size:
            best = higher[::-1][np.argmax(length[higher][::-1])]  # ties: the latest start
            length[i] = length[best] + 1
            first[i] = first[best]
    last = int(np.argmax(length))
    return int(first[last]), last


def valley(lrs: ArrayLike, losses: ArrayLike) -> Suggestion:
    """The middle (in index, i.e. in log-lr for an exponential sweep) of the longest descent."""
    lr_array, loss_array = _usable_curve(lrs, losses, "valley")
    start, end = longest_descent(loss_array)
    index = (start + end) // 2
    return Suggestion(float(lr_array[index]), index, "valley")


def minimum(lrs: ArrayLike, losses: ArrayLike) -> Suggestion:
    """``lr[argmin loss] / 10``, raised to the first swept learning rate if it falls below."""
    lr_array, loss_array = _usable_curve(lrs, losses, "minimum")
    at_min = int(np.argmin(loss_array))
    lr = max(float(lr_array[at_min]) / 10.0, float(lr_array[0]))
    index = int(np.searchsorted(lr_array, lr, side="right")) - 1
    return Suggestion(lr, max(index, 0), "minimum")


def centred_smooth(values: FloatArray, sigma: float) -> FloatArray:
    """Zero-lag Gaussian smoothing in index space (edges padded by reflection).

    Unlike the causal EMA that stops the sweep, it does not shift the curve to the right.
    """
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    padded = np.pad(values, radius, mode="reflect" if len(values) > radius else "edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")


def lagless_curve(lrs: ArrayLike, losses: ArrayLike, method: str) -> tuple[FloatArray, FloatArray]:
    """The raw curve cut at its first non-finite loss, clipped at its :func:`start_level` and
    smoothed by a centred Gaussian (σ = 3 % of the points, at least 1.5).

    Unlike the causal EMA that stops the sweep, the centred smoother does not push the curve
    to higher learning rates; clipping keeps the blow-up at the end of the sweep from leaking
    into the points before it.
    """
    lr_array, loss_array = finite_prefix(lrs, losses)
    if len(loss_array) < MIN_POINTS:
        raise SuggestionError(
            f"{method}: the curve has {len(loss_array)} finite points; at least {MIN_POINTS} "
            "are needed"
        )
    _, smooth = _clipped_smooth(loss_array)
    return _usable_curve(lr_array, smooth, method)


def _clipped_smooth(losses: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``losses`` clipped at their :func:`start_level`, and that smoothed by a centred
    Gaussian of σ = :func:`_smoothing_width`."""
    clipped = np.minimum(losses, start_level(losses))
    return clipped, centred_smooth(clipped, _smoothing_width(len(losses)))


def _smoothing_width(points: int) -> float:
    """The σ of :func:`lagless_curve`'s smoother: 3 % of the points, at least 1.5."""
    return max(1.5, 0.03 * points)


def fall_to_noise(lrs: ArrayLike, losses: ArrayLike) -> float:
    """How many noise units the :func:`lagless_curve` fell: ``(start − min) / σ_c``, where
    ``σ_c`` (:func:`_curve_noise`) is the spread of the raw (clipped) losses around the curve
    before its minimum, divided by the square root of the smoother's effective width."""
    lr_array, loss_array = finite_prefix(lrs, losses)
    if len(loss_array) < MIN_POINTS:
        return 0.0
    clipped, smooth = _clipped_smooth(loss_array)
    noise = _curve_noise(clipped, smooth)
    fall = start_level(smooth) - float(smooth.min())
    return fall / noise if noise > 0 else math.inf


def _curve_noise(losses: FloatArray, smooth: FloatArray) -> float:
    """``σ_c = std(losses − smooth)`` over the points before the minimum of ``smooth`` (at
    least :data:`MIN_POINTS`), over ``sqrt(2√π·σ)``, ``σ`` the smoother's width: the noise
    left in a point of the smoothed curve."""
    before = max(int(np.argmin(smooth)), MIN_POINTS)
    spread = float(np.std((losses - smooth)[:before]))
    return spread / math.sqrt(2 * math.sqrt(math.pi) * _smoothing_width(len(losses)))


def rise(lrs: ArrayLike, losses: ArrayLike) -> float | None:
    """The first learning rate past the minimum of ``c`` (the *raw* losses smoothed by
    :func:`centred_smooth`, not clipped) with ``c > s + max(RISE_FRACTION·|s|, RISE_Z·σ_c)``,
    ``s`` the :func:`start_level` of ``c`` and ``σ_c`` its noise (:func:`_curve_noise`): where
    training starts to do harm, not where a noisy flat curve wanders above its start.
    ``None``: it never rose."""
    lr_array, loss_array = finite_prefix(lrs, losses)
    if len(loss_array) < MIN_POINTS:
        return None
    smooth = centred_smooth(loss_array, _smoothing_width(len(loss_array)))
    start = start_level(smooth)
    lowest = int(np.argmin(smooth))
    margin = max(RISE_FRACTION * abs(start), RISE_Z * _curve_noise(loss_array, smooth))
    above = np.flatnonzero(smooth[lowest:] > start + margin)
    return float(lr_array[lowest + above[0]]) if above.size else None


def centred(lrs: ArrayLike, losses: ArrayLike, divisor: float = 6.0) -> Suggestion:
    """``lr[argmin c] / divisor``, where ``c`` is the :func:`lagless_curve` of the *raw* losses."""
    lr_array, smooth = lagless_curve(lrs, losses, "centred")
    at_min = int(np.argmin(smooth))
    lr = max(float(lr_array[at_min]) / divisor, float(lr_array[0]))
    index = int(np.searchsorted(lr_array, lr, side="right")) - 1
    return Suggestion(lr, max(index, 0), "centred")


def centred_interval(
    lrs: ArrayLike, losses: ArrayLike, divisor: float = 6.0, tolerance: float = 0.1
) -> tuple[float, float]:
    """How sharply the curve pins down :func:`centred`'s answer: the learning rates, divided by
    ``divisor``, over which the :func:`lagless_curve` stays within ``tolerance`` of its fall
    (``c <= min c + tolerance·(c[0] - min c)``) around its minimum.

    A wide interval says the bottom of the curve is flat and any rate in it is about as good;
    a narrow one that the curve is sharp and the answer is precise.
    """
    lr_array, smooth = lagless_curve(lrs, losses, "centred")
    at_min = int(np.argmin(smooth))
    level = smooth[at_min] + tolerance * (smooth[0] - smooth[at_min])
    low = high = at_min
    while low > 0 and smooth[low - 1] <= level:
        low -= 1
    while high < len(smooth) - 1 and smooth[high + 1] <= level:
        high += 1
    first = float(lr_array[0])
    return max(float(lr_array[low]) / divisor, first), max(float(lr_array[high]) / divisor, first)


def slide(
    lrs: ArrayLike, losses: ArrayLike, window: int = 15, threshold: float = 0.005
) -> Suggestion:
    """Slide a window of ``window`` points leftwards from the end of the curve until the slopes
    at its two ends (of ``loss / loss[0]`` per step) differ by at most ``threshold``; the left
    end of that window is the suggestion (the start of the curve if no window qualifies).
    """
    lr_array, loss_array = _usable_curve(lrs, losses, "slide")
    slopes = np.gradient(loss_array / loss_array[0])
    right = len(loss_array) - 1
    width = min(window, right)
    while right - width > 0 and abs(slopes[right] - slopes[right - width]) > threshold:
        right -= 1
    index = right - width
    return Suggestion(float(lr_array[index]), index, "slide")


RULES: dict[str, Callable[[ArrayLike, ArrayLike], Suggestion]] = {
    "steepest": steepest,
    "valley": valley,
    "minimum": minimum,
    "slide": slide,
    "centred": centred,
}


#: Rules that read the raw losses; the others read the EMA-smoothed curve.
READS_RAW = frozenset({"centred"})

#: A rule of your own: ``rule(lrs, losses) -> learning rate`` (or a :class:`Suggestion`).
Rule = Callable[[FloatArray, FloatArray], "float | Suggestion"]


def resolve(method: str) -> str:
    """The rule ``method`` names (``"default"`` → :data:`DEFAULT_RULE`), or a clear error."""
    name = DEFAULT_RULE if method == "default" else method
    if name not in RULES:
        allowed = ", ".join(["default", *RULES])
        raise ValueError(f"method: unknown rule {method!r}; choose one of {allowed}")
    return name


def suggest(lrs: ArrayLike, losses: ArrayLike, method: str | Rule = "default") -> Suggestion:
    """Apply rule ``method`` (one of :data:`RULES`, ``"default"``, or a :data:`Rule` of your
    own) to the curve.

    Give the raw losses for the rules in :data:`READS_RAW` and your own, the smoothed ones for
    the others.
    """
    if callable(method):
        return apply_rule(method, lrs, losses)
    name = resolve(method)
    suggestion = RULES[name](lrs, losses)
    if method == "default":
        return Suggestion(suggestion.lr, suggestion.index, f"default ({name})")
    return suggestion


def apply_rule(rule: Rule, lrs: ArrayLike, losses: ArrayLike) -> Suggestion:
    """The suggestion of a rule of your own on the curve up to its first non-finite loss;
    ``TypeError``/``ValueError`` naming ``rule`` when it returns anything but a finite
    learning rate > 0 or a :class:`Suggestion`."""
    lr_array, loss_array = finite_prefix(lrs, losses)
    name = getattr(rule, "__name__", type(rule).__name__)
    found = rule(lr_array, loss_array)
    if isinstance(found, Suggestion):
        return found
    if isinstance(found, bool) or not isinstance(found, (int, float, np.floating, np.integer)):
        raise TypeError(
            f"rule: {name} returned {type(found).__name__}; a rule returns a learning rate "
            "(a float) or a lrkit.suggest.Suggestion"
        )
    lr = float(found)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"rule: {name} returned {lr!r}; a learning rate must be finite and > 0")
    if not len(lr_array):
        raise SuggestionError(f"{name}: the curve has no finite point to mark {lr:.3g} on")
    index = int(np.argmin(np.abs(np.log(lr_array) - math.log(lr))))
    return Suggestion(lr, index, name)


def clr_bounds(lrs: ArrayLike, losses: ArrayLike) -> tuple[float, float]:
    """Smith's cyclical bounds: where the loss starts to fall and where it stops falling.

    Read off the :func:`lagless_curve` of the *raw* losses ``c``, up to its minimum: with
    ``drop = c[0] - min(c)``, ``base_lr`` is the first learning rate at which ``c`` is below
    ``c[0] - 0.1·drop`` and ``max_lr`` the first at which it is below ``c[0] - 0.9·drop``.
    """
    lr_array, smooth = lagless_curve(lrs, losses, "clr_bounds")
    descent = smooth[: int(np.argmin(smooth)) + 1]
    drop = descent[0] - descent[-1]
    base = int(np.argmax(descent <= descent[0] - 0.1 * drop))
    peak = int(np.argmax(descent <= descent[0] - 0.9 * drop))
    if peak <= base:
        raise SuggestionError(
            "clr_bounds: the loss falls in a single step; sweep more steps for a usable range"
        )
    return float(lr_array[base]), float(lr_array[peak])
