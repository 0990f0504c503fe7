"""The benchmark suite: small real tasks of many kinds, and its fixed design/test split.

Every task is a factory ``seed -> lrkit.tasks.Task`` (fresh model, seeded loaders, the task's
budget in ``default_epochs``) with the optimizers it is benchmarked with. The split is fixed
by a rule, never by results:

- the five built-in tasks of :mod:`lrkit.tasks` are **design** tasks: lrkit's default rule,
  probe, hold tolerance and ``fit`` policy were chosen on them;
- every other task is ordered by the SHA-256 of its name; the tasks at even positions of that
  order are **test** tasks, the others design tasks.

Test tasks are never looked at while choosing anything in lrkit; their numbers are the
headline. ``python benchmarks/suite/check.py`` prints every task's size and budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from lrkit.tasks import Task

#: Optimizers a suite task can name; ``adamw`` decays weights by :data:`WEIGHT_DECAY`.
OPTIMIZERS = ("adam", "adamw", "momentum", "rmsprop")
WEIGHT_DECAY = 0.05


@dataclass(frozen=True)
class SuiteTask:
    """A benchmark task: how to build it, what kind it is, which optimizers train it."""

    name: str
    kind: str
    factory: Callable[[int], Task]
    optimizers: tuple[str, ...]

    def build(self, seed: int) -> Task:
        return self.factory(seed)


def _builtin(name: str, kind: str) -> SuiteTask:
    from lrkit import tasks

    return SuiteTask(name, kind, lambda seed: tasks.get(name, seed=seed), ("adam", "momentum"))


BUILTIN = (
    _builtin("digits-cnn", "plain CNN"),
    _builtin("series-cnn-lstm", "CNN-LSTM, UCR"),
    _builtin("tabular-mlp", "tabular MLP"),
    _builtin("friedman-regression", "regression MLP"),
    _builtin("motif-gru", "GRU, generated sequences"),
)


def all_tasks() -> list[SuiteTask]:
    """Every task of the suite: the built-in ones, then the suite's own, by module."""
    from suite import images, series, text_tabular

    found = [*BUILTIN, *images.TASKS, *series.TASKS, *text_tabular.TASKS]
    names = [t.name for t in found]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"suite: task names used twice: {duplicated}")
    return found


def split(task_list: list[SuiteTask]) -> dict[str, str]:
    """Task name -> ``"design"`` or ``"test"``, by the rule in the module docstring."""
    builtin = {t.name for t in BUILTIN}
    out = {name: "design" for name in builtin}
    others = sorted(
        (t.name for t in task_list if t.name not in builtin),
        key=lambda name: hashlib.sha256(name.encode()).hexdigest(),
    )
    for position, name in enumerate(others):
        out[name] = "test" if position % 2 == 0 else "design"
    return out


def get(name: str) -> SuiteTask:
    for task in all_tasks():
        if task.name == name:
            return task
    raise ValueError(f"suite: unknown task {name!r}")


def make_optimizer(task: Task, name: str, lr: float = 1e-3) -> object:
    """Optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``task``'s model at ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    extra = {"weight_decay": WEIGHT_DECAY} if name == "adamw" else {}
    return task.make_optimizer(name, lr=lr, **extra)
