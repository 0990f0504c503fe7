"""Schedules made of phases: interpolation between knots, one-cycle, warm-up–stable–decay."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, Literal

from lrkit import _checks as check
from lrkit.schedules.base import SCALAR, Schedule, accepts_renamed, freeze, renames

Anneal = Literal["linear", "cos"]


def _anneal(kind: str, start: float, end: float, pct: Any, xp: Any) -> Any:
    """From ``start`` (pct = 0) to ``end`` (pct = 1), each end exact."""
    if kind == "cos":
        c = xp.cos(math.pi * pct)
        return start * (1.0 + c) / 2.0 + end * (1.0 - c) / 2.0
    return start * (1.0 - pct) + end * pct


@dataclass(frozen=True, repr=False)
class Interpolate(Schedule):
    """Goes through ``values[i]`` at step ``knots[i]``, annealing in between (straight lines,
    or half cosines with ``anneal="cos"``), and holds the end values outside the knots."""

    knots: tuple[float, ...]
    values: tuple[float, ...]
    anneal: Anneal = "linear"

    name: ClassVar[str] = "interpolate"
    formula: ClassVar[str] = "vᵢ → vᵢ₊₁ over [kᵢ, kᵢ₊₁] (linear or cos)"

    def __post_init__(self) -> None:
        knots = [check.non_negative("knots", k) for k in check.sequence("knots", self.knots)]
        values = [check.non_negative("values", v) for v in check.sequence("values", self.values)]
        if len(knots) < 2:
            raise ValueError(f"knots: must hold at least two steps, got {knots!r}")
        check.increasing("knots", knots)
        if len(values) != len(knots):
            raise ValueError(
                f"values: must hold one value per knot ({len(knots)}), got {len(values)}"
            )
        if max(values) == 0:
            raise ValueError(f"values: at least one must be > 0, got {values!r}")
        freeze(
            self,
            knots=tuple(knots),
            values=tuple(values),
            anneal=check.choice("anneal", self.anneal, ("linear", "cos")),
        )

    def _segment(self, i: int, t: Any, xp: Any) -> Any:
        pct = (t - self.knots[i]) / (self.knots[i + 1] - self.knots[i])
        return _anneal(self.anneal, self.values[i], self.values[i + 1], pct, xp)

    def value_at(self, t: float) -> float:
        knots = self.knots
        if t <= knots[0]:
            return self.values[0]
        if t >= knots[-1]:
            return self.values[-1]
        return self._segment(bisect_left(knots, t) - 1, t, SCALAR)  # the segment t is in

    def _eval(self, t: Any, xp: Any) -> Any:
        if xp is SCALAR:  # one step: compute only the segment it falls in
            return self.value_at(t)
        knots = self.knots
        t = xp.minimum(xp.maximum(t, knots[0]), knots[-1])
        out = self._segment(len(self.knots) - 2, t, xp)
        for i in reversed(range(len(self.knots) - 2)):
            out = xp.where(t <= self.knots[i + 1], self._segment(i, t, xp), out)
        return out

    def bounds(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))

    @property
    def duration(self) -> int:
        return math.ceil(self.knots[-1])


@renames
@dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    """The one-cycle policy of ``torch.optim.lr_scheduler.OneCycleLR`` (``max_lr=lr``).

    Starts at ``lr / div_factor``, anneals up to ``lr`` by step ``pct_start·T − 1``,
    then down to ``lr / (div_factor · final_div_factor)`` at step ``T − 1``
    (``three_phase=True``: back to the start value by ``2·pct_start·T − 2`` first, then down to
    the minimum). ``anneal`` is ``"cos"`` or ``"linear"``. Past the end it holds the minimum
    where torch raises "Tried to step X times". ``momentum(low, high)`` is the mirrored curve.
    """

    lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal: Anneal = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    name: ClassVar[str] = "one_cycle"
    formula: ClassVar[str] = "lr/d → lr by step p·T−1, → lr/(d·f) by T−1 (cos or linear)"
    renamed: ClassVar[dict[str, str]] = {"max_lr": "lr"}

    def __post_init__(self) -> None:
        freeze(
            self,
            lr=check.positive("lr", self.lr),
            total_steps=check.integer("total_steps", self.total_steps, 2),
            pct_start=check.open_unit("pct_start", self.pct_start),
            anneal=check.choice("anneal", self.anneal, ("linear", "cos")),
            div_factor=self._at_least_one("div_factor", self.div_factor),
            final_div_factor=self._at_least_one("final_div_factor", self.final_div_factor),
            three_phase=check.flag("three_phase", self.three_phase),
        )
        knots = self._knots()
        if any(b <= a for a, b in pairwise(knots)):
            raise ValueError(
                f"pct_start: {self.pct_start!r} of total_steps={self.total_steps} leaves a phase "
                f"without steps (phase ends at {knots[1:]!r})"
            )
        initial = self.lr / self.div_factor
        lows = [initial, initial / self.final_div_factor]
        values = [initial, self.lr, *lows] if self.three_phase else [initial, self.lr, lows[1]]
        freeze(self, _curve=Interpolate(tuple(knots), tuple(values), self.anneal))

    @staticmethod
    def _at_least_one(name: str, value: Any) -> float:
        out = check.real(name, value)
        if out < 1:
            raise ValueError(f"{name}: must be >= 1, got {value!r}")
        return out

    def _knots(self) -> list[float]:
        warm = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            return [0.0, warm, float(2 * self.pct_start * self.total_steps) - 2, last]
        return [0.0, warm, last]

    def _eval(self, t: Any, xp: Any) -> Any:
        return self._curve._eval(t, xp)  # type: ignore[attr-defined]

    def value_at(self, t: float) -> float:
        return self._curve.value_at(t)  # type: ignore[attr-defined]

    def bounds(self) -> tuple[float, float]:
        return self._curve.bounds()  # type: ignore[attr-defined]

    @property
    def duration(self) -> int:
        return self.total_steps

    def momentum(self, low: float = 0.85, high: float = 0.95) -> Schedule:
        """Momentum (or Adam's beta1) mirrored to the learning rate: ``high`` → ``low`` while
        it rises, back to ``high`` while it falls (``OneCycleLR``'s ``base_momentum=low``,
        ``max_momentum=high``)."""
        low = check.positive("low", low)
        high = check.positive("high", high)
        if high < low:
            raise ValueError(f"high: must be >= low ({low!r}), got {high!r}")
        values = (high, low, high, high) if self.three_phase else (high, low, high)
        return Interpolate(tuple(self._knots()), values, self.anneal)


@renames
@dataclass(frozen=True, repr=False)
class WSD(Schedule):
    """Warm-up–stable–decay: ``start → lr`` linearly over ``warmup_steps``, ``lr`` until the
    last ``cooldown_steps`` of ``total_steps``, then down to ``floor`` with shape ``decay``
    (``"linear"``: ``1 − p``, ``"cos"``: ``(1 + cos πp)/2``, ``"sqrt"``: ``1 − √p``), and
    ``floor`` afterwards."""

    lr: float
    total_steps: int
    cooldown_steps: int
    warmup_steps: int = 0
    start: float = 0.0
    floor: float = 0.0
    decay: Literal["linear", "cos", "sqrt"] = "linear"

    name: ClassVar[str] = "wsd"
    renamed: ClassVar[dict[str, str]] = {"decay_steps": "cooldown_steps"}
    formula: ClassVar[str] = "a → lr over W steps, lr, then f + (lr − f)·shape(p) over the last D"

    def __post_init__(self) -> None:
        lr = check.positive("lr", self.lr)
        total = check.integer("total_steps", self.total_steps, 1)
        cooldown_steps = check.integer("cooldown_steps", self.cooldown_steps, 1)
        warmup_steps = check.integer("warmup_steps", self.warmup_steps, 0)
        if warmup_steps + cooldown_steps > total:
            raise ValueError(
                f"cooldown_steps: warmup_steps + cooldown_steps must be <= total_steps ({total}), "
                f"got {warmup_steps} + {cooldown_steps}"
            )
        start = check.non_negative("start", self.start)
        if start > lr:
            raise ValueError(f"start: must be <= lr ({lr!r}), got {self.start!r}")
        floor = check.non_negative_below("floor", self.floor, "lr", lr)
        freeze(
            self,
            lr=lr,
            total_steps=total,
            cooldown_steps=cooldown_steps,
            warmup_steps=warmup_steps,
            start=start,
            floor=floor,
            decay=check.choice("decay", self.decay, ("linear", "cos", "sqrt")),
        )

    def _eval(self, t: Any, xp: Any) -> Any:
        ramp = self.start + (self.lr - self.start) * t / max(self.warmup_steps, 1)
        begin = self.total_steps - self.cooldown_steps
        p = xp.minimum(xp.maximum(t - begin, 0.0) / self.cooldown_steps, 1.0)
        if self.decay == "cos":
            shape = (1.0 + xp.cos(math.pi * p)) / 2.0
        elif self.decay == "sqrt":
            shape = 1.0 - xp.sqrt(p)
        else:
            shape = 1.0 - p
        return xp.where(t < self.warmup_steps, ramp, self.floor + (self.lr - self.floor) * shape)

    def bounds(self) -> tuple[float, float]:
        low = min(self.start, self.floor) if self.warmup_steps else self.floor
        return (low, self.lr)

    @property
    def duration(self) -> int:
        return self.total_steps


def interpolate(
    knots: Sequence[float], values: Sequence[float], anneal: Anneal = "linear"
) -> Interpolate:
    """:class:`Interpolate`: through ``values[i]`` at step ``knots[i]``, ``anneal`` in between."""
    return Interpolate(knots, values, anneal)  # type: ignore[arg-type]  # checked, made tuples


@accepts_renamed(OneCycle)
def one_cycle(
    lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: Anneal = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> OneCycle:
    """:class:`OneCycle`: ``lr / div_factor`` up to ``lr`` by step ``pct_start·T − 1``, then
    down to ``lr / (div_factor · final_div_factor)`` at ``T − 1`` (torch's ``OneCycleLR``)."""
    return OneCycle(lr, total_steps, pct_start, anneal, div_factor, final_div_factor, three_phase)


@accepts_renamed(WSD)
def wsd(
    lr: float,
    total_steps: int,
    cooldown_steps: int,
    warmup_steps: int = 0,
    start: float = 0.0,
    floor: float = 0.0,
    decay: Literal["linear", "cos", "sqrt"] = "linear",
) -> WSD:
    """:class:`WSD` (warm-up–stable–decay): ``start → lr`` over ``warmup_steps``, ``lr``, then
    down to ``floor`` over the last ``cooldown_steps`` of ``total_steps``."""
    return WSD(lr, total_steps, cooldown_steps, warmup_steps, start, floor, decay)
