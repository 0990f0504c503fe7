"""What an objective is, and how a worker on another machine finds the same one.

An objective is any callable ``objective(trial) -> score`` (higher is better unless the
search says ``direction="minimize"``). ``trial.params`` holds the point of the search space to
try; ``trial.suggest_float/int/categorical`` ask the Optuna trial for more parameters
(define-by-run); ``trial.report(score, step)`` after each epoch lets a pruner stop a poor
trial early (it then raises :class:`Pruned`, which the objective lets through). An attribute
``objective.metric = "val_accuracy"`` names the score (default ``"score"``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from optuna import TrialPruned as Pruned
from optuna.distributions import CategoricalChoiceType

#: Why a trial may have no Optuna trial behind it.
NO_OPTUNA_TRIAL = (
    "this trial has no Optuna trial behind it: on the Ray backend Ray Tune's OptunaSearch asks "
    "Optuna for the whole point before the trial starts on a Ray worker, so an objective cannot "
    "ask for more there"
)


class SearchTrial:
    """One point under evaluation: its ``number``, its ``params`` (the search space's point),
    a ``report`` hook, and the Optuna trial behind it (``optuna_trial``) with its
    ``suggest_*`` methods."""

    def __init__(
        self,
        number: int,
        params: dict[str, Any],
        report: Callable[[float, int], None],
        optuna_trial: Any = None,
    ) -> None:
        self.number = number
        self.params = dict(params)
        self._report = report
        self._optuna_trial = optuna_trial

    @property
    def optuna_trial(self) -> Any:
        """The :class:`optuna.Trial` being evaluated (all of Optuna's trial API)."""
        return self._trial(None)

    def report(self, score: float, step: int) -> None:
        """Record ``score`` after ``step`` (an epoch); raises :class:`Pruned` to stop early."""
        self._report(float(score), int(step))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float for ``name`` in ``[low, high]`` (``optuna.Trial.suggest_float``)."""
        return float(self._trial(name).suggest_float(name, low, high, step=step, log=log))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """An integer for ``name`` in ``[low, high]`` (``optuna.Trial.suggest_int``)."""
        return int(self._trial(name).suggest_int(name, low, high, step=step, log=log))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """One of ``choices`` for ``name`` (``optuna.Trial.suggest_categorical``)."""
        return self._trial(name).suggest_categorical(name, choices)

    def _trial(self, name: str | None) -> Any:
        """The Optuna trial, for parameter ``name`` (``None``: for the trial itself)."""
        if self._optuna_trial is None:
            if name is None:
                raise RuntimeError(f"optuna_trial: {NO_OPTUNA_TRIAL}")
            raise RuntimeError(
                f"suggest: {NO_OPTUNA_TRIAL}; put {name!r} in the search space instead "
                f"(e.g. space={{'lr': (1e-4, 1e-1), {name!r}: 'float:LOW:HIGH'}})"
            )
        return self._optuna_trial

    def __repr__(self) -> str:
        return f"SearchTrial(number={self.number}, params={self.params})"


Objective = Callable[[SearchTrial], float]

__all__ = ["Objective", "Pruned", "SearchTrial", "describe", "load", "resolve"]


def describe(objective: Objective) -> dict[str, Any] | None:
    """How to rebuild ``objective`` elsewhere, as JSON; ``None`` when it cannot be imported.

    A built-in task objective describes itself; a function defined at module level is named
    ``"module:function"``.
    """
    own = getattr(objective, "describe", None)
    if callable(own):
        return dict(own())
    module = getattr(objective, "__module__", None)
    name = getattr(objective, "__qualname__", None)
    if not module or not name or module == "__main__" or "<" in name:
        return None
    try:
        found = _import(f"{module}:{name}")
    except ValueError:
        return None
    return {"kind": "callable", "ref": f"{module}:{name}"} if found is objective else None


def load(description: dict[str, Any] | None) -> Objective:
    """The objective that :func:`describe` described."""
    if description is None:
        raise ValueError(
            "objective: this study was started with an objective that cannot be imported "
            "(a lambda, a closure or a function in __main__); start it with a module-level "
            "function ('package.module:function') or a built-in task so workers can join"
        )
    kind = description.get("kind")
    if kind == "task":
        from lrkit.search.task_objective import TaskObjective

        fields = {k: v for k, v in description.items() if k != "kind"}
        return TaskObjective(**fields)
    if kind == "callable":
        return _import(str(description["ref"]))
    raise ValueError(f"objective: unknown description {description!r}")


def resolve(spec: str | Objective, **task_options: Any) -> Objective:
    """An objective from a built-in task name, ``"module:function"``, or a callable."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"objective: must be a callable or a task name, got {spec!r}")
    if ":" in spec:
        return _import(spec)
    from lrkit.search.task_objective import TaskObjective

    return TaskObjective(task=spec, **task_options)


def _import(ref: str) -> Objective:
    module_name, _, attr = ref.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` finds modules in the current folder
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"objective: cannot import module {module_name!r} ({exc})") from None
    for part in attr.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise ValueError(f"objective: {module_name!r} has no callable {attr!r}")
    return target
