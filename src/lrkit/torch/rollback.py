"""``Rollback``: a :class:`~lrkit.guard.DivergenceGuard` acting on a torch model.

It keeps a CPU copy of the model and optimizer at the guard's best points (at most once every
``every`` steps, so a long run makes a bounded number of copies) and, when the guard calls for
a rollback, loads that copy back and divides the scheduler's learning rates by the guard's
``divisor`` from then on. The steps already taken stay spent: the run keeps its length.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lrkit.guard import DivergenceGuard
from lrkit.torch import distributed
from lrkit.torch.scheduler import Scheduler
from lrkit.torch.state import load_state, state_copy


class Rollback:
    """``update(step, loss)`` after each optimizer step of any training loop; the schedule's
    new factor when it rolled back, else ``None``. Under ``torch.distributed`` the loss is
    averaged over the ranks first, so every rank rolls back at the same step."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Scheduler,
        guard: DivergenceGuard,
        every: int = 1,
    ) -> None:
        self.model, self.optimizer, self.scheduler, self.guard = model, optimizer, scheduler, guard
        self.every = every
        self._saved: dict[str, Any] | None = None
        self._saved_step = -every

    def update(self, step: int, loss: float) -> float | None:
        signal = self.guard.update(distributed.global_mean(float(loss))[0])
        if signal == "best" and step - self._saved_step >= self.every:
            self._saved = state_copy(self.model, self.optimizer)
            self._saved_step = step
        if signal != "rollback" or self._saved is None:
            return None
        load_state(self.model, self.optimizer, self._saved)
        self.scheduler.scale(1 / self.guard.divisor)
        return self.guard.factor
