"""Feed the doctor from a PyTorch training loop.

>>> doctor = DoctorCallback(model, optimizer, Doctor(on_critical="stop"), log="run.csv")
>>> for inputs, targets in loader:
...     optimizer.zero_grad()
...     loss = loss_fn(model(inputs), targets)
...     loss.backward()
...     optimizer.step()
...     doctor.step(loss)
...     if doctor.should_stop:
...         break
>>> doctor.close()

The class has the name it has in the Keras and Lightning adapters (``lrkit.keras.doctor``,
``lrkit.lightning.doctor``), since it is the same idea: the framework calls it back (here the
optimizer's step hooks) and it hands each step to a :class:`~lrkit.doctor.Doctor`. ``Watch``,
its earlier name, still works and warns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrkit.doctor import Doctor, Finding
from lrkit.torch.scheduler import Scheduler


def global_grad_norm(parameters: Iterable[torch.Tensor]) -> float | None:
    """The L2 norm of all gradients together, sqrt(sum_i ||g_i||^2); ``None`` without any."""
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    if not norms:
        return None
    return float(torch.linalg.vector_norm(torch.stack(norms).float()))


def scale_lr(optimizer: torch.optim.Optimizer, factor: float, scheduler: Any = None) -> None:
    """Multiply every parameter group's learning rate by ``factor``.

    Also scales ``initial_lr`` (where a scheduler keeps its starting point) and, when a
    ``scheduler`` is given, its ``base_lrs``, so the schedule continues from the lower rate;
    lrkit's own :class:`~lrkit.torch.Scheduler` (on schedules) is scaled with its ``scale``.
    """
    if isinstance(scheduler, Scheduler) and scheduler.scalable:
        scheduler.scale(factor)
        return
    for group in optimizer.param_groups:
        group["lr"] *= factor
        if "initial_lr" in group:
            group["initial_lr"] *= factor
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]


class DoctorCallback:
    """Records loss, learning rate and global gradient norm each optimizer step.

    Hooks into ``optimizer.step()``: just before each update it reads the learning rates
    (the first param group's as ``lr``, which the doctor's rules read, the others' as
    ``lr/1``, ``lr/2``, ...) and the gradient norm over ``model``'s parameters (after any
    clipping you did). Call
    :meth:`step` with the loss once per optimizer step, and :meth:`validate` after each
    evaluation. ``layer_ratios=True`` also records, for every parameter tensor, the
    update/weight ratio ||w_after - w_before|| / ||w_before|| as column
    ``update_ratio/<name>`` (this keeps a copy of the weights during each step).

    ``log`` streams the history to a ``.csv`` or ``.jsonl`` file and ``tensorboard`` to a
    TensorBoard log directory. With ``on_critical="reduce"`` the doctor multiplies the
    learning rate of every parameter group (and ``scheduler.base_lrs``) by its factor.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        doctor: Doctor | None = None,
        *,
        log: str | Path | None = None,
        tensorboard: str | Path | None = None,
        layer_ratios: bool = False,
        scheduler: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer: must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self.model = model
        self.optimizer = optimizer
        self.doctor = doctor if doctor is not None else Doctor()
        self.layer_ratios = layer_ratios
        self.steps = 0
        self._pending: tuple[float | None, list[float]] | None = None
        self._before: dict[str, torch.Tensor] = {}
        self._ratios: dict[str, float] = {}
        self.doctor.history.record_to(log, tensorboard)
        self.doctor.attach(reduce_lr=lambda factor: scale_lr(optimizer, factor, scheduler))
        self._hooks = [
            optimizer.register_step_pre_hook(self._before_update),
            optimizer.register_step_post_hook(self._after_update),
        ]

    def _before_update(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        grad_norm = global_grad_norm(self.model.parameters())
        self._pending = (grad_norm, self._group_lrs())
        if self.layer_ratios:
            self._before = {
                name: p.detach().clone()
                for name, p in self.model.named_parameters()
                if p.requires_grad
            }

    def _after_update(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if not self.layer_ratios:
            return
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                before = self._before.get(name)
                if before is None:
                    continue
                scale = float(before.norm(2))
                change = float((p.detach() - before).norm(2))
                self._ratios[f"update_ratio/{name}"] = change / scale if scale > 0 else math.nan
        self._before = {}

    def step(self, loss: torch.Tensor | float, *, grad_norm: float | None = None) -> list[Finding]:
        """Record this step's ``loss`` (call after ``optimizer.step()``); returns new findings.

        ``grad_norm`` overrides the measured norm, e.g. the value ``clip_grad_norm_`` returns
        (the norm before clipping).
        """
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if self._pending is None:
            measured, lrs = global_grad_norm(self.model.parameters()), self._group_lrs()
        else:
            measured, lrs = self._pending
        self._pending = None
        step = self.steps
        self.steps += 1
        found = self.doctor.observe(
            step, value, lr=lrs[0], grad_norm=grad_norm if grad_norm is not None else measured
        )
        extra = {f"lr/{i}": lr for i, lr in enumerate(lrs[1:], 1)} | self._ratios
        if extra:
            self.doctor.history.append(step, **extra)
            self._ratios = {}
        return found

    def _group_lrs(self) -> list[float]:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def validate(
        self, val_loss: float | None = None, val_metric: float | None = None
    ) -> list[Finding]:
        """Record a validation result at the latest step; returns new findings."""
        return self.doctor.observe(
            max(self.steps - 1, 0), None, val_loss=val_loss, val_metric=val_metric
        )

    @property
    def should_stop(self) -> bool:
        """True once a critical finding came with ``on_critical="stop"``."""
        return self.doctor.should_stop

    @property
    def findings(self) -> list[Finding]:
        """Everything the doctor has found so far."""
        return self.doctor.findings

    def close(self) -> None:
        """Remove the optimizer hooks and finish the log files."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        self.doctor.history.close()

    def __enter__(self) -> DoctorCallback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Watch(DoctorCallback):
    """The earlier name of :class:`DoctorCallback`; making one warns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "lrkit.torch.Watch is now lrkit.torch.DoctorCallback (the name it has in the "
            "Keras and Lightning adapters)",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
