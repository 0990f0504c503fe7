"""Divergence relative to a run's own start and fall: the one test ``fit``'s guard and the
doctor share.

With ``s_0`` the first smoothed loss, ``s*`` the best so far and ``s_t`` the current one, a
run has diverged when it has climbed clearly above where it started, or when its fall is real
and it has given back ``give_back`` of it:

    s_t > s_0 + max(min_fall · |s_0|, start_noise)
    or  s_0 − s* ≥ max(min_fall · |s_0|, noise)  and  s_t > s* + max(give_back · (s_0 − s*), noise),

where ``noise`` and ``start_noise`` are margins for the noise of ``s*`` and of ``s_0`` (0 for
``fit``'s guard, which waits a tenth of the run before judging; the doctor, which judges from
its 20th step, passes multiples of the standard deviations of the smoothed loss at its best and
of a single loss, as ``s_0`` is the first loss alone; the multiple grows with the run, as the
best of many noisy values lies further below their level: :func:`best_spread`). The doctor
calls a divergence critical when the run has lost what it learned: the first clause
(:func:`climbed`), or the second, after a fall beyond the noise of the start level, with the
recent losses back near the start (:func:`given_back`).

The test is relative to the run's own fall, so the noise of a loss already near zero (0.009
rising to 0.036 after a fall from 0.87) is not divergence, while a loss climbing half-way back
to where it started is, whatever its scale; so is a loss that never fell and climbs above its
start (a rate too high from the first step).
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np


@overload
def climbed(current: float, start: float, min_fall: float, start_noise: float = 0.0) -> bool: ...
@overload
def climbed(
    current: np.ndarray, start: Any, min_fall: float, start_noise: Any = 0.0
) -> np.ndarray: ...
def climbed(current: Any, start: Any, min_fall: float, start_noise: Any = 0.0) -> Any:
    """Whether ``current > start + max(min_fall · |start|, start_noise)``: above where the
    run started, by more than its noise; elementwise on arrays."""
    result = current > start + np.maximum(min_fall * np.abs(start), start_noise)
    return bool(result) if np.ndim(result) == 0 else result


def given_back(level: Any, start: Any, best: Any, share: float) -> Any:
    """Whether ``start > best`` and ``level >= best + share · (start − best)``: ``share`` of
    the fall given back; elementwise on arrays."""
    result = (start > best) & (level >= best + share * (start - best))
    return bool(result) if np.ndim(result) == 0 else result


@overload
def diverged(
    current: float,
    start: float,
    best: float,
    give_back: float,
    min_fall: float,
    noise: float = 0.0,
    start_noise: float = 0.0,
) -> bool: ...
@overload
def diverged(
    current: np.ndarray,
    start: Any,
    best: Any,
    give_back: float,
    min_fall: float,
    noise: Any = 0.0,
    start_noise: Any = 0.0,
) -> np.ndarray: ...
def diverged(
    current: Any,
    start: Any,
    best: Any,
    give_back: float,
    min_fall: float,
    noise: Any = 0.0,
    start_noise: Any = 0.0,
) -> Any:
    """Whether ``current > start + max(min_fall · |start|, start_noise)``, or
    ``start − best ≥ max(min_fall · |start|, noise)`` and
    ``current > best + max(give_back · (start − best), noise)``; elementwise on arrays."""
    least = min_fall * np.abs(start)
    fall = start - best
    rose = climbed(current, start, min_fall, start_noise)
    gave = (fall >= np.maximum(least, noise)) & (
        current > best + np.maximum(give_back * fall, noise)
    )
    result = rose | gave
    return bool(result) if np.ndim(result) == 0 else result


def best_spread(count: int, beta: float) -> float:
    """How many standard deviations the best of ``count`` smoothed losses sits below their
    level under noise alone: sqrt(2 ln n), n = max(1, count (1 - β) / (1 + β)) the number of
    effectively independent values (an EMA with factor β spans (1 + β) / (1 - β) steps)."""
    independent = max(1.0, count * (1.0 - beta) / (1.0 + beta))
    return math.sqrt(2.0 * math.log(independent))
