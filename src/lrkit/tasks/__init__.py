"""Built-in tasks: small real models on data that ships inside installed packages.

A task bundles a freshly initialised model, train and validation loaders, the loss, a
score (higher is better) and the seed that made them, so the CLI, the benchmarks and
the tests can all train the same thing. Nothing is downloaded.

>>> task = lrkit.tasks.get("digits-cnn", seed=0)
>>> result = lrkit.torch.find_lr(task.model, task.make_optimizer("adam"), task.loss_fn,
...                              task.train_loader)
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from lrkit._optional import require

require("torch", "torch")

from lrkit.tasks.base import Task, evaluate, train_epoch  # noqa: E402
from lrkit.torch.optimizers import make_optimizer  # noqa: E402

#: task name -> "module:factory"; a factory takes (seed, batch_size) and returns a Task.
REGISTRY: dict[str, str] = {
    "digits-cnn": "lrkit.tasks.digits:digits_cnn",
    "series-cnn-lstm": "lrkit.tasks.series:series_cnn_lstm",
    "tabular-mlp": "lrkit.tasks.tabular:tabular_mlp",
    "friedman-regression": "lrkit.tasks.regression:friedman_regression",
    "motif-gru": "lrkit.tasks.sequence:motif_gru",
}


def names() -> list[str]:
    """The names of the built-in tasks."""
    return sorted(REGISTRY)


def get(name: str, *, seed: int = 0, batch_size: int | None = None) -> Task:
    """Build task ``name`` (a built-in name, or ``"package.module:factory"``, imported as
    ``python -m`` would: the current folder first) with ``seed``."""
    factory = _resolve(name)
    return factory(seed=seed, batch_size=batch_size)


def _resolve(name: str) -> Callable[..., Task]:
    spec = REGISTRY.get(name, name)
    if ":" not in spec:
        raise ValueError(
            f"task: unknown task {name!r}; built-in tasks are {', '.join(names())}, "
            "or give 'package.module:factory'"
        )
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` finds modules in the current folder
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"task: cannot import module {module_name!r} ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"task: {module_name!r} has no callable {attr!r}")
    return factory


__all__ = ["REGISTRY", "Task", "evaluate", "get", "make_optimizer", "names", "train_epoch"]
