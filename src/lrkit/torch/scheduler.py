"""``Scheduler``: lrkit schedules driving a ``torch.optim`` optimizer.

It is a real ``torch.optim.lr_scheduler.LRScheduler``, so Lightning, Accelerate and the
Hugging Face Trainer take it wherever they take a torch scheduler. All formulas live in
``lrkit.schedules``; this module only copies values into the optimizer's param groups.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, cast

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrkit import schedules
from lrkit.schedules.base import Schedule
from lrkit.schedules.plateau import ReduceOnPlateau
from lrkit.schedules.registry import from_dict

LRSource: TypeAlias = Schedule | ReduceOnPlateau


def _hint(value: Any) -> str:
    number = isinstance(value, (int, float))
    return " (for a fixed value use lrkit.schedules.constant(...))" if number else ""


def _lr_source(name: str, value: Any) -> LRSource:
    if isinstance(value, (Schedule, ReduceOnPlateau)):
        return value
    raise TypeError(
        f"{name}: must be an lrkit schedule or ReduceOnPlateau, got {value!r}{_hint(value)}"
    )


def _per_group(name: str, value: Any, groups: int) -> list[Any]:
    if isinstance(value, (Schedule, ReduceOnPlateau)):
        return [value] * groups
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != groups:
            raise ValueError(
                f"{name}: must hold one schedule per param group ({groups}), got {len(value)}"
            )
        return list(value)
    raise TypeError(f"{name}: must be a schedule or a list of them, got {value!r}{_hint(value)}")


def _put_lr(group: dict[str, Any], lr: float) -> Any:
    """Set ``group["lr"]`` (in place when it is a tensor); return the value to keep as the last
    learning rate."""
    current = group["lr"]
    if isinstance(current, Tensor):
        current.fill_(lr)
        return current.clone()
    group["lr"] = lr
    return lr


def _evaluator(source: LRSource) -> Callable[[float], float]:
    """``t -> value`` for one float step, by the shortest path."""
    if isinstance(source, Schedule):
        return source.value_at
    return source


def _revive(data: dict[str, Any]) -> LRSource:
    if data.get("name") == "reduce_on_plateau":
        return ReduceOnPlateau.from_dict(data)
    return from_dict(data)


class Scheduler(LRScheduler):
    """Set each param group's learning rate (and momentum) from lrkit schedules.

    ``lr`` is one schedule (or :class:`~lrkit.schedules.plateau.ReduceOnPlateau`) for every param
    group; ``per_group`` is a list with one per group instead. ``momentum`` (one schedule,
    or one per group) drives ``momentum``, or ``betas[0]`` for Adam-style optimizers.
    After ``n`` calls to :meth:`step` the learning rate is ``schedule(n)``.

    Unlike ``OneCycleLR``, stepping past a schedule's planned length does not raise: the
    value is held, and a ``UserWarning`` says so once. :meth:`state_dict` is plain data
    (loadable with ``torch.load(weights_only=True)``) that holds the schedules themselves,
    so :meth:`load_state_dict` resumes the exact sequence that was saved.
    """

    _warn_after: float  # the step after which a past-the-end warning is due

    def __init__(
        self,
        optimizer: Optimizer,
        lr: LRSource | None = None,
        momentum: Schedule | Sequence[Schedule] | None = None,
        per_group: Sequence[LRSource] | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: must be a torch.optim.Optimizer, got {optimizer!r}")
        groups = len(optimizer.param_groups)
        if (lr is None) == (per_group is None):
            raise ValueError("lr, per_group: give exactly one of them")
        if per_group is None:
            self.lr_schedules = [_lr_source("lr", s) for s in _per_group("lr", lr, groups)]
        else:
            sources = _per_group("per_group", per_group, groups)
            self.lr_schedules = [_lr_source("per_group", s) for s in sources]
        self.momentum_schedules: list[Schedule] | None = None
        self._use_beta1 = "betas" in optimizer.defaults
        if momentum is not None:
            if not self._use_beta1 and "momentum" not in optimizer.defaults:
                raise ValueError(
                    f"momentum: {type(optimizer).__name__} has neither momentum nor betas"
                )
            self.momentum_schedules = _per_group("momentum", momentum, groups)
            for schedule in self.momentum_schedules:
                if not isinstance(schedule, Schedule):
                    raise TypeError(f"momentum: must be an lrkit schedule, got {schedule!r}")
                low, high = schedule.bounds()
                if low < 0 or high >= 1:
                    raise ValueError(
                        f"momentum: values must lie in [0, 1), got a schedule spanning "
                        f"[{low}, {high}]"
                    )
        self.warned_past_end = False
        self._prepare()
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """Learning rate of each param group at the current step (``last_epoch``)."""
        return [float(schedule(self.last_epoch)) for schedule in self.lr_schedules]

    def step(self, metrics: float | None = None) -> None:
        """Advance one step and set every param group's learning rate (and momentum).

        ``metrics`` (e.g. a validation loss) first goes to every
        :class:`~lrkit.schedules.plateau.ReduceOnPlateau` among the learning-rate sources.
        """
        if metrics is not None:
            self._report(float(metrics))
        self._step_count += 1
        self.last_epoch += 1
        step = self.last_epoch
        t = float(step)
        lr_at, momentum_at, beta1 = self._lr_at, self._momentum_at, self._use_beta1
        last_lr: list[Any] = []
        for i, group in enumerate(self.optimizer.param_groups):
            last_lr.append(_put_lr(group, lr_at[i](t)))
            if momentum_at is not None:
                momentum = momentum_at[i](t)
                if beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        self._last_lr = last_lr
        if step > self._warn_after:
            warnings.warn(
                f"step {step} is past the {self._warn_after} steps a schedule was planned for; "
                "its final value is held from here on",
                UserWarning,
                stacklevel=2,
            )
            self.warned_past_end = True
            self._warn_after = math.inf

    @property
    def scalable(self) -> bool:
        """Whether :meth:`scale` works: every learning-rate source is a schedule (a
        ``ReduceOnPlateau`` is not)."""
        return all(isinstance(source, Schedule) for source in self.lr_schedules)

    def scale(self, factor: float) -> None:
        """Multiply every learning-rate schedule by ``factor`` from now on, and the learning
        rates in the param groups with them (for example to lower the rate after rolling back
        a divergence)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor: must be a positive finite number, got {factor!r}")
        if not self.scalable:
            raise TypeError("scale: a ReduceOnPlateau learning rate cannot be scaled")
        self.lr_schedules = [
            schedules.scale(cast(Schedule, source), factor) for source in self.lr_schedules
        ]
        self._prepare()
        t = float(self.last_epoch)
        self._last_lr = [
            _put_lr(group, lr_at(t))
            for group, lr_at in zip(self.optimizer.param_groups, self._lr_at, strict=True)
        ]

    def _report(self, metric: float) -> None:
        plateaus = {id(s): s for s in self.lr_schedules if isinstance(s, ReduceOnPlateau)}
        if not plateaus:
            raise ValueError(
                "metrics: only a ReduceOnPlateau learning rate uses metrics, and this "
                "Scheduler has none"
            )
        for plateau in plateaus.values():
            plateau.update(metric, self.last_epoch)

    def _prepare(self) -> None:
        """Cache what :meth:`step` needs from the schedules."""
        self._lr_at = [_evaluator(s) for s in self.lr_schedules]
        moms = self.momentum_schedules
        self._momentum_at = None if moms is None else [_evaluator(s) for s in moms]
        planned = self._shortest_duration()
        self._warn_after = math.inf if planned is None or self.warned_past_end else planned

    def _shortest_duration(self) -> int | None:
        """The shortest planned length of the learning-rate schedules (``None``: no end)."""
        durations = [
            (s.schedule if isinstance(s, ReduceOnPlateau) else s).duration
            for s in self.lr_schedules
        ]
        known = [d for d in durations if d is not None]
        return min(known) if known else None

    def state_dict(self) -> dict[str, Any]:
        """Step counters and schedules, as plain data."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": list(self._last_lr),
            "warned_past_end": self.warned_past_end,
            "lr": [s.to_dict() for s in self.lr_schedules],
            "momentum": None
            if self.momentum_schedules is None
            else [s.to_dict() for s in self.momentum_schedules],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`, schedules included."""
        lr = [_revive(d) for d in state_dict["lr"]]
        if len(lr) != len(self.optimizer.param_groups):
            raise ValueError(
                f"state_dict: holds {len(lr)} learning-rate schedules for "
                f"{len(self.optimizer.param_groups)} param groups"
            )
        self.lr_schedules = lr
        momentum = state_dict["momentum"]
        self.momentum_schedules = None if momentum is None else [from_dict(d) for d in momentum]
        self.last_epoch = state_dict["last_epoch"]
        self._step_count = state_dict["_step_count"]
        self._last_lr = list(state_dict["_last_lr"])
        self.warned_past_end = state_dict["warned_past_end"]
        self._prepare()


def drives_momentum(optimizer: Optimizer) -> bool:
    """Whether a momentum schedule has something to drive: SGD's ``momentum`` or Adam's
    ``betas``."""
    return optimizer.defaults.get("momentum", 0) > 0 or "betas" in optimizer.defaults
