"""Schedules that hold a value and then jump: constant, step decay, multi-step, piecewise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, accepts_renamed, freeze, renames


@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    """The same value at every step: ``lr``."""

    lr: float

    name: ClassVar[str] = "constant"
    formula: ClassVar[str] = "lr"

    def __post_init__(self) -> None:
        freeze(self, lr=check.positive("lr", self.lr))

    def _eval(self, t: Any, xp: Any) -> Any:
        return self.lr + 0.0 * t

    def bounds(self) -> tuple[float, float]:
        return (self.lr, self.lr)


@renames
@dataclass(frozen=True, repr=False)
class StepDecay(Schedule):
    """Multiply by ``gamma`` every ``decay_steps`` steps: ``lr · gamma^floor(t / decay_steps)``.

    This is the convention of ``torch.optim.lr_scheduler.StepLR`` (``step_size``; the first
    drop happens at ``t = decay_steps``). ``one_based=True`` counts from one,
    ``lr · gamma^floor((t + 1) / decay_steps)``, as the Keras ``LearningRateScheduler``
    step-decay recipe does, so each drop comes one step earlier. Goes on forever; tends to 0.
    """

    lr: float
    decay_steps: int
    gamma: float = 0.1
    one_based: bool = False

    name: ClassVar[str] = "step_decay"
    formula: ClassVar[str] = "lr · γ^⌊t / s⌋"
    renamed: ClassVar[dict[str, str]] = {"step_size": "decay_steps"}

    def __post_init__(self) -> None:
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            decay_steps=check.integer("decay_steps", self.decay_steps, 1),
            gamma=check.open_unit("gamma", self.gamma),
            one_based=check.flag("one_based", self.one_based),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        shift = 1.0 if self.one_based else 0.0
        return self.lr * self.gamma ** xp.floor((t + shift) / self.decay_steps)

    def bounds(self) -> tuple[float, float]:
        return (0.0, self.lr)


@dataclass(frozen=True, repr=False)
class MultiStep(Schedule):
    """Multiply by ``gamma`` at each milestone: ``lr · gamma^(number of milestones <= t)``.

    Same as ``torch.optim.lr_scheduler.MultiStepLR``: the new value applies from the milestone
    step itself.
    """

    lr: float
    milestones: tuple[int, ...]
    gamma: float = 0.1

    name: ClassVar[str] = "multistep"
    formula: ClassVar[str] = "lr · γ^#{m ≤ t}"

    def __post_init__(self) -> None:
        milestones = [
            check.integer("milestones", m, 1) for m in check.sequence("milestones", self.milestones)
        ]
        if not milestones:
            raise ValueError("milestones: must hold at least one step, got []")
        check.increasing("milestones", milestones)
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            milestones=tuple(milestones),
            gamma=check.open_unit("gamma", self.gamma),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        passed: Any = 0.0
        for milestone in self.milestones:
            passed = passed + xp.where(t >= milestone, 1.0, 0.0)
        return self.lr * self.gamma**passed

    def bounds(self) -> tuple[float, float]:
        return (self.lr * self.gamma ** len(self.milestones), self.lr)


@dataclass(frozen=True, repr=False)
class PiecewiseConstant(Schedule):
    """``values[0]`` up to and including step ``boundaries[0]``, then ``values[1]`` up to
    ``boundaries[1]``, and so on: ``values[i]`` for ``boundaries[i-1] < t <= boundaries[i]``.

    Same as Keras's ``PiecewiseConstantDecay`` and optax's ``piecewise_constant_schedule``:
    a value changes on the step *after* its boundary.
    """

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    name: ClassVar[str] = "piecewise_constant"
    formula: ClassVar[str] = "vᵢ for bᵢ₋₁ < t ≤ bᵢ"

    def __post_init__(self) -> None:
        boundaries = [
            check.integer("boundaries", b, 0) for b in check.sequence("boundaries", self.boundaries)
        ]
        values = [check.positive("values", v) for v in check.sequence("values", self.values)]
        check.increasing("boundaries", boundaries)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values: must hold one more entry than boundaries ({len(boundaries) + 1}), "
                f"got {len(values)}"
            )
        freeze(self, boundaries=tuple(boundaries), values=tuple(values))

    def _eval(self, t: Any, xp: Any) -> Any:
        out: Any = self.values[0] + 0.0 * t
        for boundary, value in zip(self.boundaries, self.values[1:], strict=True):
            out = xp.where(t > boundary, value, out)
        return out

    def bounds(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))


def constant(lr: float) -> Constant:
    """:class:`Constant`: ``lr`` at every step."""
    return Constant(lr)


@accepts_renamed(StepDecay)
def step_decay(
    lr: float, decay_steps: int, gamma: float = 0.1, one_based: bool = False
) -> StepDecay:
    """:class:`StepDecay`: ``lr · gamma^floor(t / decay_steps)`` (torch's ``StepLR``)."""
    return StepDecay(lr, decay_steps, gamma, one_based)


def multistep(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> MultiStep:
    """:class:`MultiStep`: ``lr · gamma^(number of milestones <= t)`` (torch's ``MultiStepLR``)."""
    return MultiStep(lr, milestones, gamma)  # type: ignore[arg-type]  # checked, made a tuple


def piecewise_constant(boundaries: Sequence[int], values: Sequence[float]) -> PiecewiseConstant:
    """:class:`PiecewiseConstant`: ``values[i]`` for ``boundaries[i-1] < t <= boundaries[i]``."""
    return PiecewiseConstant(boundaries, values)  # type: ignore[arg-type]  # checked, made tuples
