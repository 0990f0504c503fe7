"""Smith's cyclical learning rates (CLR): triangular, triangular2 and exp_range.

All three follow ``torch.optim.lr_scheduler.CyclicLR`` (``base_lr=floor``, ``max_lr=lr``,
``step_size_up=up_steps``, ``step_size_down=down_steps``). A cycle rises from ``floor`` to
``lr`` in ``up_steps`` steps and falls back in ``down_steps`` steps (default: the same).
With ``c = floor(1 + t / (up + down))``, ``x = 1 + t / (up + down) − c`` and
``s = x / r`` while ``x <= r = up / (up + down)``, else ``(x − 1) / (r − 1)``, the value is
``floor + (lr − floor) · s · scale``, where ``scale`` is what tells the policies apart.
``momentum(low, high)`` gives the mirrored curve (high when the learning rate is low), as
``CyclicLR(cycle_momentum=True)`` does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, accepts_renamed, freeze, renames


@dataclass(frozen=True, repr=False)
class _Cyclical(Schedule):
    floor: float
    lr: float
    up_steps: int
    down_steps: int | None = None
    inverted: bool = False

    renamed: ClassVar[dict[str, str]] = {
        "low": "floor",
        "high": "lr",
        "step_size_up": "up_steps",
        "step_size_down": "down_steps",
    }

    def __post_init__(self) -> None:
        floor = check.positive("floor", self.floor)
        lr = check.positive("lr", self.lr)
        if lr < floor:
            raise ValueError(f"lr: must be >= floor ({floor!r}), got {self.lr!r}")
        up = check.integer("up_steps", self.up_steps, 1)
        down = self.down_steps
        freeze(
            self,
            floor=floor,
            lr=lr,
            up_steps=up,
            down_steps=None if down is None else check.integer("down_steps", down, 1),
            inverted=check.flag("inverted", self.inverted),
        )

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return 1.0

    def _eval(self, t: Any, xp: Any) -> Any:
        up = float(self.up_steps)
        total = up + (up if self.down_steps is None else self.down_steps)
        ratio = up / total
        cycle = xp.floor(1.0 + t / total)
        x = 1.0 + t / total - cycle
        rise = xp.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        height = (self.lr - self.floor) * rise * self._scale(t, cycle, xp)
        return self.lr - height if self.inverted else self.floor + height

    def bounds(self) -> tuple[float, float]:
        return (self.floor, self.lr)

    def momentum(self, low: float = 0.8, high: float = 0.9) -> Schedule:
        """The mirrored curve between ``low`` and ``high``: ``high`` where this one is at
        its lowest (``CyclicLR``'s ``base_momentum=low``, ``max_momentum=high``)."""
        low = check.positive("low", low)
        high = check.positive("high", high)
        if high < low:
            raise ValueError(f"high: must be >= low ({low!r}), got {high!r}")
        return dataclasses.replace(self, floor=low, lr=high, inverted=not self.inverted)


@renames
@dataclass(frozen=True, repr=False)
class Triangular(_Cyclical):
    """Triangular CLR: the same triangle every cycle (``scale = 1``)."""

    name: ClassVar[str] = "triangular"
    formula: ClassVar[str] = "f + (lr − f) · s(t)"


@renames
@dataclass(frozen=True, repr=False)
class Triangular2(_Cyclical):
    """Triangular CLR whose height halves every cycle (``scale = 1 / 2^(c − 1)``)."""

    name: ClassVar[str] = "triangular2"
    formula: ClassVar[str] = "f + (lr − f) · s(t) / 2^(c−1)"

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return 0.5 ** (cycle - 1.0)


@renames
@dataclass(frozen=True, repr=False)
class ExpRange(_Cyclical):
    """CLR whose height shrinks by ``gamma`` every step (``scale = gamma^t``); Smith used
    ``gamma = 0.99994``."""

    gamma: float = 0.99994

    name: ClassVar[str] = "exp_range"
    formula: ClassVar[str] = "f + (lr − f) · s(t) · γ^t"

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze(self, gamma=check.half_open_unit("gamma", self.gamma))

    def _scale(self, t: Any, cycle: Any, xp: Any) -> Any:
        return self.gamma**t


@accepts_renamed(Triangular)
def triangular(
    floor: float, lr: float, up_steps: int, down_steps: int | None = None, inverted: bool = False
) -> Triangular:
    """:class:`Triangular`: ``floor + (lr − floor) · s(t)``, the same triangle every cycle."""
    return Triangular(floor, lr, up_steps, down_steps, inverted)


@accepts_renamed(Triangular2)
def triangular2(
    floor: float, lr: float, up_steps: int, down_steps: int | None = None, inverted: bool = False
) -> Triangular2:
    """:class:`Triangular2`: ``floor + (lr − floor) · s(t) / 2^(c − 1)``."""
    return Triangular2(floor, lr, up_steps, down_steps, inverted)


@accepts_renamed(ExpRange)
def exp_range(
    floor: float,
    lr: float,
    up_steps: int,
    down_steps: int | None = None,
    inverted: bool = False,
    gamma: float = 0.99994,
) -> ExpRange:
    """:class:`ExpRange`: ``floor + (lr − floor) · s(t) · gamma^t``."""
    return ExpRange(floor, lr, up_steps, down_steps, inverted, gamma)
