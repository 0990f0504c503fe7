"""Copies of a torch model's and optimizer's state, and of the random state, put back on exit.

:func:`preserved` copies the model's parameters and buffers and the optimizer's state and
param groups to CPU memory (or to a file with ``snapshot="disk"``) and loads them back, so
both are bit-identical to before whatever happens inside; :func:`randomness_preserved` does
the same for torch's, numpy's, ``random``'s and a loader's generators.
"""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

SNAPSHOTS = ("cpu", "disk")


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
def preserved(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    snapshot: str = "cpu",
    grad_scaler: Any = None,
) -> Any:
    """Restore ``model`` (parameters, buffers, train/eval mode), ``optimizer`` and
    ``grad_scaler`` on exit; yields a ``restore()`` that does the same at any time inside.

    Gradients are cleared (set to ``None``) rather than restored.
    """
    if snapshot not in SNAPSHOTS:
        raise ValueError(f"snapshot: must be one of {', '.join(SNAPSHOTS)}, got {snapshot!r}")
    state = state_copy(model, optimizer)
    modes = {name: module.training for name, module in model.named_modules()}
    scaler_state = grad_scaler.state_dict() if grad_scaler is not None else None
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
            if grad_scaler is not None:
                grad_scaler.load_state_dict(scaler_state)

        try:
            yield restore
        finally:
            restore()


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


def random_state(loader: Any = None) -> Callable[[], None]:
    """Capture the torch (CPU and CUDA), numpy, ``random`` and ``loader``'s generators now;
    the returned ``restore()`` puts them back, as often as it is called."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the user's global generator)
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    generators = [(g, g.get_state()) for g in loader_generators(loader)]

    def restore() -> None:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        for generator, state in generators:
            generator.set_state(state)

    return restore


@contextmanager
def randomness_preserved(loader: Any = None) -> Iterator[None]:
    """Put back the torch (CPU and CUDA), numpy, ``random`` and the loader's generators on
    exit, so that what runs inside can be repeated exactly."""
    restore = random_state(loader)
    try:
        yield
    finally:
        restore()
