"""When a range test sweeps again, and over what: a curve no rule can read (:func:`unreadable`)
is swept again, with ``reset()``, over

    [lr_stop / 10^(RETRY_DECADES / k), lr_stop],   steps = RETRY_FACTOR · num_steps

for retry ``k`` (1, 2, ...), up to :data:`MAX_SWEEPS` sweeps and ``max_steps`` steps in all
(:func:`default_max_steps`: every retry allowed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrkit import suggest as rules

if TYPE_CHECKING:
    from lrkit.rangetest.result import RangeTestResult

#: Sweeps in all (the first and its retries) when the curve cannot be read.
MAX_SWEEPS = 3
#: A retry sweeps this many times the first sweep's steps ...
RETRY_FACTOR = 2
#: ... over this many decades below the rate where the sweep before it stopped.
RETRY_DECADES = 4
#: A retry shorter than this (when ``max_steps`` leaves no more) is not run.
MIN_RETRY_STEPS = 20
#: A curve whose fall is less than this many times its noise is swept again.
READABLE_Z = 10.0


def default_max_steps(num_steps: int) -> int:
    """``num_steps · (1 + (MAX_SWEEPS - 1) · RETRY_FACTOR)``: the first sweep and every retry."""
    return num_steps * (1 + (MAX_SWEEPS - 1) * RETRY_FACTOR)


def retry_range(stop_lr: float, retry: int) -> tuple[float, float]:
    """``[stop_lr / 10^(RETRY_DECADES / retry), stop_lr]``, the range of retry ``retry``."""
    return stop_lr / 10 ** (RETRY_DECADES / retry), stop_lr


def unreadable(result: RangeTestResult) -> str | None:
    """Why the default rule cannot read ``result``'s curve, or ``None`` when it can."""
    try:
        result._rule("default")
    except rules.SuggestionError as exc:
        return str(exc)
    z = rules.fall_to_noise(result.lrs, result.losses)
    if z < READABLE_Z:
        return f"its fall is only {z:.1f}× its noise (at least {READABLE_Z:g}× is read)"
    return None


def readable(result: RangeTestResult) -> bool:
    """Whether the last curve's fall is at least :data:`READABLE_Z` times its noise."""
    return rules.fall_to_noise(result.lrs, result.losses) >= READABLE_Z
