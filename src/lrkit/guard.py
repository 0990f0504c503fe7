"""The divergence guard: roll training back when the loss gives back half of its fall.

The guard smooths the training loss, ``s_t = β s_{t−1} + (1 − β) loss_t`` (bias-corrected,
:mod:`lrkit.smoothing`),
and remembers its first value ``s_0`` and its best ``s*``. A run whose rate is too high for
the whole run can learn at first and then climb back up the loss; the guard calls for a
rollback when

    s_t > s* + give_back · (s_0 − s*)      (or when a loss is non-finite),

that is, when the run has lost ``give_back`` of the progress it made. It judges only after
``warmup`` steps and once that progress is real, ``s_0 − s* ≥ min_fall · |s_0|``, so the noise
and the transient bumps of the first steps do not count. The trainer then puts
back the weights it saved at (or shortly after) the best smoothed loss and divides the rest of
the schedule by ``divisor``. The test (:func:`lrkit.divergence.diverged`, shared with the
doctor) is relative to the run's own fall, so it does not fire on the noise of a loss that is
already near zero. Its other half, a loss climbing above ``s_0`` without a fall, is left to the
doctor (``start_noise = ∞``): with no fall there are no better weights to go back to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from lrkit.divergence import diverged
from lrkit.smoothing import EMA

Signal = Literal["keep", "best", "rollback"]


@dataclass
class DivergenceGuard:
    """Feed it every training loss; it answers ``"best"`` (a new best smoothed loss: save the
    weights), ``"rollback"`` (restore them and lower the rate) or ``"keep"``."""

    smoothing: float = 0.95
    give_back: float = 0.5
    min_fall: float = 0.1
    warmup: int = 0
    divisor: float = 3.0
    max_rollbacks: int = 3
    rollbacks: int = field(default=0, init=False)
    _ema: EMA = field(init=False, repr=False)
    _start: float = field(default=math.nan, init=False, repr=False)
    _best: float = field(default=math.inf, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing: must be in [0, 1), got {self.smoothing!r}")
        if not 0 < self.give_back <= 1:
            raise ValueError(f"give_back: must be in (0, 1], got {self.give_back!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup: must be >= 0, got {self.warmup!r}")
        if not 0 <= self.min_fall < 1:
            raise ValueError(f"min_fall: must be in [0, 1), got {self.min_fall!r}")
        if not self.divisor > 1:
            raise ValueError(f"divisor: must be > 1, got {self.divisor!r}")
        if self.max_rollbacks < 0:
            raise ValueError(f"max_rollbacks: must be >= 0, got {self.max_rollbacks!r}")
        self._ema = EMA(self.smoothing)

    @property
    def factor(self) -> float:
        """What the schedule is multiplied by now: ``divisor ** −rollbacks``."""
        return float(self.divisor**-self.rollbacks)

    @property
    def smoothed(self) -> float:
        """The bias-corrected smoothed loss (NaN before the first loss)."""
        return self._ema.value

    def update(self, loss: float) -> Signal:
        """Take one training loss; say what to do."""
        if not math.isfinite(loss):
            return self._rollback()
        current = self._ema.update(loss)
        if self._ema.count == 1:
            self._start = current
        if current < self._best:
            self._best = current
            return "best"
        judged = self._ema.count > self.warmup
        # no rise above s_0 without a fall: the weights to go back to would be no better
        rollback = diverged(
            current, self._start, self._best, self.give_back, self.min_fall, 0.0, math.inf
        )
        if judged and rollback:
            return self._rollback()
        return "keep"

    def _rollback(self) -> Signal:
        if self.rollbacks >= self.max_rollbacks or not math.isfinite(self._best):
            return "keep"
        self.rollbacks += 1
        # the weights go back to the best point, and so does the smoothed loss
        self._ema.move_to(self._best)
        return "rollback"
