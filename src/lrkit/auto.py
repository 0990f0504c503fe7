"""From a range test to a schedule: the policies ``lrkit.torch.fit`` and ``lrkit auto`` train with.

``policy_schedule(result, policy, total_steps, steps_per_epoch, lr=None)`` builds the schedule
around ``lr*`` — ``lr`` when given (``lrkit.torch.fit`` passes the probe's ``suggestion``,
see :mod:`lrkit.probe`), else ``result.suggestion`` — and the curve's cyclical bounds
``(base_lr, max_lr) = result.clr_bounds()``:

- ``wsd`` (the default): warm-up from 0 to ``lr*`` over the first 5 % of the steps, ``lr*``
  until the last 20 %, then linear decay to 0 — a rate the probe measured, held, with the
  warm-up and the final decay that a constant rate lacks;
- ``one_cycle``: one-cycle with peak ``2·lr*``, starting at peak/25 (torch ``OneCycleLR``
  defaults otherwise);
- ``triangular`` / ``triangular2`` / ``exp_range``: Smith's CLR between ``base_lr`` and
  ``max_lr`` with half-cycles of ``2·steps_per_epoch`` steps (Smith: 2–10 epochs);
- ``cosine``: cosine decay from ``lr*`` to 0 over the run;
- ``constant``: ``lr*`` throughout.

What the decision may cost is bounded by the run it is for. ``fit``'s range test and probe
together take at most :func:`overhead_budget` steps of a planned run of ``T`` steps:

    budget(T) = T / 2              for T ≥ 300     (LONG_RUN)
              = min(T, T_short)    for T < 300     (T_short = LONG_RUN / 2 = 150)

The first sweep takes ``min(100, budget / 2)`` steps, its retries (:func:`lrkit.range_test`)
at most what leaves each probe candidate a sixth of the budget, and each candidate probes
for ``min(T / 3, (budget − sweep steps) / 2)`` steps (:func:`sweep_budget`,
:func:`probe_budget`).
"""

from __future__ import annotations

import math

from lrkit import schedules
from lrkit.probe import PROBE_DIVISORS, probe_steps
from lrkit.rangetest import RangeTestResult
from lrkit.schedules import Schedule
from lrkit.sweep import check_count

POLICIES = ("wsd", "one_cycle", "triangular", "triangular2", "exp_range", "cosine", "constant")
#: ``wsd``: warm-up and decay lengths as fractions of the run.
WARMUP_FRACTION = 0.05
DECAY_FRACTION = 0.2
#: One-cycle peak as a multiple of the suggested constant learning rate.
ONE_CYCLE_PEAK = 2.0
#: The policies built around ``lr*`` (the others read only the cyclical bounds).
RATE_POLICIES = ("wsd", "one_cycle", "cosine", "constant")
#: Runs of at least this many steps spend at most half of their length deciding the rate.
LONG_RUN = 300
#: The first sweep of ``fit``'s range test takes at most this many steps.
SWEEP_STEPS = 100


def overhead_budget(total_steps: int) -> int:
    """Steps ``fit`` may spend on its range test and probe for a run of ``total_steps``."""
    check_count("total_steps", total_steps)
    if total_steps >= LONG_RUN:
        return total_steps // 2
    return min(total_steps, LONG_RUN // 2)


def sweep_budget(total_steps: int) -> tuple[int, int]:
    """``(num_steps, max_steps)`` of ``fit``'s range test: the first sweep's steps and the
    most its sweeps may take together."""
    budget = overhead_budget(total_steps)
    num_steps = max(2, min(SWEEP_STEPS, budget // 2))
    floor = len(PROBE_DIVISORS) * max(1, budget // 6)
    return num_steps, max(num_steps, budget - floor)


def probe_budget(total_steps: int, range_steps: int) -> int:
    """Steps per probe candidate once the range test took ``range_steps``: a third of the run,
    or what the budget leaves, split between the candidates (at least 1)."""
    left = overhead_budget(total_steps) - range_steps
    return max(1, min(probe_steps(total_steps), left // len(PROBE_DIVISORS)))


def policy_schedule(
    result: RangeTestResult,
    policy: str,
    total_steps: int,
    steps_per_epoch: int,
    *,
    lr: float | None = None,
) -> Schedule:
    """The learning-rate schedule of ``policy`` for a run of ``total_steps`` steps."""
    if policy not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if total_steps < 2 or steps_per_epoch < 1:
        raise ValueError(
            f"total_steps, steps_per_epoch: need >= 2 and >= 1, got {total_steps}, "
            f"{steps_per_epoch}"
        )
    if lr is None:
        lr = result.suggestion
    elif not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: must be a positive finite learning rate, got {lr!r}")
    if policy == "wsd":
        return schedules.wsd(
            lr=lr,
            total_steps=total_steps,
            decay_steps=max(1, int(DECAY_FRACTION * total_steps)),
            warmup_steps=int(WARMUP_FRACTION * total_steps),
        )
    if policy == "constant":
        return schedules.constant(lr=lr)
    if policy == "cosine":
        return schedules.cosine(lr=lr, total_steps=total_steps)
    if policy == "one_cycle":
        return schedules.one_cycle(max_lr=ONE_CYCLE_PEAK * lr, total_steps=total_steps)
    base_lr, max_lr = result.clr_bounds()
    half_cycle = 2 * steps_per_epoch
    if policy == "triangular":
        return schedules.triangular(low=base_lr, high=max_lr, step_size_up=half_cycle)
    if policy == "triangular2":
        return schedules.triangular2(low=base_lr, high=max_lr, step_size_up=half_cycle)
    return schedules.exp_range(low=base_lr, high=max_lr, step_size_up=half_cycle)
