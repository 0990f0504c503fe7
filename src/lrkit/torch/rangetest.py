"""The range test for a torch model: builds the ``step(lr) -> loss`` callable the core drives.

Before the sweep the model's parameters and buffers and the optimizer's state and param
groups are copied to CPU memory (or to a file with ``snapshot="disk"``); afterwards they are
loaded back, so both are bit-identical to before — whether the sweep completed, diverged,
hit a NaN, raised, or was interrupted.
"""

from __future__ import annotations

import copy
import itertools
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lrkit.rangetest import RangeTestResult, check_count, range_test, validate_sweep

StepFn = Callable[[nn.Module, Any], torch.Tensor]
SNAPSHOTS = ("cpu", "disk")


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor inside (tuples, lists, dicts, nested) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def _cpu_copy(value: Any) -> Any:
    """A copy of ``value`` (a state dict, nested) with every tensor detached and on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _cpu_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(item) for item in value)
    return copy.deepcopy(value)


def state_copy(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A CPU copy of ``model``'s and ``optimizer``'s state dicts, for :func:`load_state`."""
    return {"model": _cpu_copy(model.state_dict()), "optimizer": _cpu_copy(optimizer.state_dict())}


def load_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, state: Mapping[str, Any]
) -> None:
    """Put back a :func:`state_copy` into ``model`` and ``optimizer``; ``state`` stays as it
    was, so it can be loaded again (a CPU optimizer would otherwise keep its tensors and update
    them in place)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(_cpu_copy(state["optimizer"]))


@contextmanager
def preserved(model: nn.Module, optimizer: torch.optim.Optimizer, snapshot: str = "cpu") -> Any:
    """Restore ``model`` (parameters, buffers, train/eval mode) and ``optimizer`` on exit;
    yields a ``restore()`` that does the same at any time inside.

    Gradients are cleared (set to ``None``) rather than restored.
    """
    if snapshot not in SNAPSHOTS:
        raise ValueError(f"snapshot: must be one of {', '.join(SNAPSHOTS)}, got {snapshot!r}")
    state = state_copy(model, optimizer)
    modes = {name: module.training for name, module in model.named_modules()}
    with tempfile.TemporaryDirectory(prefix="lrkit-snapshot-") as tmp:
        if snapshot == "disk":
            path = Path(tmp) / "state.pt"
            torch.save(state, path)
            del state

        def restore() -> None:
            saved = torch.load(path, weights_only=True) if snapshot == "disk" else state
            load_state(model, optimizer, saved)
            model.zero_grad(set_to_none=True)
            for name, module in model.named_modules():
                module.train(modes[name])

        try:
            yield restore
        finally:
            restore()


def cycle_batches(loader: Iterable[Any], name: str) -> Iterator[Any]:
    """Endless batches from ``loader`` (restarted when exhausted); rejects an empty loader."""
    iterator = iter(loader)
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError(f"{name}: the loader yields no batches") from None
    return itertools.chain([first], iterator, _restarts(loader))


def _restarts(loader: Iterable[Any]) -> Iterator[Any]:
    while True:
        yield from loader


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a DataLoader and its samplers shuffle with."""
    holders = [loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)]
    holders.append(getattr(holders[-1], "sampler", None))
    found: list[torch.Generator] = []
    for holder in holders:
        generator = getattr(holder, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


@contextmanager
def randomness_preserved(loader: Any) -> Iterator[None]:
    """Put back the torch (CPU and CUDA), numpy, ``random`` and the loader's generators on
    exit, so that what runs inside can be repeated exactly."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the user's global generator)
    generators = [(g, g.get_state()) for g in loader_generators(loader)]
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        for generator, state in generators:
            generator.set_state(state)


def lr_setter(optimizer: torch.optim.Optimizer) -> Callable[[float], None]:
    """``set_lr(lr)``: the first param group gets ``lr``, the others keep their present ratio
    to it."""
    base = optimizer.param_groups[0]["lr"]
    ratios = [group["lr"] / base if base else 1.0 for group in optimizer.param_groups]

    def set_lr(lr: float) -> None:
        for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
            group["lr"] = lr * ratio

    return set_lr


def accumulated_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    compute_loss: StepFn,
    batches: Iterator[Any],
    device: torch.device,
    accumulation_steps: int,
) -> float:
    """One optimizer step over ``accumulation_steps`` batches (gradients averaged); returns
    their mean loss."""
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for _ in range(accumulation_steps):
        loss = compute_loss(model, to_device(next(batches), device))
        (loss / accumulation_steps).backward()
        total += float(loss.detach())
    optimizer.step()
    return total / accumulation_steps


def default_step_fn(loss_fn: Callable[..., torch.Tensor] | None) -> StepFn:
    if loss_fn is None:
        raise ValueError("loss_fn: give a loss function, or step_fn for custom batches")

    def step(model: nn.Module, batch: Any) -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(
                "train_loader: batches must be (inputs, targets) pairs for loss_fn; "
                f"got {type(batch).__name__}. Pass step_fn(model, batch) -> loss instead"
            )
        inputs, targets = batch
        return loss_fn(model(inputs), targets)

    return step


def find_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor] | None,
    train_loader: Iterable[Any],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    accumulation_steps: int = 1,
    val_loader: Iterable[Any] | None = None,
    val_batches: int = 4,
    step_fn: StepFn | None = None,
    device: str | torch.device | None = None,
    snapshot: str = "cpu",
    retry: bool = True,
    max_steps: int | None = None,
    progress: bool = True,
) -> RangeTestResult:
    """Run the learning-rate range test on ``model`` and restore it, ``optimizer`` and the random
    state (torch, numpy, ``random``, the loader's generators) after, so that training next is
    exactly what it would have been without the test.

    Each of the ``num_steps`` steps sets the learning rate (the first param group gets the
    swept value, other groups keep their ratio to it), runs ``accumulation_steps`` batches
    forward and backward, and takes one optimizer step. The recorded loss is the mean training
    loss of those batches, or, with ``val_loader``, the mean validation loss over its first
    ``val_batches`` batches after the step — which costs ``num_steps × val_batches`` extra
    forward passes.

    ``step_fn(model, batch) -> scalar loss`` replaces ``loss_fn`` for any batch shape; lrkit does
    the backward pass, accumulation and optimizer step. Batches are moved to ``device`` (by
    default the model's). See :func:`lrkit.range_test` for the sweep and stopping rules, and
    for the retries that a curve no rule can read gets (``retry=False`` turns them off;
    ``max_steps`` bounds the steps of all sweeps together).
    """
    validate_sweep(start_lr, end_lr, num_steps, mode, smoothing, diverge_factor)
    check_count("accumulation_steps", accumulation_steps)
    if val_loader is not None and val_batches < 1:
        raise ValueError(f"val_batches: must be >= 1, got {val_batches}")
    compute_loss = step_fn or default_step_fn(loss_fn)
    target = torch.device(device) if device is not None else model_device(model)
    set_lr = lr_setter(optimizer)
    with randomness_preserved(train_loader):
        batches = cycle_batches(train_loader, "train_loader")
        val_slice = [] if val_loader is None else list(itertools.islice(val_loader, val_batches))
        if val_loader is not None and not val_slice:
            raise ValueError("val_loader: the loader yields no batches")

        def step(lr: float) -> float:
            set_lr(lr)
            model.train()
            loss = accumulated_step(
                model, optimizer, compute_loss, batches, target, accumulation_steps
            )
            if val_loader is None:
                return loss
            return _mean_loss(model, compute_loss, val_slice, target)

        with preserved(model, optimizer, snapshot) as restore:
            result = range_test(
                step,
                start_lr=start_lr,
                end_lr=end_lr,
                num_steps=num_steps,
                mode=mode,
                smoothing=smoothing,
                diverge_factor=diverge_factor,
                reset=restore if retry else None,
                max_steps=max_steps,
                progress=progress,
            )
    batch_size = getattr(train_loader, "batch_size", None)
    result.settings.update(
        batch_size=batch_size * accumulation_steps if batch_size else None,
        accumulation_steps=accumulation_steps,
        curve="validation" if val_loader is not None else "training",
        optimizer=type(optimizer).__name__,
    )
    return result


@torch.no_grad()
def _mean_loss(model: nn.Module, compute_loss: StepFn, batches: list[Any], device: Any) -> float:
    model.eval()
    total = sum(float(compute_loss(model, to_device(batch, device))) for batch in batches)
    return total / len(batches)


def model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")
