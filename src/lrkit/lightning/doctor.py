"""The doctor as a Lightning callback.

>>> trainer = lightning.Trainer(callbacks=[DoctorCallback(Doctor(on_critical="stop"))])

The torch adapter's class has the same name (:class:`lrkit.torch.DoctorCallback`): one idea,
one name — a callback the framework calls on every step, handing it to a
:class:`~lrkit.doctor.Doctor`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from lrkit.doctor import Doctor, Finding
from lrkit.doctor.doctor import validation_results
from lrkit.torch.doctor import global_grad_norm, scale_lr


class DoctorCallback(Callback):
    """Feeds a :class:`~lrkit.doctor.Doctor` from ``Trainer.fit``.

    Each optimizer step it records the training loss your ``training_step`` returned, the
    first optimizer's learning rate and the global gradient norm (read just before the
    step, before Lightning clips); after each validation run, the logged ``val_loss`` and
    ``val_metric`` entries (names of what you ``self.log``). ``on_critical="stop"`` stops
    the trainer; ``"reduce"`` multiplies every optimizer's learning rate (and its
    schedulers' ``base_lrs``). ``log`` and ``tensorboard`` stream the history.
    """

    def __init__(
        self,
        doctor: Doctor | None = None,
        *,
        log: str | Path | None = None,
        tensorboard: str | Path | None = None,
        val_loss: str = "val_loss",
        val_metric: str | None = None,
    ) -> None:
        self.doctor = doctor if doctor is not None else Doctor()
        self.val_loss_key = val_loss
        self.val_metric_key = val_metric
        self.steps = 0
        self._pending: tuple[float | None, float | None] = (None, None)
        self._trainer: Trainer | None = None
        self.doctor.history.record_to(log, tensorboard)

    @property
    def findings(self) -> list[Finding]:
        """Everything the doctor has found so far."""
        return self.doctor.findings

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._trainer = trainer
        self.doctor.attach(reduce_lr=self._reduce)

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: Any
    ) -> None:
        lr = float(optimizer.param_groups[0]["lr"])
        self._pending = (global_grad_norm(pl_module.parameters()), lr)

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        grad_norm, lr = self._pending
        self._pending = (None, None)
        step = self.steps
        self.steps += 1
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        self.doctor.observe(step, value, lr=lr, grad_norm=grad_norm)
        if self.doctor.should_stop:
            trainer.should_stop = True

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        val_loss = metrics.get(self.val_loss_key)
        val_metric = metrics.get(self.val_metric_key) if self.val_metric_key else None
        results = validation_results(val_loss, val_metric)
        if results is None:
            return
        self.doctor.observe(max(self.steps - 1, 0), None, **results)
        if self.doctor.should_stop:
            trainer.should_stop = True

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.doctor.history.close()

    def _reduce(self, factor: float) -> None:
        if self._trainer is None:
            return
        schedulers = {
            id(getattr(c.scheduler, "optimizer", None)): c.scheduler
            for c in self._trainer.lr_scheduler_configs
        }
        for optimizer in self._trainer.optimizers:
            scale_lr(optimizer, factor, schedulers.get(id(optimizer)))
