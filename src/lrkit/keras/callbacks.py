"""Keras callbacks that set the learning rate (and momentum) from lrkit schedules.

``ScheduleCallback`` applies a schedule per epoch (like ``keras.callbacks.LearningRateScheduler``)
or per batch; ``PlateauCallback`` drives a :class:`~lrkit.schedules.plateau.ReduceOnPlateau` from a
monitored metric, with its warm-up or other base schedule included.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import keras

from lrkit import _checks as check
from lrkit.schedules.base import Schedule
from lrkit.schedules.plateau import ReduceOnPlateau

Unit = Literal["epoch", "step"]


def _traced_step(model: keras.Model) -> bool:
    """Whether ``fit`` runs a traced train step, which freezes Python-float hyperparameters:
    jitted JAX, or a TensorFlow graph (the torch backend runs eagerly)."""
    backend = keras.backend.backend()
    if backend == "torch" or getattr(model, "run_eagerly", False):
        return False
    return backend == "tensorflow" or bool(getattr(model, "jit_compile", False))


class _SetsLearningRate(keras.callbacks.Callback):
    """Shared plumbing: which step it is, and writing values into the optimizer."""

    def __init__(self, unit: Unit, momentum: Schedule | None) -> None:
        super().__init__()
        if unit == "batch":
            warnings.warn(
                'unit: "batch" is now "step" (one optimizer step per batch), as everywhere in '
                "lrkit",
                DeprecationWarning,
                stacklevel=3,
            )
            unit = "step"
        self.unit = check.choice("unit", unit, ("epoch", "step"))
        if momentum is not None and not isinstance(momentum, Schedule):
            raise TypeError(f"momentum: must be an lrkit schedule, got {momentum!r}")
        self.momentum = momentum

    def _value(self, step: int) -> float:
        raise NotImplementedError

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # a schedule serialises to a dict, a plain learning rate to a number
        if isinstance(self.model.optimizer.get_config().get("learning_rate"), dict):
            raise ValueError(
                "optimizer: its learning_rate is already a LearningRateSchedule; give it a "
                "number when a callback sets the learning rate"
            )
        if self.momentum is not None and _traced_step(self.model):
            warnings.warn(
                f"momentum: on the {keras.backend.backend()} backend the compiled train step "
                "reads momentum/beta_1 once, when it is traced, so the momentum schedule would "
                "be ignored; compile the model with jit_compile=False (jax) or "
                "run_eagerly=True, or schedule the learning rate only",
                stacklevel=2,
            )

    def _apply(self, step: int) -> None:
        optimizer = self.model.optimizer
        optimizer.learning_rate = self._value(step)
        if self.momentum is not None:
            name = "beta_1" if hasattr(optimizer, "beta_1") else "momentum"
            if not hasattr(optimizer, name):
                raise ValueError(
                    f"momentum: {type(optimizer).__name__} has neither momentum nor beta_1"
                )
            if name == "momentum" and getattr(optimizer, name) == 0:
                raise ValueError(
                    "momentum: the optimizer was built with momentum=0, so it keeps no "
                    "momentum slots; create it with any momentum > 0"
                )
            setattr(optimizer, name, self.momentum(step))

    def _batch_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.unit == "epoch":
            self._apply(epoch)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.unit == "step":
            self._apply(self._batch_step())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            learning_rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(learning_rate))


class ScheduleCallback(_SetsLearningRate):
    """Set the optimizer's learning rate to ``schedule(epoch)`` at the start of every epoch
    (``unit="epoch"``), or to ``schedule(step)`` before every batch (``unit="step"``, with
    ``step = optimizer.iterations``, so a resumed run picks up where it stopped; ``"step"`` and
    ``"epoch"`` are the units everywhere in lrkit, and ``"batch"``, the earlier name, still
    works with a ``DeprecationWarning``).

    ``momentum`` sets ``momentum`` (SGD) or ``beta_1`` (Adam and kin) the same way; that takes
    effect where the train step runs eagerly (the torch backend, or ``jit_compile=False``).
    """

    def __init__(
        self, schedule: Schedule, momentum: Schedule | None = None, unit: Unit = "epoch"
    ) -> None:
        super().__init__(unit, momentum)
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule: must be an lrkit schedule, got {schedule!r}")
        self.schedule = schedule

    def _value(self, step: int) -> float:
        return self.schedule(step)


class PlateauCallback(_SetsLearningRate):
    """Drive a :class:`~lrkit.schedules.plateau.ReduceOnPlateau` from ``logs[monitor]`` at the
    end of every epoch, and set the learning rate from it (per epoch or per step, see
    :class:`ScheduleCallback`). ``ReduceOnPlateau(..., rule="keras")`` reproduces
    ``keras.callbacks.ReduceLROnPlateau``; its base schedule can carry a warm-up."""

    def __init__(
        self, plateau: ReduceOnPlateau, monitor: str = "val_loss", unit: Unit = "epoch"
    ) -> None:
        super().__init__(unit, None)
        if not isinstance(plateau, ReduceOnPlateau):
            raise TypeError(f"plateau: must be a ReduceOnPlateau, got {plateau!r}")
        self.plateau = plateau
        self.monitor = monitor

    def _value(self, step: int) -> float:
        return float(self.plateau(step))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = None if logs is None else logs.get(self.monitor)
        if current is None:
            available = ", ".join(logs or {})
            warnings.warn(
                f"monitor: {self.monitor!r} is not among the logged metrics ({available}); "
                "the learning rate is not reduced",
                UserWarning,
                stacklevel=2,
            )
        else:
            step = epoch if self.unit == "epoch" else max(self._batch_step() - 1, 0)
            if self.plateau.update(float(current), step):
                self._apply(step + 1)
        super().on_epoch_end(epoch, logs)
