"""The objective for a built-in task: train a few epochs, report the score after each.

Every trial builds the task afresh with the same seed, so trials differ only in the
parameters the search chose. Schedules are lrkit schedules driven by ``lrkit.torch``'s
scheduler, stepped once per batch over the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from lrkit.search.objective import Pruned, SearchTrial

#: Schedules a task objective understands; each takes the optimizer and the total step count.
SCHEDULES = ("constant", "cosine", "step", "exponential", "linear", "onecycle")


@dataclass(frozen=True)
class TaskObjective:
    """Score of built-in task ``task`` after ``epochs`` epochs with the trial's parameters.

    Parameters missing from the trial take the defaults here: ``optimizer``, schedule
    ``"constant"``, the task's own batch size and the optimizer's own momentum.
    """

    task: str = "digits-cnn"
    epochs: int = 2
    seed: int = 0
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        from lrkit import tasks

        if self.task not in tasks.REGISTRY:
            raise ValueError(
                f"task: unknown task {self.task!r}; built-in tasks are "
                f"{', '.join(tasks.names())}, or give 'package.module:objective'"
            )
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: must be an integer >= 1, got {self.epochs!r}")
        if self.optimizer not in tasks.base.OPTIMIZERS:
            raise ValueError(
                f"optimizer: unknown optimizer {self.optimizer!r}; "
                f"choose one of {', '.join(tasks.base.OPTIMIZERS)}"
            )

    def describe(self) -> dict[str, Any]:
        """JSON that rebuilds this objective (see :func:`lrkit.search.objective.load`)."""
        return {"kind": "task", **asdict(self)}

    @property
    def metric(self) -> str:
        """The name of the score, e.g. ``"accuracy"``."""
        return "accuracy"

    def check(self, space: Any) -> None:
        """Refuse a space this objective cannot train with (unknown optimizer or schedule)."""
        from lrkit import tasks

        bad = [name for name in space.optimizer if name not in tasks.base.OPTIMIZERS]
        if bad:
            raise ValueError(
                f"optimizer: unknown {bad}; choose from {', '.join(tasks.base.OPTIMIZERS)}"
            )
        bad = [name for name in space.schedule if name not in SCHEDULES]
        if bad:
            raise ValueError(f"schedule: unknown {bad}; choose from {', '.join(SCHEDULES)}")

    def __call__(self, trial: SearchTrial) -> float:
        """Train, call ``trial.report(score, epoch)`` after every epoch, return the last score."""
        from lrkit import tasks

        params = trial.params
        task = tasks.get(self.task, seed=self.seed, batch_size=params.get("batch_size"))
        optimizer = task.make_optimizer(params.get("optimizer", self.optimizer), lr=params["lr"])
        momentum = float(params["momentum"]) if "momentum" in params else None
        total = self.epochs * len(task.train_loader)
        schedule = str(params.get("schedule", "constant"))
        step = make_schedule(schedule, optimizer, params["lr"], total, momentum)
        score = math.nan
        for epoch in range(1, self.epochs + 1):
            loss = tasks.train_epoch(
                task.model, optimizer, task.loss_fn, task.train_loader, on_step=step
            )
            score = task.evaluate()[task.metric_name]
            try:
                trial.report(score, epoch)
            except Pruned:
                if epoch < self.epochs:
                    raise  # after the last epoch the trial is complete: nothing left to save
            if not math.isfinite(loss):
                break
        return score


def make_schedule(
    name: str, optimizer: Any, lr: float, total_steps: int, momentum: float | None = None
) -> Callable[[float], None]:
    """A per-batch ``on_step`` driving ``optimizer`` by lrkit schedule ``name`` over
    ``total_steps``, holding ``momentum`` (SGD momentum, or Adam's β₁) when given.

    constant: lr; cosine: cosine annealing to 0; step: ×0.1 at 50 % and 75 %; exponential:
    ``lr · 0.01^(t/T)``; linear: straight down to 0; onecycle: Smith's one-cycle peaking at lr.
    """
    from lrkit import schedules
    from lrkit.torch import Scheduler

    makers: dict[str, Callable[[], Any]] = {
        "constant": lambda: schedules.constant(lr),
        "cosine": lambda: schedules.cosine(lr, total_steps),
        "step": lambda: schedules.multistep(
            lr, (total_steps // 2, (3 * total_steps) // 4), gamma=0.1
        ),
        "exponential": lambda: schedules.exponential(lr, gamma=0.01 ** (1 / total_steps)),
        "linear": lambda: schedules.linear(lr, 0.0, total_steps),
        "onecycle": lambda: schedules.one_cycle(lr, total_steps),
    }
    if name not in makers:
        raise ValueError(f"schedule: unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    held = None if momentum is None else schedules.constant(momentum)
    scheduler = Scheduler(optimizer, lr=makers[name](), momentum=held)

    def on_step(loss: float) -> None:
        if scheduler.last_epoch < total_steps:
            scheduler.step()

    return on_step
