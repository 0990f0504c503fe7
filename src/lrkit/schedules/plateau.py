"""Reduce the learning rate when a metric stops improving, on top of any schedule.

Unlike a schedule, this depends on the metrics seen so far, so it is a small controller with
explicit state (:meth:`ReduceOnPlateau.state_dict`) rather than a pure function of the step.
The learning rate at step ``t`` is ``min(base(t), max(base(t) · scale, floor))``: ``scale``
starts at 1 and is multiplied by ``factor`` at every reduction, and ``base`` is any schedule,
so a warm-up can come first (pass ``ignore_before`` to disregard metrics seen during it).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np

from lrkit import _checks as check
from lrkit.schedules.base import Schedule, renames
from lrkit.schedules.registry import from_dict
from lrkit.schedules.stepwise import Constant

_STATE_KEYS = ("best", "num_bad", "cooldown_counter", "scale", "num_reductions")


@renames
class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` when the metric has not improved for a while.

    ``rule="torch"`` (default) is ``torch.optim.lr_scheduler.ReduceLROnPlateau``: a metric
    improves when it beats the best by ``threshold`` (relative by default); after more than
    ``patience`` metrics without improvement the learning rate becomes
    ``max(lr · factor, floor)`` unless that changes it by ``eps`` or less; ``cooldown``
    metrics after a reduction are not counted. ``rule="keras"`` is Keras's
    ``ReduceLROnPlateau``: ``threshold`` is the absolute ``min_delta`` by default, a reduction
    comes once ``patience`` metrics in a row have not improved (``wait >= patience``), and
    only while the learning rate is above ``floor`` (both libraries' ``min_lr``).
    """

    name: ClassVar[str] = "reduce_on_plateau"
    #: Old parameter names still accepted, with a ``DeprecationWarning``: ``{old: new}``.
    renamed: ClassVar[dict[str, str]] = {"min_lr": "floor"}

    def __init__(
        self,
        lr: Schedule | float,
        *,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] | None = None,
        cooldown: int = 0,
        floor: float = 0.0,
        eps: float = 1e-8,
        rule: Literal["torch", "keras"] = "torch",
        ignore_before: int = 0,
    ) -> None:
        if isinstance(lr, Schedule):
            self.schedule: Schedule = lr
        else:
            self.schedule = Constant(lr)
        self.rule = check.choice("rule", rule, ("torch", "keras"))
        self.mode = check.choice("mode", mode, ("min", "max"))
        self.factor = check.open_unit("factor", factor)
        self.patience = check.integer("patience", patience, 0)
        self.threshold = check.non_negative("threshold", threshold)
        default_mode = "rel" if self.rule == "torch" else "abs"
        self.threshold_mode = check.choice(
            "threshold_mode",
            default_mode if threshold_mode is None else threshold_mode,
            ("rel", "abs"),
        )
        self.cooldown = check.integer("cooldown", cooldown, 0)
        self.floor = check.non_negative("floor", floor)
        self.eps = check.non_negative("eps", eps)
        self.ignore_before = check.integer("ignore_before", ignore_before, 0)
        self.best: float | None = None
        self.num_bad = 0
        self.cooldown_counter = 0
        self.scale = 1.0
        self.num_reductions = 0

    def __call__(self, step: Any) -> Any:
        """Learning rate at ``step`` (a number or a numpy array of steps) after the reductions
        so far. Not on JAX values: the reductions are Python state, which ``jax.jit`` would
        freeze when it traces (see the error for the jit-safe ways)."""
        if type(step).__module__.startswith("jax"):
            raise TypeError(
                "step: ReduceOnPlateau got a JAX value; its reductions happen outside JAX, so "
                "a jitted step would never see them. Under JAX use optax.contrib."
                "reduce_on_plateau, or wrap the optimizer in optax.inject_hyperparams and set "
                "its learning_rate to float(plateau(step)) outside the jitted step"
            )
        base = self.schedule(step)
        if self.scale == 1.0:
            return base
        if isinstance(base, np.ndarray):
            return np.minimum(base, np.maximum(base * self.scale, self.floor))
        return min(base, max(base * self.scale, self.floor))

    def _improves(self, metric: float) -> bool:
        if self.best is not None:
            return self._beats(metric, self.best)
        # Keras takes the first metric as the best; torch starts from the worst value
        return self.rule == "keras" or self._beats(
            metric, math.inf if self.mode == "min" else -math.inf
        )

    def _beats(self, metric: float, best: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            return sign * metric < sign * best * (1.0 - sign * self.threshold)
        return sign * metric < sign * best - self.threshold

    def update(self, metric: float, step: int) -> bool:
        """Record ``metric``, measured while training at ``step``; return whether the learning
        rate was reduced. Metrics at steps before ``ignore_before`` are disregarded."""
        value = float(metric)
        step = check.integer("step", step, 0)
        if step < self.ignore_before:
            return False
        if self.rule == "keras":
            return self._update_keras(value, step)
        if self._improves(value):
            self.best = value
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad <= self.patience:
            return False
        self.cooldown_counter = self.cooldown
        self.num_bad = 0
        return self._reduce(step)

    def _update_keras(self, value: float, step: int) -> bool:
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self._improves(value):
            self.best = value
            self.num_bad = 0
            return False
        if self.cooldown_counter > 0:
            return False
        self.num_bad += 1
        if self.num_bad < self.patience or not self(step) > self.floor:
            return False
        self._reduce(step)
        self.cooldown_counter = self.cooldown
        self.num_bad = 0
        return True

    def _reduce(self, step: int) -> bool:
        old = self(step)
        new = max(old * self.factor, self.floor)
        if self.rule == "torch" and not old - new > self.eps:
            return False
        self.scale *= self.factor
        self.num_reductions += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        """What the metrics so far have changed (plain data; the settings are in ``to_dict``)."""
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"state: missing key(s) {missing}")
        for key in _STATE_KEYS:
            setattr(self, key, state[key])

    def to_dict(self) -> dict[str, Any]:
        """Settings and state as plain data, for JSON; :meth:`from_dict` rebuilds it."""
        params = {
            "lr": self.schedule.to_dict(),
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "floor": self.floor,
            "eps": self.eps,
            "rule": self.rule,
            "ignore_before": self.ignore_before,
        }
        return {"name": "reduce_on_plateau", "params": params, "state": self.state_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReduceOnPlateau:
        """Rebuild a controller (settings and state) from :meth:`to_dict` output."""
        if not isinstance(data, dict) or data.get("name") != "reduce_on_plateau":
            raise ValueError(
                f"data: expected the output of ReduceOnPlateau.to_dict(), got {data!r}"
            )
        params = dict(data["params"])
        params["lr"] = from_dict(params["lr"])
        plateau = cls(**params)
        plateau.load_state_dict(data["state"])
        return plateau

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau({self.schedule!r}, mode={self.mode!r}, factor={self.factor}, "
            f"patience={self.patience}, rule={self.rule!r}, scale={self.scale})"
        )
