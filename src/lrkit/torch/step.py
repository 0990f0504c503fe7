"""One training step as real training takes it, and the batches it reads.

:class:`TrainStep` runs ``accumulation_steps`` batches forward (under autocast to
``amp_dtype`` when given) and backward (through ``grad_scaler`` when given), unscales and
clips the gradients to ``clip_grad_norm``, then steps the optimizer (through the scaler). A
step the scaler skips, because its gradients were not finite, is reported as not taken.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

StepFn = Callable[[nn.Module, Any], Any]
AMP_DTYPES = (torch.float16, torch.bfloat16)


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor inside (tuples, lists, dicts, nested) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def cycle_batches(loader: Iterable[Any], name: str) -> Iterator[Any]:
    """Endless batches from ``loader``, restarted when exhausted. A pass that yields nothing —
    an empty loader, or an iterator already used up — raises ``ValueError`` naming ``name``."""
    seen = 0
    while True:
        count = 0
        for batch in loader:
            count += 1
            yield batch
        if count == 0:
            if seen == 0:
                raise ValueError(f"{name}: the loader yields no batches")
            raise ValueError(
                f"{name}: ran out after {seen} batches; pass a loader that can be iterated "
                "again (a DataLoader or a list), not an iterator"
            )
        seen += count


def as_loss(value: Any, source: str) -> torch.Tensor:
    """The scalar loss in ``value``: the tensor itself, its ``.loss`` (a Hugging Face model
    output) or its ``["loss"]``; ``TypeError`` naming ``source`` otherwise."""
    loss = value
    if not isinstance(loss, torch.Tensor):
        loss = getattr(value, "loss", None)
        if loss is None and isinstance(value, Mapping):
            loss = value.get("loss")
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(
            f"{source}: must give a scalar loss tensor (or an output with a .loss), "
            f"got {type(value).__name__}"
        )
    return loss.reshape(())


def loss_value(loss: Any) -> float:
    """A step's loss as a float: a scalar tensor (detached; see :func:`as_loss`) or a number."""
    return float(as_loss(loss, "loss").detach()) if isinstance(loss, torch.Tensor) else float(loss)


def default_step_fn(loss_fn: Callable[..., torch.Tensor] | None) -> StepFn:
    """``step(model, batch) -> loss`` for ``(inputs, targets)`` pairs scored by ``loss_fn``, or,
    with no ``loss_fn``, for dict batches a model takes as keywords and scores itself
    (``model(**batch).loss``, as Hugging Face models do given ``labels``)."""

    def step(model: nn.Module, batch: Any) -> torch.Tensor:
        if loss_fn is None and isinstance(batch, Mapping):
            return as_loss(model(**batch), "model(**batch)")
        if loss_fn is None:
            raise ValueError("loss_fn: give a loss function, or step_fn for custom batches")
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(
                "train_loader: batches must be (inputs, targets) pairs for loss_fn; "
                f"got {type(batch).__name__}. Pass step_fn(model, batch) -> loss instead"
            )
        inputs, targets = batch
        return as_loss(loss_fn(model(inputs), targets), "loss_fn")

    return step


def check_training(model: Any, optimizer: Any) -> None:
    """Raise naming ``model`` or ``optimizer`` when lrkit cannot train the one with the other."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer: must be a torch.optim.Optimizer (built over the model's parameters), "
            f"got {optimizer!r}"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model: has no trainable parameters (requires_grad is off for all)")


def target_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``device``, or the model's; ``ValueError`` for a CUDA device this machine lacks."""
    target = torch.device(device) if device is not None else model_device(model)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {str(target)!r} asked for, but CUDA is not available here")
    return target


def lr_setter(optimizer: torch.optim.Optimizer) -> Callable[[float], None]:
    """``set_lr(lr)``: the first param group gets ``lr``, the others keep their present ratio
    to it."""
    base = optimizer.param_groups[0]["lr"]
    if not base and len(optimizer.param_groups) > 1:
        raise ValueError(
            "optimizer: its first param group has lr 0, so the other groups' ratios to it are "
            "unknown; give the first group the rate the others are relative to"
        )
    ratios = [group["lr"] / base if base else 1.0 for group in optimizer.param_groups]

    def set_lr(lr: float) -> None:
        for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
            group["lr"] = lr * ratio

    return set_lr


def check_precision(grad_scaler: Any, amp_dtype: Any, clip_grad_norm: Any) -> None:
    """Raise naming the first of the mixed-precision and clipping settings not allowed."""
    if grad_scaler is not None and not all(
        hasattr(grad_scaler, name) for name in ("scale", "step", "update", "unscale_")
    ):
        raise TypeError(
            f"grad_scaler: must be a torch.amp.GradScaler, got {type(grad_scaler).__name__}"
        )
    if amp_dtype is not None and amp_dtype not in AMP_DTYPES:
        raise ValueError(f"amp_dtype: must be torch.float16 or torch.bfloat16, got {amp_dtype!r}")
    if clip_grad_norm is not None and not (
        isinstance(clip_grad_norm, (int, float))
        and not isinstance(clip_grad_norm, bool)
        and math.isfinite(clip_grad_norm)
        and clip_grad_norm > 0
    ):
        raise ValueError(f"clip_grad_norm: must be a finite number > 0, got {clip_grad_norm!r}")


@dataclass
class TrainStep:
    """``step(batches) -> (loss, taken)``: one optimizer step (see the module docstring).

    ``loss`` is the mean unscaled loss of the step's batches; ``taken`` is ``False`` when
    ``grad_scaler`` skipped the optimizer step (its scale fell).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    compute_loss: StepFn
    device: torch.device
    accumulation_steps: int = 1
    grad_scaler: Any = None
    amp_dtype: torch.dtype | None = None
    clip_grad_norm: float | None = None

    def __post_init__(self) -> None:
        check_precision(self.grad_scaler, self.amp_dtype, self.clip_grad_norm)

    def __call__(self, batches: Iterator[Any]) -> tuple[float, bool]:
        scaler = self.grad_scaler
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(self.accumulation_steps):
            batch = to_device(next(batches), self.device)
            with self._autocast():
                loss = as_loss(self.compute_loss(self.model, batch), "step_fn")
            share = loss / self.accumulation_steps
            (share if scaler is None else scaler.scale(share)).backward()
            total += float(loss.detach())
        if self.clip_grad_norm is not None:
            if scaler is not None:
                scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        if scaler is None:
            self.optimizer.step()
            return total / self.accumulation_steps, True
        scale = scaler.get_scale()
        scaler.step(self.optimizer)
        scaler.update()
        return total / self.accumulation_steps, scaler.get_scale() >= scale

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)
