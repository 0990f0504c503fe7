"""Smith's cyclical learning rates (CLR): triangular, triangular2 and exp_range.

All three follow ``torch.optim.lr_scheduler.CyclicLR``. A cycle rises from ``low`` to ``high``
in ``step_size_up`` steps and falls back in ``step_size_down`` steps (default: the same).
With ``c = floor(1 + t / (up + down))``, ``x = 1 + t / (up + down) − c`` and
``s = x / r`` while ``x <= r = up / (up + down)``, else ``(x − 1) / (r − 1)``, the value is
``low + (high − low) · s · scale``, where ``scale`` is what tells the policies apart.
``momentum(low, high)`` gives the mirrored curve (high when the learning rate is low), as
``CyclicLR(cycle_momentum=True)`` does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, freeze


@dataclass(frozen=True, repr=False)
class _Cyclical(Schedule):
    low: float
    high: float
    step_size_up: int
    step_size_down: int | None = None
    inverted: bool = False

    def __post_init__(self) -> None:
        low = check.positive("low", self.low)
        high = check.positive("high", self.high)
        if high < low:
            raise ValueError(f"high: must be >= low ({low!r}), got {self.high!r}")
        up = check.integer("step_size_up", self.step_size_up, 1)
        down = self.step_size_down
        freeze(
            self,
            low=low,
            high=high,
            step_size_up=up,
            step_size_down=None if down is None else check.integer("step_size_down", down, 1),
            inverted=check.flag("inverted", self.inverted),
        )

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return 1.0

    def _eval(self, t: Any, xp: Any) -> Any:
        up = float(self.step_size_up)
        total = up + (up if self.step_size_down is None else self.step_size_down)
        ratio = up / total
        cycle = xp.floor(1.0 + t / total)
        x = 1.0 + t / total - cycle
        rise = xp.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        height = (self.high - self.low) * rise * self._scale(t, cycle, xp)
        return self.high - height if self.inverted else self.low + height

    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def momentum(self, low: float = 0.8, high: float = 0.9) -> Schedule:
        """The mirrored curve between ``low`` and ``high``: ``high`` where this one is at
        its lowest (``CyclicLR``'s ``base_momentum=low``, ``max_momentum=high``)."""
        return dataclasses.replace(self, low=low, high=high, inverted=not self.inverted)


@dataclass(frozen=True, repr=False)
class Triangular(_Cyclical):
    """Triangular CLR: the same triangle every cycle (``scale = 1``)."""

    name: ClassVar[str] = "triangular"
    formula: ClassVar[str] = "low + (high − low) · s(t)"


@dataclass(frozen=True, repr=False)
class Triangular2(_Cyclical):
    """Triangular CLR whose height halves every cycle (``scale = 1 / 2^(c − 1)``)."""

    name: ClassVar[str] = "triangular2"
    formula: ClassVar[str] = "low + (high − low) · s(t) / 2^(c−1)"

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return 0.5 ** (cycle - 1.0)


@dataclass(frozen=True, repr=False)
class ExpRange(_Cyclical):
    """CLR whose height shrinks by ``gamma`` every step (``scale = gamma^t``); Smith used
    ``gamma = 0.99994``."""

    gamma: float = 0.99994

    name: ClassVar[str] = "exp_range"
    formula: ClassVar[str] = "low + (high − low) · s(t) · γ^t"

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze(self, gamma=check.half_open_unit("gamma", self.gamma))

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return self.gamma**t


triangular = Triangular
triangular2 = Triangular2
exp_range = ExpRange
