"""The doctor as a Keras 3 callback: per-batch loss, learning rate and gradient norm.

>>> model.fit(x, y, validation_data=(xv, yv), epochs=20,
...           callbacks=[DoctorCallback(Doctor(on_critical="stop"), log="run.csv")])

The torch adapter's class has the same name (:class:`lrkit.torch.DoctorCallback`): one idea,
one name — a callback the framework calls on every step, handing it to a
:class:`~lrkit.doctor.Doctor`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import keras

from lrkit.doctor import Doctor, Finding
from lrkit.doctor.doctor import validation_results


def _scalar(value: Any) -> float:
    """A Python float from a Keras variable or a backend scalar tensor."""
    value = getattr(value, "value", value)
    if hasattr(value, "detach"):
        value = value.detach()
    return float(value)


class DoctorCallback(keras.callbacks.Callback):
    """Feeds a :class:`~lrkit.doctor.Doctor` from ``model.fit``.

    Each batch it records the batch's own loss (recovered from Keras' running mean), the
    learning rate the batch was trained with and, on the torch backend, the global gradient
    norm; after each epoch, the logged ``val_loss`` and ``val_metric`` entries (keys of Keras'
    epoch logs, as in the Lightning adapter; ``val_metric`` by default the first ``val_*``
    entry other than ``val_loss``). ``on_critical="stop"`` stops ``fit``;
    ``"reduce"`` multiplies the optimizer's learning rate (a float or variable learning
    rate; a schedule cannot be changed). ``log`` and ``tensorboard`` stream the history.
    """

    def __init__(
        self,
        doctor: Doctor | None = None,
        *,
        log: str | Path | None = None,
        tensorboard: str | Path | None = None,
        val_loss: str = "val_loss",
        val_metric: str | None = None,
        metric: str | None = None,
    ) -> None:
        super().__init__()
        if metric is not None:
            warnings.warn(
                "DoctorCallback(metric=NAME) is now val_metric='val_NAME', the key Keras logs "
                "(as in the Lightning adapter)",
                DeprecationWarning,
                stacklevel=2,
            )
            val_metric = val_metric or f"val_{metric}"
        self.doctor = doctor if doctor is not None else Doctor()
        self.val_loss_key = val_loss
        self.val_metric_key = val_metric
        self.steps = 0
        self._lr: float | None = None
        self._seen = (0.0, 0.0)
        self.doctor.history.record_to(log, tensorboard)

    @property
    def findings(self) -> list[Finding]:
        """Everything the doctor has found so far."""
        return self.doctor.findings

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.doctor.attach(reduce_lr=self._reduce)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = (0.0, 0.0)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._lr = _scalar(self.model.optimizer.learning_rate)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = self._batch_loss(logs or {})
        if loss is None:
            return
        step = self.steps
        self.steps += 1
        self.doctor.observe(step, loss, lr=self._lr, grad_norm=self._grad_norm())
        if self.doctor.should_stop:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        key = self.val_metric_key
        if key is None:
            key = next((k for k in logs if k.startswith("val_") and k != self.val_loss_key), None)
        val_loss, val_metric = logs.get(self.val_loss_key), logs.get(key) if key else None
        results = validation_results(val_loss, val_metric)
        if results is None:
            return
        self.doctor.observe(max(self.steps - 1, 0), None, **results)
        if self.doctor.should_stop:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.doctor.history.close()

    def _batch_loss(self, logs: dict[str, Any]) -> float | None:
        """This batch's loss: (total_k - total_{k-1}) / (count_k - count_{k-1}) of the
        running-mean loss metric, or the logged loss when the metric is not found."""
        tracker = next((m for m in self.model.metrics if m.name == "loss"), None)
        if tracker is None or not hasattr(tracker, "total"):
            return float(logs["loss"]) if "loss" in logs else None
        total, count = _scalar(tracker.total), _scalar(tracker.count)
        seen_total, seen_count = self._seen
        self._seen = (total, count)
        if count <= seen_count:
            return None
        return (total - seen_total) / (count - seen_count)

    def _grad_norm(self) -> float | None:
        """sqrt(sum ||g||^2) over the trainable weights; gradients are only left readable
        after the update on the torch backend."""
        if keras.backend.backend() != "torch":
            return None
        squares = [
            float(w.value.grad.detach().double().pow(2).sum())
            for w in self.model.trainable_weights
            if getattr(w.value, "grad", None) is not None
        ]
        return math.sqrt(sum(squares)) if squares else None

    def _reduce(self, factor: float) -> None:
        optimizer = self.model.optimizer
        try:
            optimizer.learning_rate = _scalar(optimizer.learning_rate) * factor
        except TypeError as exc:
            warnings.warn(f"lrkit doctor could not reduce the learning rate: {exc}", stacklevel=2)
