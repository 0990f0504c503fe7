"""The bias-corrected exponential moving average that the range test, the guard and the doctor
smooth their losses with:

    avg_n = β·avg_{n-1} + (1 - β)·x_n,     avg_0 = 0
    s_n   = avg_n / (1 - β^n)

over the finite values ``x_1 … x_n`` seen so far; a non-finite value leaves ``s`` where it was.
And the running median the doctor reads a fast level of the loss from: ``m_t`` = the median of
the finite values among ``x_{t-k+1} … x_t``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


class EMA:
    """The streaming average: :meth:`update` takes one value and returns ``s_n``
    (``NaN`` before the first finite value)."""

    def __init__(self, beta: float) -> None:
        if not (isinstance(beta, (int, float)) and 0 <= beta < 1):
            raise ValueError(f"beta: must be a number in [0, 1), got {beta!r}")
        self.beta = beta
        #: ``n``, the finite values averaged so far.
        self.count = 0
        self._avg = 0.0

    @property
    def value(self) -> float:
        """``s_n``, the bias-corrected average (``NaN`` before the first finite value)."""
        if not self.count:
            return math.nan
        return self._avg / (1 - self.beta**self.count)

    def update(self, x: float) -> float:
        """Fold in ``x`` (skipped when not finite); return ``s_n``."""
        if math.isfinite(x):
            self.count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * x
        return self.value

    def move_to(self, value: float) -> None:
        """Make ``s_n`` equal ``value`` (``avg_n = value·(1 - β^n)``), keeping ``n``."""
        self._avg = value * (1 - self.beta**self.count)


def ema(values: Any, beta: float) -> NDArray[np.float64]:
    """``s`` after each of ``values``: ``NaN`` at a non-finite value and before the first
    finite one, which the average skips."""
    array = np.asarray(values, dtype=float)
    out = np.full(array.shape, np.nan)
    average = EMA(beta)
    for i, x in enumerate(array.tolist()):
        if math.isfinite(x):
            out[i] = average.update(x)
    return out


_MEDIAN_CHUNK = 65536


def running_median(values: Any, size: int) -> NDArray[np.float64]:
    """``m_t``, the median of the finite values among the last ``size`` (fewer at the start);
    ``NaN`` where there is none. The median of an even count is the mean of the middle two."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: must be an integer >= 1, got {size!r}")
    array = np.asarray(values, dtype=float)
    padded = np.concatenate((np.full(size - 1, np.nan), array))
    padded[~np.isfinite(padded)] = np.nan
    out = np.empty(array.size)
    for low in range(0, array.size, _MEDIAN_CHUNK):
        high = min(low + _MEDIAN_CHUNK, array.size)
        chunk = np.lib.stride_tricks.sliding_window_view(padded[low : high + size - 1], size)
        windows = np.sort(chunk, axis=1)  # NaN sorts last
        count = np.isfinite(windows).sum(axis=1)
        rows = np.arange(high - low)
        lower = windows[rows, np.maximum(count - 1, 0) // 2]
        upper = windows[rows, count // 2]
        out[low:high] = np.where(count > 0, (lower + upper) / 2, np.nan)
    return out
