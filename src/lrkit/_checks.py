"""Argument checks shared across lrkit (the schedules, the plateau controller, the Keras
callbacks).

Each check returns the value normalised (``float`` or ``int``) and raises a ``ValueError`` or
``TypeError`` whose message names the argument, the value received and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise
from numbers import Integral, Real
from typing import Any


def real(name: str, value: Any) -> float:
    """A finite real number (``bool`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return out


def positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    out = real(name, value)
    if out <= 0:
        raise ValueError(f"{name}: must be > 0, got {value!r}")
    return out


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    out = real(name, value)
    if out < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return out


def non_negative_below(name: str, value: Any, bound_name: str, bound: float) -> float:
    """A finite number >= 0 and < ``bound``, the value of the argument ``bound_name``."""
    out = non_negative(name, value)
    if out >= bound:
        raise ValueError(f"{name}: must be < {bound_name} ({bound!r}), got {value!r}")
    return out


def open_unit(name: str, value: Any) -> float:
    """A number in the open interval (0, 1)."""
    out = real(name, value)
    if not 0 < out < 1:
        raise ValueError(f"{name}: must be in (0, 1), got {value!r}")
    return out


def half_open_unit(name: str, value: Any) -> float:
    """A number in (0, 1]."""
    out = real(name, value)
    if not 0 < out <= 1:
        raise ValueError(f"{name}: must be in (0, 1], got {value!r}")
    return out


def integer(name: str, value: Any, minimum: int) -> int:
    """An integer >= ``minimum``; an integral float such as ``100.0`` is accepted."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: must be an integer, got {value!r}")
    if isinstance(value, Integral):
        out = int(value)
    elif isinstance(value, Real) and float(value).is_integer():
        out = int(float(value))
    else:
        raise TypeError(f"{name}: must be an integer, got {value!r}")
    if out < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return out


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """One of the strings in ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}: must be one of {options}, got {value!r}")
    return str(value)


def flag(name: str, value: Any) -> bool:
    """A ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: must be True or False, got {value!r}")
    return value


def sequence(name: str, value: Any) -> list[Any]:
    """A list or tuple (a string is refused)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: must be a list of numbers, got {value!r}")
    return list(value)


def increasing(name: str, values: Sequence[float]) -> None:
    """Raise unless ``values`` increase strictly."""
    for a, b in pairwise(values):
        if b <= a:
            raise ValueError(f"{name}: must be strictly increasing, got {values!r}")
