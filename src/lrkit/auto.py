"""From a range test to a schedule: the policies ``lrkit.torch.fit`` and ``lrkit auto`` train with.

``policy_schedule(result, policy, total_steps, steps_per_epoch)`` reads the learning rates off
the range-test curve (``lr* = result.suggestion``, ``(base_lr, max_lr) = result.clr_bounds()``):

- ``one_cycle``: one-cycle with peak ``2·lr*``, starting at peak/25 (torch ``OneCycleLR``
  defaults otherwise); with the default rule that is a third of the learning rate at the
  lowest point of the curve (2× beat 3× in ``benchmarks/suggestion_quality.py``);
- ``triangular`` / ``triangular2`` / ``exp_range``: Smith's CLR between ``base_lr`` and
  ``max_lr`` with half-cycles of ``2·steps_per_epoch`` steps (Smith: 2–10 epochs);
- ``cosine``: cosine decay from ``lr*`` to 0 over the run;
- ``constant``: ``lr*`` throughout.
"""

from __future__ import annotations

from lrkit import schedules
from lrkit.rangetest import RangeTestResult
from lrkit.schedules import Schedule

POLICIES = ("one_cycle", "triangular", "triangular2", "exp_range", "cosine", "constant")
#: One-cycle peak as a multiple of the suggested constant learning rate.
ONE_CYCLE_PEAK = 2.0


def policy_schedule(
    result: RangeTestResult, policy: str, total_steps: int, steps_per_epoch: int
) -> Schedule:
    """The learning-rate schedule of ``policy`` for a run of ``total_steps`` steps."""
    if policy not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if total_steps < 2 or steps_per_epoch < 1:
        raise ValueError(
            f"total_steps, steps_per_epoch: need >= 2 and >= 1, got {total_steps}, "
            f"{steps_per_epoch}"
        )
    lr = result.suggestion
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
