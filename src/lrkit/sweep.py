"""The swept learning rates and the checks every sweep setting goes through."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

MODES = ("exp", "linear")


def validate_sweep(
    start_lr: float,
    end_lr: float,
    num_steps: int,
    mode: str,
    smoothing: float | None = None,
    diverge_factor: float | None = None,
) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first sweep setting that is not allowed
    (``smoothing`` and ``diverge_factor`` only when given)."""
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be finite, got {value!r}")
    if start_lr <= 0:
        raise ValueError(f"start_lr: must be > 0, got {start_lr!r}")
    if end_lr <= start_lr:
        raise ValueError(f"end_lr: must be greater than start_lr ({start_lr!r}), got {end_lr!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps: must be an integer, got {num_steps!r}")
    if num_steps < 2:
        raise ValueError(f"num_steps: must be >= 2, got {num_steps!r}")
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if smoothing is not None and not (
        isinstance(smoothing, (int, float)) and 0.0 <= smoothing < 1.0
    ):
        raise ValueError(f"smoothing: must be in [0, 1), got {smoothing!r}")
    if diverge_factor is None:
        return
    if isinstance(diverge_factor, bool) or not isinstance(diverge_factor, (int, float)):
        raise TypeError(f"diverge_factor: must be a number, got {diverge_factor!r}")
    if not (math.isfinite(diverge_factor) and diverge_factor > 1):
        raise ValueError(f"diverge_factor: must be a finite number > 1, got {diverge_factor!r}")


def check_count(name: str, value: Any) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name}: must be >= 1, got {value!r}")


def lr_sweep(start_lr: float, end_lr: float, num_steps: int, mode: str = "exp") -> NDArray[Any]:
    """The swept learning rates: geometric (``mode="exp"``) or evenly spaced (``"linear"``)."""
    validate_sweep(start_lr, end_lr, num_steps, mode)
    if mode == "exp":
        return np.geomspace(start_lr, end_lr, num_steps)
    return np.linspace(start_lr, end_lr, num_steps)
