"""The optimizers a strategy may name: lrkit's built-in set, plus Prodigy and Schedule-Free
when their packages are installed.

Schedule-Free optimizers keep two copies of the weights; :func:`set_mode` switches them to
the training copy before an epoch and to the evaluation copy before scoring.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

#: Optimizers that live in other packages: name -> (module, class, pip package).
EXTERNAL: dict[str, tuple[str, str, str]] = {
    "prodigy": ("prodigyopt", "Prodigy", "prodigyopt"),
    "schedulefree_adamw": ("schedulefree", "AdamWScheduleFree", "schedulefree"),
    "schedulefree_sgd": ("schedulefree", "SGDScheduleFree", "schedulefree"),
}


def builtin_names() -> list[str]:
    """The optimizers of :func:`lrkit.tasks.make_optimizer` (always available with torch)."""
    from lrkit.tasks.base import OPTIMIZERS

    return list(OPTIMIZERS)


def installed(name: str) -> bool:
    """Whether optimizer ``name`` can be built here."""
    if name in EXTERNAL:
        return importlib.util.find_spec(EXTERNAL[name][0]) is not None
    return name in builtin_names()


def names() -> list[str]:
    """Every optimizer name a strategy may use on this machine."""
    return builtin_names() + [name for name in EXTERNAL if installed(name)]


def check_name(name: Any, field: str) -> str:
    """``name`` if it is a known, installed optimizer; otherwise a message naming ``field``."""
    if not isinstance(name, str):
        raise TypeError(f"{field}: must be an optimizer name (a string), got {name!r}")
    if name in EXTERNAL and not installed(name):
        package = EXTERNAL[name][2]
        raise ValueError(f"{field}: {name!r} needs the {package} package; pip install {package}")
    if name not in EXTERNAL and name not in builtin_names():
        allowed = ", ".join([*builtin_names(), *EXTERNAL])
        raise ValueError(f"{field}: unknown optimizer {name!r}; choose one of {allowed}")
    return name


def make(name: str, params: Iterable[Any], *, lr: float, **kwargs: Any) -> Any:
    """A torch optimizer ``name`` over ``params`` with initial learning rate ``lr``."""
    if name in EXTERNAL:
        module, cls, _ = EXTERNAL[name]
        return getattr(importlib.import_module(module), cls)(params, lr=lr, **kwargs)
    from lrkit.tasks import make_optimizer

    return make_optimizer(name, params, lr=lr, **kwargs)


def set_mode(optimizer: Any, training: bool) -> None:
    """Call ``optimizer.train()`` / ``optimizer.eval()`` when it has them (Schedule-Free)."""
    method = getattr(optimizer, "train" if training else "eval", None)
    if callable(method):
        method()
