"""Import an optional dependency, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; raise an ``ImportError`` naming ``pip install 'lrkit[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this part of lrkit needs {module!r}, which is not installed; "
            f"install it with: pip install 'lrkit[{extra}]'"
        ) from exc
