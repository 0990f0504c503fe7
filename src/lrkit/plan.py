"""From a range test (and a probe) to a training plan: what ``lrkit.torch.fit``, ``lrkit auto``
and ``lrkit search``'s built-in tasks train with.

A policy builds its schedule around one rate ``lr*`` — the ``lr`` given, else the probe's
``suggestion`` (see :mod:`lrkit.probe`), else the range test's — or, for Smith's cyclical
policies, around the curve's bounds ``(base_lr, max_lr) = range_test.clr_bounds()``. For a run
of ``T`` steps (the policies are named as the schedules they build are registered):

- ``wsd`` (``fit``'s default): warm-up from 0 to ``lr*`` over the first 5 % of the steps,
  ``lr*`` until the last 20 %, then linear decay to 0;
- ``one_cycle``: one-cycle with peak ``2·lr*``, starting at peak/25 (torch ``OneCycleLR``
  defaults otherwise), momentum (or Adam's β₁) mirrored;
- ``triangular`` / ``triangular2`` / ``exp_range``: Smith's CLR between ``base_lr`` and
  ``max_lr`` with half-cycles of ``2·steps_per_epoch`` steps (Smith: 2–10 epochs), momentum
  mirrored;
- ``cosine``: cosine decay from ``lr*`` to 0;
- ``multistep``: ``lr*``, ×0.1 at 50 % and again at 75 % of the run;
- ``exponential``: ``lr*·0.01^(t/T)``;
- ``linear``: straight from ``lr*`` down to 0;
- ``constant``: ``lr*`` throughout.

With ``warmup = w`` the first ``W = round(w·T)`` steps ramp linearly from 0 to the policy's
first rate, and the policy runs over the other ``T − W``.

What the decision may cost is bounded by the run it is for. The range test and the probe
together take at most :func:`overhead_budget` steps of a planned run of ``T`` steps:

    budget(T) = min(T, max(T / 2, DECISION_STEPS))     (DECISION_STEPS = 300)

— the whole run for ``T ≤ 300``, 300 steps up to ``T = 600``, half the run beyond: a short
run can afford a decision as long as itself, and a probe shorter than that cannot tell its
candidates apart.

The first sweep takes ``min(100, budget / 2)`` steps, its retries (:func:`lrkit.range_test`)
at most what leaves each probe candidate a sixth of the budget, and each candidate probes
for ``min(T / 3, (budget − sweep steps) / 2)`` steps (:func:`sweep_budget`,
:func:`probe_budget`).

The divergence guard (:class:`lrkit.guard.DivergenceGuard`) watches after the first
``T // 10`` steps (``guard_warmup``), and the copy it rolls back to is refreshed at most 50
times, every ``max(1, T // 50)`` steps (``save_every``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrkit import schedules
from lrkit.probe import PROBE_DIVISORS, ProbeResult, probe_steps
from lrkit.rangetest import RangeTestResult
from lrkit.schedules import Schedule
from lrkit.sweep import check_count

#: The policies built around one rate ``lr*``.
RATE_POLICIES = (
    "wsd",
    "one_cycle",
    "cosine",
    "constant",
    "multistep",
    "exponential",
    "linear",
)
#: The policies built on the range test's cyclical bounds.
CYCLICAL_POLICIES = ("triangular", "triangular2", "exp_range")
POLICIES = (*RATE_POLICIES, *CYCLICAL_POLICIES)
#: ``wsd``: warm-up and decay lengths as fractions of the run.
WARMUP_FRACTION = 0.05
DECAY_FRACTION = 0.2
#: One-cycle peak as a multiple of ``lr*``.
ONE_CYCLE_PEAK = 2.0
#: ``multistep``: the rate is multiplied by ``MULTISTEP_GAMMA`` at these fractions of the run.
MULTISTEP_AT = (0.5, 0.75)
MULTISTEP_GAMMA = 0.1
#: ``exponential``: the rate falls to this fraction of ``lr*`` by the end of the run.
EXPONENTIAL_END = 0.01
#: Deciding the rate may take this many steps (at most the run), or half the run if more.
DECISION_STEPS = 300
#: The first sweep of ``fit``'s range test takes at most this many steps.
SWEEP_STEPS = 100
#: The guard watches after the first ``1 / GUARD_WARMUP`` of the run ...
GUARD_WARMUP = 10
#: ... and its copy is refreshed at most this many times.
SAVES = 50


@dataclass(frozen=True)
class Plan:
    """How a run trains: its ``policy``, the rate ``lr`` it is built around, the ``schedule``
    over ``total_steps``, the ``momentum`` curve (mirrored for one-cycle and CLR, or a held
    value; ``None``: the optimizer's own), the divergence guard's ``guard_warmup`` and
    ``save_every``, and what decided it: the ``range_test``, the ``probe`` and the
    ``overhead_steps`` they took."""

    policy: str
    lr: float | None
    schedule: Schedule
    total_steps: int
    momentum: Schedule | None = None
    guard_warmup: int = 0
    save_every: int = 1
    range_test: RangeTestResult | None = None
    probe: ProbeResult | None = None
    overhead_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the schedules as ``to_dict()``, the results as theirs."""
        return {
            "policy": self.policy,
            "lr": self.lr,
            "schedule": self.schedule.to_dict(),
            "total_steps": self.total_steps,
            "momentum": self.momentum.to_dict() if self.momentum is not None else None,
            "guard_warmup": self.guard_warmup,
            "save_every": self.save_every,
            "range_test": self.range_test.to_dict() if self.range_test is not None else None,
            "probe": self.probe.to_dict() if self.probe is not None else None,
            "overhead_steps": self.overhead_steps,
        }


def make_plan(
    policy: str,
    total_steps: int,
    steps_per_epoch: int,
    *,
    range_test: RangeTestResult | None = None,
    probe: ProbeResult | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    warmup: float = 0.0,
    overhead_steps: int = 0,
) -> Plan:
    """The :class:`Plan` of ``policy`` for a run of ``total_steps`` (see the module docstring).

    ``lr*`` is ``lr`` when given, else ``probe.suggestion``, else ``range_test.suggestion``;
    ``momentum`` given holds that value throughout, else one-cycle and CLR mirror theirs.
    """
    if lr is None and probe is not None:
        lr = probe.suggestion
    if lr is None and range_test is not None:
        lr = range_test.suggestion
    schedule = policy_schedule(
        range_test, policy, total_steps, steps_per_epoch, lr=lr, warmup=warmup
    )
    if momentum is not None:
        curve: Schedule | None = schedules.constant(momentum)
    else:
        mirrored = getattr(schedule, "momentum", None)
        curve = mirrored() if callable(mirrored) else None
    return Plan(
        policy=policy,
        lr=lr,
        schedule=schedule,
        total_steps=total_steps,
        momentum=curve,
        guard_warmup=total_steps // GUARD_WARMUP,
        save_every=max(1, total_steps // SAVES),
        range_test=range_test,
        probe=probe,
        overhead_steps=overhead_steps,
    )


def overhead_budget(total_steps: int) -> int:
    """Steps ``fit`` may spend on its range test and probe for a run of ``total_steps``."""
    check_count("total_steps", total_steps)
    return min(total_steps, max(total_steps // 2, DECISION_STEPS))


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
    range_test: RangeTestResult | None,
    policy: str,
    total_steps: int,
    steps_per_epoch: int,
    *,
    lr: float | None = None,
    warmup: float = 0.0,
) -> Schedule:
    """The learning-rate schedule of ``policy`` for a run of ``total_steps`` steps, around
    ``lr`` (default: ``range_test.suggestion``) or ``range_test``'s cyclical bounds."""
    if policy not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if total_steps < 2 or steps_per_epoch < 1:
        raise ValueError(
            f"total_steps, steps_per_epoch: need >= 2 and >= 1, got {total_steps}, "
            f"{steps_per_epoch}"
        )
    if not (isinstance(warmup, (int, float)) and 0.0 <= warmup < 1.0):
        raise ValueError(f"warmup: must be a fraction in [0, 1), got {warmup!r}")
    ramp = min(round(warmup * total_steps), total_steps - 1)
    steps = total_steps - ramp
    if policy in CYCLICAL_POLICIES:
        if range_test is None:
            raise ValueError(f"range_test: policy {policy!r} reads its bounds off a range test")
        schedule = _cyclical(policy, *range_test.clr_bounds(), 2 * steps_per_epoch)
    else:
        if lr is None:
            if range_test is None:
                raise ValueError(f"lr: policy {policy!r} needs a rate, or a range test for one")
            lr = range_test.suggestion
        elif not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr: must be a positive finite learning rate, got {lr!r}")
        schedule = _around(policy, lr, steps)
    return schedules.warmup(schedule, warmup_steps=ramp) if ramp else schedule


def _around(policy: str, lr: float, steps: int) -> Schedule:
    """The schedule of rate policy ``policy`` around ``lr`` over ``steps``."""
    if policy == "wsd":
        return schedules.wsd(
            lr=lr,
            total_steps=steps,
            cooldown_steps=max(1, int(DECAY_FRACTION * steps)),
            warmup_steps=int(WARMUP_FRACTION * steps),
        )
    if policy == "one_cycle":
        return schedules.one_cycle(lr=ONE_CYCLE_PEAK * lr, total_steps=steps)
    if policy == "cosine":
        return schedules.cosine(lr=lr, total_steps=steps)
    if policy == "multistep":
        at = tuple(int(f * steps) for f in MULTISTEP_AT)
        return schedules.multistep(lr, at, gamma=MULTISTEP_GAMMA)
    if policy == "exponential":
        return schedules.exponential(lr, gamma=EXPONENTIAL_END ** (1 / steps))
    if policy == "linear":
        return schedules.linear(lr, 0.0, steps)
    return schedules.constant(lr=lr)


def _cyclical(policy: str, base_lr: float, max_lr: float, half_cycle: int) -> Schedule:
    """Smith's CLR policy ``policy`` between ``base_lr`` and ``max_lr``."""
    make = {
        "triangular": schedules.triangular,
        "triangular2": schedules.triangular2,
        "exp_range": schedules.exp_range,
    }[policy]
    return make(floor=base_lr, lr=max_lr, up_steps=half_cycle)
