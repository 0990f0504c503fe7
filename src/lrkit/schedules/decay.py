"""Smooth decays: exponential, inverse time, linear, polynomial, cosine and cosine restarts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, accepts_renamed, freeze, renames


def _progress(t: Any, decay_steps: int, staircase: bool, xp: Any) -> Any:
    p = t / decay_steps
    return xp.floor(p) if staircase else p


@dataclass(frozen=True, repr=False)
class Exponential(Schedule):
    """Exponential decay, given either a factor or a rate.

    With ``gamma``: ``lr · gamma^(t / decay_steps)`` (``gamma`` per step by default, like
    ``torch.optim.lr_scheduler.ExponentialLR``; Keras's ``ExponentialDecay`` with
    ``decay_rate=gamma``). With ``rate`` ``k``: ``lr · e^(−k · t / decay_steps)``.
    ``staircase=True`` floors ``t / decay_steps``. Goes on forever; tends to 0.
    """

    lr: float
    gamma: float | None = None
    rate: float | None = None
    decay_steps: int = 1
    staircase: bool = False

    name: ClassVar[str] = "exponential"
    formula: ClassVar[str] = "lr · γ^(t/s)  or  lr · e^(−k·t/s)"

    def __post_init__(self) -> None:
        if (self.gamma is None) == (self.rate is None):
            raise ValueError(
                f"gamma, rate: give exactly one of them, got gamma={self.gamma!r}, "
                f"rate={self.rate!r}"
            )
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            gamma=None if self.gamma is None else check.open_unit("gamma", self.gamma),
            rate=None if self.rate is None else check.positive("rate", self.rate),
            decay_steps=check.integer("decay_steps", self.decay_steps, 1),
            staircase=check.flag("staircase", self.staircase),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        p = _progress(t, self.decay_steps, self.staircase, xp)
        if self.rate is not None:
            return self.lr * xp.exp(-self.rate * p)
        return self.lr * cast(float, self.gamma) ** p

    def bounds(self) -> tuple[float, float]:
        return (0.0, self.lr)


@dataclass(frozen=True, repr=False)
class InverseTime(Schedule):
    """Time-based decay ``lr / (1 + rate · t / decay_steps)``.

    With ``decay_steps=1`` this is the classic ``lr0 / (1 + k·t)``; it matches Keras's
    ``InverseTimeDecay`` (``staircase=True`` floors ``t / decay_steps``). Tends to 0.
    """

    lr: float
    rate: float
    decay_steps: int = 1
    staircase: bool = False

    name: ClassVar[str] = "inverse_time"
    formula: ClassVar[str] = "lr / (1 + k·t/s)"

    def __post_init__(self) -> None:
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            rate=check.positive("rate", self.rate),
            decay_steps=check.integer("decay_steps", self.decay_steps, 1),
            staircase=check.flag("staircase", self.staircase),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        return self.lr / (1.0 + self.rate * _progress(t, self.decay_steps, self.staircase, xp))

    def bounds(self) -> tuple[float, float]:
        return (0.0, self.lr)


@dataclass(frozen=True, repr=False)
class Linear(Schedule):
    """From ``start`` to ``end`` in a straight line over ``total_steps``, then ``end``:
    ``start + (end − start) · min(t, T) / T``. Rises or falls; ``start=0`` gives a warm-up."""

    start: float
    end: float
    total_steps: int

    name: ClassVar[str] = "linear"
    formula: ClassVar[str] = "a + (b − a) · min(t, T)/T"

    def __post_init__(self) -> None:
        start = check.non_negative("start", self.start)
        end = check.non_negative("end", self.end)
        if start == end == 0:
            raise ValueError("start, end: at least one must be > 0, got 0 and 0")
        freeze(
            self,
            start=start,
            end=end,
            total_steps=check.integer("total_steps", self.total_steps, 1),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        x = xp.minimum(t, self.total_steps) / self.total_steps
        return self.start * (1.0 - x) + self.end * x  # exact at both ends

    def bounds(self) -> tuple[float, float]:
        return (min(self.start, self.end), max(self.start, self.end))

    @property
    def duration(self) -> int:
        return self.total_steps


@renames
@dataclass(frozen=True, repr=False)
class Polynomial(Schedule):
    """``(lr − floor) · (1 − min(t, T)/T)^power + floor``: Keras's ``PolynomialDecay``
    (``end_learning_rate=floor``); with ``floor=0`` it is
    ``torch.optim.lr_scheduler.PolynomialLR``. Holds ``floor`` after ``T``."""

    lr: float
    total_steps: int
    floor: float = 0.0
    power: float = 1.0

    name: ClassVar[str] = "polynomial"
    formula: ClassVar[str] = "(lr − f) · (1 − min(t, T)/T)^p + f"
    renamed: ClassVar[dict[str, str]] = {"end": "floor"}

    def __post_init__(self) -> None:
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            total_steps=check.integer("total_steps", self.total_steps, 1),
            floor=check.non_negative("floor", self.floor),
            power=check.positive("power", self.power),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        remaining = 1.0 - xp.minimum(t, self.total_steps) / self.total_steps
        return (self.lr - self.floor) * remaining**self.power + self.floor

    def bounds(self) -> tuple[float, float]:
        return (min(self.lr, self.floor), max(self.lr, self.floor))

    @property
    def duration(self) -> int:
        return self.total_steps


@dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    """Half a cosine from ``lr`` down to ``floor`` over ``total_steps``, then ``floor``:
    ``floor + (lr − floor) · (1 + cos(π · min(t, T)/T)) / 2``.

    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (``eta_min=floor``) for ``t <= T``; past
    ``T`` torch climbs back up, lrkit holds the floor. Keras's ``CosineDecay`` has
    ``floor = alpha · lr``.
    """

    lr: float
    total_steps: int
    floor: float = 0.0

    name: ClassVar[str] = "cosine"
    formula: ClassVar[str] = "f + (lr − f) · ½(1 + cos(π·min(t, T)/T))"

    def __post_init__(self) -> None:
        lr = check.positive("lr", self.lr)
        floor = check.non_negative_below("floor", self.floor, "lr", lr)
        freeze(
            self,
            lr=lr,
            total_steps=check.integer("total_steps", self.total_steps, 1),
            floor=floor,
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        cos = xp.cos(math.pi * xp.minimum(t, self.total_steps) / self.total_steps)
        return self.floor + (self.lr - self.floor) * (1.0 + cos) / 2.0

    def bounds(self) -> tuple[float, float]:
        return (self.floor, self.lr)

    @property
    def duration(self) -> int:
        return self.total_steps


@dataclass(frozen=True, repr=False)
class CosineRestarts(Schedule):
    """SGDR: cosine cycles that restart at the top, each ``cycle_mult`` times longer and with
    a peak ``decay`` times lower than the last.

    Cycle ``i`` starts at ``S_i = T₀ · (m^i − 1)/(m − 1)`` (``S_i = i·T₀`` when ``m = 1``),
    lasts ``T_i = T₀ · m^i``, and inside it
    ``floor + (lr − floor) · decay^i · (1 + cos(π (t − S_i)/T_i)) / 2``.
    Equals ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (``T_0``, integer
    ``T_mult``, ``eta_min``) and Keras's ``CosineDecayRestarts`` (``first_decay_steps``,
    ``t_mul``, ``m_mul``, ``alpha = floor / lr``). Goes on forever.
    """

    lr: float
    cycle_steps: int
    cycle_mult: float = 1.0
    decay: float = 1.0
    floor: float = 0.0

    name: ClassVar[str] = "cosine_restarts"
    formula: ClassVar[str] = "f + (lr − f) · dⁱ · ½(1 + cos(π (t − Sᵢ)/Tᵢ)), Tᵢ = T₀·mⁱ"

    def __post_init__(self) -> None:
        lr = check.positive("lr", self.lr)
        floor = check.non_negative_below("floor", self.floor, "lr", lr)
        mult = check.real("cycle_mult", self.cycle_mult)
        if mult < 1:
            raise ValueError(f"cycle_mult: must be >= 1, got {self.cycle_mult!r}")
        freeze(
            self,
            lr=lr,
            cycle_steps=check.integer("cycle_steps", self.cycle_steps, 1),
            cycle_mult=mult,
            decay=check.half_open_unit("decay", self.decay),
            floor=floor,
        )

    def _cycle_start(self, i: Any) -> Any:
        m = self.cycle_mult
        return self.cycle_steps * (m**i - 1.0) / (m - 1.0)

    def _eval(self, t: Any, xp: Any) -> Any:
        if self.cycle_mult == 1.0:
            i = xp.floor(t / self.cycle_steps)
            fraction = (t - i * self.cycle_steps) / self.cycle_steps
        else:
            m = self.cycle_mult
            i = xp.floor(xp.log(1.0 + t * (m - 1.0) / self.cycle_steps) / math.log(m))
            # the logarithm can land a hair off at a restart: settle on the cycle holding t
            i = i + xp.where(self._cycle_start(i + 1.0) <= t, 1.0, 0.0)
            i = i - xp.where(self._cycle_start(i) > t, 1.0, 0.0)
            fraction = (t - self._cycle_start(i)) / (self.cycle_steps * m**i)
        peak = (self.lr - self.floor) * self.decay**i
        return self.floor + peak * (1.0 + xp.cos(math.pi * fraction)) / 2.0

    def bounds(self) -> tuple[float, float]:
        return (self.floor, self.lr)


def exponential(
    lr: float,
    gamma: float | None = None,
    rate: float | None = None,
    decay_steps: int = 1,
    staircase: bool = False,
) -> Exponential:
    """:class:`Exponential`: ``lr · gamma^(t / decay_steps)``, or with ``rate``
    ``lr · e^(−rate · t / decay_steps)``."""
    return Exponential(lr, gamma, rate, decay_steps, staircase)


def inverse_time(
    lr: float, rate: float, decay_steps: int = 1, staircase: bool = False
) -> InverseTime:
    """:class:`InverseTime`: ``lr / (1 + rate · t / decay_steps)``."""
    return InverseTime(lr, rate, decay_steps, staircase)


def linear(start: float, end: float, total_steps: int) -> Linear:
    """:class:`Linear`: ``start + (end − start) · min(t, T) / T``."""
    return Linear(start, end, total_steps)


@accepts_renamed(Polynomial)
def polynomial(lr: float, total_steps: int, floor: float = 0.0, power: float = 1.0) -> Polynomial:
    """:class:`Polynomial`: ``(lr − floor) · (1 − min(t, T)/T)^power + floor``."""
    return Polynomial(lr, total_steps, floor, power)


def cosine(lr: float, total_steps: int, floor: float = 0.0) -> Cosine:
    """:class:`Cosine`: ``floor + (lr − floor) · (1 + cos(π · min(t, T)/T)) / 2``."""
    return Cosine(lr, total_steps, floor)


def cosine_restarts(
    lr: float,
    cycle_steps: int,
    cycle_mult: float = 1.0,
    decay: float = 1.0,
    floor: float = 0.0,
) -> CosineRestarts:
    """:class:`CosineRestarts` (SGDR): cosine cycles from ``lr`` to ``floor``, the first
    ``cycle_steps`` long, each next one ``cycle_mult`` times longer and ``decay`` times lower."""
    return CosineRestarts(lr, cycle_steps, cycle_mult, decay, floor)
