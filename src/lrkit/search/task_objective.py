"""The objective for a built-in task: train a few epochs, report the score after each.

Every trial builds the task afresh with the same seed, so trials differ only in the
parameters the search chose. The ``schedule`` is one of :mod:`lrkit.plan`'s rate policies
around the trial's ``lr`` (the names ``fit`` and ``lrkit auto`` take), driven by
``lrkit.torch``'s scheduler and stepped once per batch over the whole run.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from lrkit.plan import RATE_POLICIES, make_plan
from lrkit.search import params as P
from lrkit.search.objective import Pruned, SearchTrial

#: Schedules a task objective understands: :mod:`lrkit.plan`'s rate policies.
SCHEDULES = RATE_POLICIES
#: Earlier names of two of them, still read (with a ``DeprecationWarning``).
RENAMED = {"onecycle": "one_cycle", "step": "multistep"}
#: The parameters a task objective can train with.
TASK_PARAMS = ("lr", "optimizer", "schedule", "batch_size", "momentum", "weight_decay", "warmup")


@dataclass(frozen=True)
class TaskObjective:
    """Score of built-in task ``task`` after ``epochs`` epochs with the trial's parameters.

    Parameters missing from the trial take the defaults here: ``optimizer``, schedule
    ``"constant"``, the task's own batch size, the optimizer's own momentum and weight decay,
    no warm-up. ``weight_decay`` goes to the optimizer; ``warmup`` is the fraction of the run
    spent ramping the learning rate up from 0 before the schedule starts.
    """

    task: str = "digits-cnn"
    epochs: int = 2
    seed: int = 0
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        from lrkit import tasks
        from lrkit.torch import optimizers

        if self.task not in tasks.REGISTRY:
            raise ValueError(
                f"task: unknown task {self.task!r}; built-in tasks are "
                f"{', '.join(tasks.names())}, or give 'package.module:objective'"
            )
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs: must be an integer >= 1, got {self.epochs!r}")
        if self.optimizer not in optimizers.BUILTIN:
            raise ValueError(
                f"optimizer: unknown optimizer {self.optimizer!r}; "
                f"choose one of {', '.join(optimizers.BUILTIN)}"
            )

    def describe(self) -> dict[str, Any]:
        """JSON that rebuilds this objective (see :func:`lrkit.search.objective.load`)."""
        return {"kind": "task", **asdict(self)}

    @functools.cached_property
    def metric(self) -> str:
        """The name of the task's score, e.g. ``"accuracy"`` or ``"r2"``."""
        from lrkit import tasks

        return tasks.get(self.task, seed=self.seed).metric_name

    def check(self, space: Any) -> None:
        """Refuse, before any trial, a space this objective cannot train with: a parameter it
        does not use, an unknown optimizer or schedule, a negative weight decay, a warm-up
        outside [0, 1)."""
        from lrkit.torch import optimizers

        unknown = [name for name in space if name not in TASK_PARAMS]
        if unknown:
            raise ValueError(
                f"space: the built-in task {self.task!r} cannot use {unknown}; it trains with "
                f"{', '.join(TASK_PARAMS)} (search other parameters with your own objective, "
                "'package.module:function')"
            )
        for name, known in (
            ("optimizer", optimizers.BUILTIN),
            ("schedule", (*SCHEDULES, *RENAMED)),
        ):
            bad = [v for v in getattr(space.get(name), "choices", ()) if v not in known]
            if bad:
                raise ValueError(f"{name}: unknown {bad}; choose from {', '.join(known)}")
        for name, top in (("weight_decay", math.inf), ("warmup", 1.0)):
            if name not in space:
                continue
            dist = space[name]
            if not P.numeric(dist) or P.bounds(dist)[0] < 0 or P.bounds(dist)[1] >= top:
                allowed = "numbers >= 0" if top == math.inf else "fractions in [0, 1)"
                raise ValueError(f"{name}: must be {allowed}, got {P.describe(name, dist)}")

    def __call__(self, trial: SearchTrial) -> float:
        """Train, call ``trial.report(score, epoch)`` after every epoch, return the last score."""
        from lrkit import tasks

        params = trial.params
        task = tasks.get(self.task, seed=self.seed, batch_size=params.get("batch_size"))
        extra = {"weight_decay": float(params["weight_decay"])} if "weight_decay" in params else {}
        name = params.get("optimizer", self.optimizer)
        optimizer = task.make_optimizer(name, lr=params["lr"], **extra)
        momentum = float(params["momentum"]) if "momentum" in params else None
        total = self.epochs * len(task.train_loader)
        schedule = str(params.get("schedule", "constant"))
        warmup = float(params.get("warmup", 0.0))
        step = make_schedule(schedule, optimizer, params["lr"], total, momentum, warmup)
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
    name: str,
    optimizer: Any,
    lr: float,
    total_steps: int,
    momentum: float | None = None,
    warmup: float = 0.0,
) -> Callable[[float], None]:
    """A per-batch ``on_step`` driving ``optimizer`` by the plan of policy ``name`` around
    ``lr`` over ``total_steps`` (:func:`lrkit.plan.make_plan`, with ``warmup``): momentum (SGD
    momentum, or Adam's β₁) held at ``momentum`` when given, else mirrored by ``one_cycle``."""
    from lrkit.torch import Scheduler
    from lrkit.torch.scheduler import drives_momentum

    if name in RENAMED:
        warnings.warn(
            f"schedule {name!r} is now {RENAMED[name]!r}", DeprecationWarning, stacklevel=2
        )
        name = RENAMED[name]
    if name not in SCHEDULES:
        raise ValueError(f"schedule: unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    plan = make_plan(name, total_steps, 1, lr=lr, momentum=momentum, warmup=warmup)
    curve = plan.momentum if momentum is not None or drives_momentum(optimizer) else None
    scheduler = Scheduler(optimizer, lr=plan.schedule, momentum=curve)

    def on_step(loss: float) -> None:
        if scheduler.last_epoch < total_steps:
            scheduler.step()

    return on_step
