"""Schedules by name: look-up, parameter lists, and rebuilding from ``to_dict()`` data."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrkit.schedules.base import Schedule, renamed_params
from lrkit.schedules.combinators import Scale, ScheduleSequence, Warmup
from lrkit.schedules.cyclical import ExpRange, Triangular, Triangular2
from lrkit.schedules.decay import (
    Cosine,
    CosineRestarts,
    Exponential,
    InverseTime,
    Linear,
    Polynomial,
)
from lrkit.schedules.phased import WSD, Interpolate, OneCycle
from lrkit.schedules.stepwise import Constant, MultiStep, PiecewiseConstant, StepDecay

#: Every schedule, by the name its constructor has (and ``to_dict()["name"]``).
SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (
        Constant,
        StepDecay,
        MultiStep,
        PiecewiseConstant,
        Exponential,
        InverseTime,
        Linear,
        Polynomial,
        Cosine,
        CosineRestarts,
        Triangular,
        Triangular2,
        ExpRange,
        OneCycle,
        WSD,
        Interpolate,
        Warmup,
        ScheduleSequence,
        Scale,
    )
}

#: Names whose parameters include other schedules.
COMBINATORS = ("warmup", "sequence", "scale")


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter: its name, type (as written in the signature) and default."""

    name: str
    type: Any
    default: Any = dataclasses.MISSING

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def names() -> list[str]:
    """Every schedule name, combinators last."""
    return list(SCHEDULES)


def get(name: str) -> type[Schedule]:
    """The schedule class registered as ``name``."""
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        known = ", ".join(SCHEDULES)
        raise ValueError(f"name: unknown schedule {name!r}; known: {known}") from None


def parameters(name: str) -> list[Parameter]:
    """The constructor parameters of schedule ``name``, in order."""
    cls = get(name)
    hints = typing.get_type_hints(cls)
    return [
        Parameter(f.name, hints[f.name], f.default)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    ]


def current_params(name: str, params: Mapping[str, Any], *, warn: bool = True) -> dict[str, Any]:
    """``params`` of schedule ``name`` with each old parameter name replaced by its new one
    (``{"max_lr": 0.1}`` → ``{"lr": 0.1}`` for ``one_cycle``), with a ``DeprecationWarning``
    for each if ``warn``; giving a parameter under both names raises a ``ValueError``."""
    try:
        return renamed_params(get(name), params, warn=warn, stacklevel=2)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _revive(value: Any) -> Any:
    if isinstance(value, Mapping) and "name" in value:
        return from_dict(value)
    if isinstance(value, list):
        return tuple(_revive(v) for v in value)
    return value


def from_dict(data: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from ``schedule.to_dict()`` output (or the same data read from JSON).

    Data saved under a parameter's old name (see :attr:`Schedule.renamed`) still loads, with a
    ``DeprecationWarning``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ValueError(f"schedule: expected {{'name': ..., 'params': {{...}}}}, got {data!r}")
    cls = get(data["name"])
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"params: must be a mapping of parameter names to values, got {params!r}")
    try:
        params = renamed_params(cls, params, stacklevel=2)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    allowed = [p.name for p in parameters(cls.name)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{cls.name}: unknown parameter(s) {unknown}; allowed: {allowed}")
    missing = [p.name for p in parameters(cls.name) if p.required and p.name not in params]
    if missing:
        raise ValueError(f"{cls.name}: missing parameter(s) {missing}")
    return cls(**{key: _revive(value) for key, value in params.items()})
