"""The optimizers lrkit's tools build by name: torch's own under short names, plus Prodigy and
Schedule-Free when their packages are installed.

The built-in tasks (:meth:`lrkit.tasks.Task.make_optimizer`), ``compare`` and ``search`` all
build their optimizers here, so a name means the same optimizer everywhere.

Schedule-Free optimizers keep two copies of the weights; :func:`set_mode` switches them to
the training copy before an epoch and to the evaluation copy before scoring.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from typing import Any

import torch

#: Optimizers that come with torch: name -> factory ``(params, lr, **kwargs)``.
BUILTIN: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, **kw),
    "momentum": lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, momentum=0.9, **kw),
    "nesterov": lambda params, lr, **kw: torch.optim.SGD(
        params, lr=lr, momentum=0.9, nesterov=True, **kw
    ),
    "adam": lambda params, lr, **kw: torch.optim.Adam(params, lr=lr, **kw),
    "adamw": lambda params, lr, **kw: torch.optim.AdamW(params, lr=lr, **kw),
    "rmsprop": lambda params, lr, **kw: torch.optim.RMSprop(params, lr=lr, **kw),
    "adagrad": lambda params, lr, **kw: torch.optim.Adagrad(params, lr=lr, **kw),
    "adadelta": lambda params, lr, **kw: torch.optim.Adadelta(params, lr=lr, **kw),
}

#: Optimizers that live in other packages: name -> (module, class, pip package).
EXTERNAL: dict[str, tuple[str, str, str]] = {
    "prodigy": ("prodigyopt", "Prodigy", "prodigyopt"),
    "schedulefree_adamw": ("schedulefree", "AdamWScheduleFree", "schedulefree"),
    "schedulefree_sgd": ("schedulefree", "SGDScheduleFree", "schedulefree"),
}


def installed(name: str) -> bool:
    """Whether optimizer ``name`` can be built here."""
    if name in EXTERNAL:
        return importlib.util.find_spec(EXTERNAL[name][0]) is not None
    return name in BUILTIN


def names() -> list[str]:
    """Every optimizer name that can be built on this machine."""
    return [*BUILTIN, *(name for name in EXTERNAL if installed(name))]


def check_name(name: Any, field: str) -> str:
    """``name`` if it is a known, installed optimizer; otherwise a message naming ``field``."""
    if not isinstance(name, str):
        raise TypeError(f"{field}: must be an optimizer name (a string), got {name!r}")
    if name in EXTERNAL and not installed(name):
        package = EXTERNAL[name][2]
        raise ValueError(f"{field}: {name!r} needs the {package} package; pip install {package}")
    if name not in EXTERNAL and name not in BUILTIN:
        allowed = ", ".join([*BUILTIN, *EXTERNAL])
        raise ValueError(f"{field}: unknown optimizer {name!r}; choose one of {allowed}")
    return name


def make_optimizer(name: str, params: Iterable[Any], *, lr: float = 1e-3, **kwargs: Any) -> Any:
    """Optimizer ``name`` over ``params`` with initial learning rate ``lr``: sgd, momentum (SGD,
    0.9), nesterov, adam, adamw, rmsprop, adagrad, adadelta, or an installed one of
    :data:`EXTERNAL`; ``kwargs`` go to the optimizer."""
    check_name(name, "optimizer")
    if name in EXTERNAL:
        module, cls, _ = EXTERNAL[name]
        return getattr(importlib.import_module(module), cls)(params, lr=lr, **kwargs)
    return BUILTIN[name](params, lr, **kwargs)


def set_mode(optimizer: Any, training: bool) -> None:
    """Call ``optimizer.train()`` / ``optimizer.eval()`` when it has them (Schedule-Free)."""
    method = getattr(optimizer, "train" if training else "eval", None)
    if callable(method):
        method()
