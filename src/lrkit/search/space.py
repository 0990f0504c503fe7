"""What a search may vary: the learning rate (log scale) and optionally schedule, optimizer,
batch size and momentum.

A :class:`Space` is plain data. It turns into Optuna distributions (for samplers), into the
points of a grid or of a log-scale sweep (enqueued once each), and into JSON.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The parameters a space may hold, in display order.
PARAMS = ("lr", "optimizer", "schedule", "batch_size", "momentum")
_CHOICES = ("optimizer", "schedule", "batch_size")


@dataclass(frozen=True)
class Space:
    """``lr`` in ``[low, high]`` on a log scale; the other fields are optional.

    ``optimizer``, ``schedule`` and ``batch_size`` are lists of choices; ``momentum`` is a
    ``(low, high)`` range on a linear scale. A field left empty is not searched.
    """

    lr: tuple[float, float]
    optimizer: tuple[str, ...] = ()
    schedule: tuple[str, ...] = ()
    batch_size: tuple[int, ...] = ()
    momentum: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _range("lr", self.lr, positive=True))
        if self.momentum is not None:
            low, high = _range("momentum", self.momentum, positive=False)
            if low < 0 or high >= 1:
                raise ValueError(f"momentum: must lie in [0, 1), got ({low}, {high})")
            object.__setattr__(self, "momentum", (low, high))
        for name in ("optimizer", "schedule"):
            object.__setattr__(self, name, _choices(name, getattr(self, name), str))
        sizes = _choices("batch_size", self.batch_size, int)
        if any(size < 1 for size in sizes):
            raise ValueError(f"batch_size: every choice must be >= 1, got {list(sizes)}")
        object.__setattr__(self, "batch_size", sizes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        """A space from ``{"lr": (low, high), "optimizer": [...], ...}`` (as in JSON)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"space: must be a Space or a dict, got {type(data).__name__}")
        if not data:
            raise ValueError(
                "space: is empty; it needs at least the learning-rate range, "
                "e.g. {'lr': (1e-4, 1e-1)}"
            )
        unknown = sorted(set(data) - set(PARAMS))
        if unknown:
            raise ValueError(f"space: unknown parameter(s) {unknown}; allowed: {list(PARAMS)}")
        if "lr" not in data:
            raise ValueError(f"space: needs 'lr': (low, high); got only {sorted(data)}")
        fields = {name: data[name] for name in PARAMS if data.get(name) is not None}
        for name in ("lr", "momentum"):
            if name in fields:
                fields[name] = tuple(fields[name])
        for name in _CHOICES:
            if name in fields:
                fields[name] = tuple(fields[name])
        return cls(**fields)

    @classmethod
    def around(
        cls,
        suggestion: Any,
        *,
        width: float = 10.0,
        optimizer: Sequence[str] = (),
        schedule: Sequence[str] = (),
        batch_size: Sequence[int] = (),
        momentum: tuple[float, float] | None = None,
    ) -> Space:
        """Search ``lr`` in ``[s / width, s · width]`` around a range-test suggestion ``s``.

        ``suggestion`` is a learning rate or a range-test result (anything with ``.suggestion``
        and ``.lrs``); with a result the range is clipped to the learning rates it swept.
        """
        if not math.isfinite(width) or width <= 1:
            raise ValueError(f"width: must be a finite number > 1, got {width}")
        swept: tuple[float, float] | None = None
        if hasattr(suggestion, "suggestion"):
            lrs = [float(v) for v in getattr(suggestion, "lrs", [])]
            swept = (min(lrs), max(lrs)) if lrs else None
            suggestion = suggestion.suggestion
        lr = float(suggestion)
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"suggestion: must be a positive learning rate, got {suggestion}")
        low, high = lr / width, lr * width
        if swept is not None:
            low, high = max(low, swept[0]), min(high, swept[1])
        return cls(
            lr=(low, high),
            optimizer=tuple(optimizer),
            schedule=tuple(schedule),
            batch_size=tuple(batch_size),
            momentum=momentum,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; the inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {"lr": list(self.lr)}
        for name in _CHOICES:
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.momentum is not None:
            out["momentum"] = list(self.momentum)
        return out

    @property
    def names(self) -> list[str]:
        """The parameters this space sets, in display order."""
        return [name for name in PARAMS if name in self.to_dict()]

    @property
    def varied(self) -> list[str]:
        """The parameters that take more than one value."""
        fixed = {name for name in _CHOICES if len(getattr(self, name)) == 1}
        return [name for name in self.names if name not in fixed]

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions, one per parameter (lr log-uniform, momentum uniform)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        out: dict[str, Any] = {"lr": FloatDistribution(*self.lr, log=True)}
        for name in _CHOICES:
            if getattr(self, name):
                out[name] = CategoricalDistribution(getattr(self, name))
        if self.momentum is not None:
            out["momentum"] = FloatDistribution(*self.momentum)
        return out

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one point of this space (define-by-run)."""
        params: dict[str, Any] = {"lr": trial.suggest_float("lr", *self.lr, log=True)}
        for name in _CHOICES:
            if getattr(self, name):
                params[name] = trial.suggest_categorical(name, getattr(self, name))
        if self.momentum is not None:
            params["momentum"] = trial.suggest_float("momentum", *self.momentum)
        return params

    def grid(self, n_points: int) -> list[dict[str, Any]]:
        """Every combination: ``k`` log-spaced lrs (and ``k`` momenta) times every choice.

        ``k`` is chosen so that the grid has exactly ``n_points`` points; a count no grid over
        this space can have is refused with the counts that work.
        """
        choices = [(name, list(getattr(self, name))) for name in _CHOICES if getattr(self, name)]
        n_combos = math.prod(len(values) for _, values in choices)
        n_ranges = 1 + (self.momentum is not None)
        per_range = round((n_points / n_combos) ** (1 / n_ranges))
        if per_range < 1 or n_combos * per_range**n_ranges != n_points:
            options = [n_combos * k**n_ranges for k in range(1, 6)]
            raise ValueError(
                f"n_trials: a grid over this space has {n_combos} choice combination(s) times "
                f"k^{n_ranges} range points, so it cannot have {n_points} points; "
                f"use one of {options} (or more)"
            )
        axes: list[tuple[str, list[Any]]] = [("lr", _geomspace(*self.lr, per_range))]
        axes += choices
        if self.momentum is not None:
            axes.append(("momentum", _linspace(*self.momentum, per_range)))
        names = [name for name, _ in axes]
        combos = itertools.product(*(values for _, values in axes))
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def log_sweep(self, n_points: int) -> list[dict[str, Any]]:
        """``n_points`` learning rates spaced evenly on a log scale over ``lr``.

        Only the learning rate is swept; every other parameter must have a single value.
        """
        if n_points < 1:
            raise ValueError(f"n_trials: must be >= 1, got {n_points}")
        varied = [name for name in self.varied if name != "lr"]
        if varied:
            raise ValueError(
                f"sampler: 'log' sweeps only the learning rate, but the space also varies "
                f"{varied}; use sampler='grid' or fix them to one value"
            )
        fixed = {name: getattr(self, name)[0] for name in _CHOICES if getattr(self, name)}
        return [{"lr": lr, **fixed} for lr in _geomspace(*self.lr, n_points)]

    def describe(self) -> str:
        """One line, e.g. ``lr in [1e-04, 1e-01] (log) · optimizer in {sgd, adam}``."""
        parts = [f"lr in [{self.lr[0]:.3g}, {self.lr[1]:.3g}] (log)"]
        for name in _CHOICES:
            values = getattr(self, name)
            if values:
                parts.append(f"{name} in {{{', '.join(str(v) for v in values)}}}")
        if self.momentum is not None:
            parts.append(f"momentum in [{self.momentum[0]:g}, {self.momentum[1]:g}]")
        return " · ".join(parts)


def as_space(space: Space | Mapping[str, Any]) -> Space:
    """``space`` itself, or a :class:`Space` built from a dict."""
    return space if isinstance(space, Space) else Space.from_dict(space)


def _range(name: str, value: Any, *, positive: bool) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a (low, high) pair of numbers, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"{name}: needs finite low < high, got ({low}, {high})")
    if positive and low <= 0:
        raise ValueError(f"{name}: a log-scale range needs low > 0, got ({low}, {high})")
    return low, high


def _choices(name: str, values: Any, kind: type) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name}: must be a list of choices, got {values!r}")
    integral = (int, np.integer)
    if kind is int and any(isinstance(v, bool) or not isinstance(v, integral) for v in values):
        raise TypeError(f"{name}: choices must be integers, got {list(values)}")
    if kind is str and not all(isinstance(v, str) and v for v in values):
        raise TypeError(f"{name}: choices must be non-empty strings, got {list(values)}")
    out = tuple(kind(v) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: choices repeat, got {list(out)}")
    return out


def _geomspace(low: float, high: float, n: int) -> list[float]:
    """``n`` points from ``low`` to ``high``, equal ratios; one point is the geometric mean."""
    if n == 1:
        return [math.sqrt(low * high)]
    points = [float(v) for v in np.geomspace(low, high, n)]
    points[0], points[-1] = low, high
    return points


def _linspace(low: float, high: float, n: int) -> list[float]:
    """``n`` evenly spaced points from ``low`` to ``high``; one point is the middle."""
    if n == 1:
        return [(low + high) / 2]
    return [float(v) for v in np.linspace(low, high, n)]
