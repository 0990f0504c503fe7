"""Schedules built from schedules: warm-up, a sequence joined at boundaries, scaling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, accepts_renamed, freeze, renames


def _schedule(name: str, value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise TypeError(f"{name}: must be an lrkit schedule, got {value!r}")
    return value


@renames
@dataclass(frozen=True, repr=False)
class Warmup(Schedule):
    """A straight line from ``start`` to ``schedule(0)`` over ``warmup_steps`` (``W``), then
    ``schedule`` shifted by ``W``: ``start + (schedule(0) − start) · t / W`` for ``t < W``,
    else ``schedule(t − W)``. Keras's ``CosineDecay(warmup_steps=…)`` is
    ``warmup(cosine(...), warmup_steps, start=initial_learning_rate)``."""

    schedule: Schedule
    warmup_steps: int
    start: float = 0.0

    name: ClassVar[str] = "warmup"
    formula: ClassVar[str] = "a + (s(0) − a) · t/W for t < W, else s(t − W)"
    renamed: ClassVar[dict[str, str]] = {"steps": "warmup_steps"}

    def __post_init__(self) -> None:
        schedule = _schedule("schedule", self.schedule)
        freeze(
            self,
            warmup_steps=check.integer("warmup_steps", self.warmup_steps, 1),
            start=check.non_negative("start", self.start),
            _target=schedule(0),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        target: float = self._target  # type: ignore[attr-defined]
        ramp = self.start + (target - self.start) * t / self.warmup_steps
        after = self.schedule._eval(xp.maximum(t - self.warmup_steps, 0.0), xp)
        return xp.where(t < self.warmup_steps, ramp, after)

    def bounds(self) -> tuple[float, float]:
        low, high = self.schedule.bounds()
        return (min(low, self.start), max(high, self.start))

    @property
    def duration(self) -> int | None:
        inner = self.schedule.duration
        return None if inner is None else self.warmup_steps + inner


@dataclass(frozen=True, repr=False)
class ScheduleSequence(Schedule):
    """``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]`` restarted from its
    step 0, and so on: ``schedules[i](t − boundaries[i−1])`` for
    ``boundaries[i−1] <= t < boundaries[i]``. Like optax's ``join_schedules`` and
    ``torch.optim.lr_scheduler.SequentialLR``."""

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    name: ClassVar[str] = "sequence"
    formula: ClassVar[str] = "sᵢ(t − bᵢ₋₁) for bᵢ₋₁ ≤ t < bᵢ"

    def __post_init__(self) -> None:
        schedules = [_schedule("schedules", s) for s in check.sequence("schedules", self.schedules)]
        if not schedules:
            raise ValueError("schedules: must hold at least one schedule, got []")
        boundaries = [
            check.integer("boundaries", b, 1) for b in check.sequence("boundaries", self.boundaries)
        ]
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                f"boundaries: must hold one fewer entry than schedules ({len(schedules) - 1}), "
                f"got {len(boundaries)}"
            )
        check.increasing("boundaries", boundaries)
        freeze(self, schedules=tuple(schedules), boundaries=tuple(boundaries))

    def _eval(self, t: Any, xp: Any) -> Any:
        out = self.schedules[0]._eval(t, xp)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            out = xp.where(t >= boundary, schedule._eval(xp.maximum(t - boundary, 0.0), xp), out)
        return out

    def bounds(self) -> tuple[float, float]:
        lows, highs = zip(*(s.bounds() for s in self.schedules), strict=True)
        return (min(lows), max(highs))

    @property
    def duration(self) -> int | None:
        last = self.schedules[-1].duration
        if last is None:
            return None
        return last + (self.boundaries[-1] if self.boundaries else 0)


@dataclass(frozen=True, repr=False)
class Scale(Schedule):
    """``factor · schedule(t)``."""

    schedule: Schedule
    factor: float

    name: ClassVar[str] = "scale"
    formula: ClassVar[str] = "c · s(t)"

    def __post_init__(self) -> None:
        _schedule("schedule", self.schedule)
        freeze(self, factor=check.positive("factor", self.factor))

    def _eval(self, t: Any, xp: Any) -> Any:
        return self.factor * self.schedule._eval(t, xp)

    def bounds(self) -> tuple[float, float]:
        low, high = self.schedule.bounds()
        return (self.factor * low, self.factor * high)

    @property
    def duration(self) -> int | None:
        return self.schedule.duration


@accepts_renamed(Warmup)
def warmup(schedule: Schedule, warmup_steps: int, start: float = 0.0) -> Warmup:
    """:class:`Warmup`: ``start → schedule(0)`` in a straight line over ``warmup_steps``, then
    ``schedule`` shifted by ``warmup_steps``."""
    return Warmup(schedule, warmup_steps, start)


def sequence(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> ScheduleSequence:
    """:class:`ScheduleSequence`: ``schedules[i](t − boundaries[i−1])`` from ``boundaries[i−1]``
    on (optax's ``join_schedules``)."""
    return ScheduleSequence(schedules, boundaries)  # type: ignore[arg-type]  # checked, made tuples


def scale(schedule: Schedule, factor: float) -> Scale:
    """:class:`Scale`: ``factor · schedule(t)``."""
    return Scale(schedule, factor)
