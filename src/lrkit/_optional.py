"""Import an optional dependency, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

#: The extra of ``pip install 'lrkit[extra]'`` that installs each optional top-level module.
EXTRAS = {
    "torch": "torch",
    "sklearn": "torch",
    "rich": "cli",
    "keras": "keras",
    "lightning": "lightning",
    "optuna": "search",
    "psycopg2": "search",
    "ray": "ray",
    "matplotlib": "plot",
    "jax": "jax",
    "optax": "jax",
    "aeon": "tasks",
    "transformers": "transformers",
    "accelerate": "transformers",
    "yaml": "all",
    "tensorboard": "all",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def _message(module: str, extra: str) -> str:
    return (
        f"this part of lrkit needs {module!r}, which is not installed; "
        f"install it with: pip install 'lrkit[{extra}]'"
    )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; raise :class:`MissingExtra` naming ``pip install 'lrkit[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(_message(module, extra)) from exc


def missing_extra(exc: ImportError) -> str | None:
    """What to install for ``exc``: the message of a :class:`MissingExtra`, or of an optional
    module in :data:`EXTRAS` that failed to import; ``None`` for any other import error."""
    if isinstance(exc, MissingExtra):
        return str(exc)
    top = (exc.name or "").partition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and top in EXTRAS:
        return _message(top, EXTRAS[top])
    return None
