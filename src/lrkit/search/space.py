"""What a search may vary: the learning rate, and any other named parameter with any Optuna
distribution (float, log or linear, optionally stepped; int; categorical).

A :class:`Space` is a read-only mapping from parameter names to Optuna distributions. It
turns into the points of a grid or of a log-scale sweep (enqueued once each), asks an Optuna
trial for a point (define-by-run), and turns into JSON and back, so that every worker of a
study rebuilds the same space. :mod:`lrkit.search.params` lists the forms a parameter takes.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from optuna.distributions import CategoricalDistribution, FloatDistribution

from lrkit.search import params as P
from lrkit.search.params import Distribution

#: lrkit's own parameters, in display order (any other name may be searched too).
PARAMS = ("lr", "optimizer", "schedule", "batch_size", "momentum")
_LISTS = ("optimizer", "schedule", "batch_size")  # an empty list: not searched


class Space(Mapping[str, Distribution]):
    """``lr`` (a ``(low, high)`` pair is a log-scale range) and any other parameters.

    ``optimizer``, ``schedule`` and ``batch_size`` are lists of choices (empty: not searched),
    ``momentum`` a ``(low, high)`` pair on a linear scale; every parameter, these included,
    may also be any form :func:`lrkit.search.params.to_distribution` reads, e.g.
    ``Space(lr=(1e-4, 1e-1), weight_decay=FloatDistribution(1e-6, 1e-2, log=True))``.
    """

    def __init__(
        self,
        /,
        lr: Any,
        optimizer: Any = (),
        schedule: Any = (),
        batch_size: Any = (),
        momentum: Any = None,
        **params: Any,
    ) -> None:
        given = {"lr": lr, "optimizer": optimizer, "schedule": schedule}
        given.update(batch_size=batch_size, momentum=momentum, **params)
        found: dict[str, Distribution] = {}
        for name, value in given.items():
            empty = name in _LISTS and isinstance(value, (list, tuple)) and not value
            if value is None or empty:
                continue
            found[name] = _check_known(name, P.to_distribution(name, value))
        self._distributions = found

    def __getitem__(self, name: str) -> Distribution:
        return self._distributions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._distributions)

    def __len__(self) -> int:
        return len(self._distributions)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"Space({self.describe()})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        """A space from ``{"lr": (low, high), "weight_decay": "float:1e-6:1e-2:log", ...}``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"space: must be a Space or a dict, got {type(data).__name__}")
        if not data:
            raise ValueError(
                "space: is empty; it needs at least the learning-rate range, "
                "e.g. {'lr': (1e-4, 1e-1)}"
            )
        if "lr" not in data:
            raise ValueError(f"space: needs 'lr': (low, high); got only {sorted(data)}")
        bad = [name for name in data if not isinstance(name, str) or not name]
        if bad:
            raise TypeError(f"space: parameter names must be non-empty strings, got {bad}")
        return cls(**data)

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
        **params: Any,
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
            **params,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, each parameter in its shortest form; the inverse of :meth:`from_dict`."""
        return {name: P.to_json(name, dist) for name, dist in self.items()}

    @property
    def lr(self) -> tuple[float, float]:
        """The lowest and highest learning rate the space holds."""
        low, high = P.bounds(self["lr"])
        return float(low), float(high)

    @property
    def names(self) -> list[str]:
        """The parameters this space sets, lr first."""
        return list(self)

    @property
    def varied(self) -> list[str]:
        """The parameters that take more than one value."""
        return [name for name, dist in self.items() if not dist.single()]

    def distributions(self) -> dict[str, Distribution]:
        """The Optuna distribution of every parameter."""
        return dict(self._distributions)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one point of this space (define-by-run)."""
        return {name: P.suggest(trial, name, dist) for name, dist in self.items()}

    def grid(self, n_points: int) -> list[dict[str, Any]]:
        """Every combination: ``k`` points of each range (log-spaced on a log scale) times
        every choice.

        ``k`` is chosen so that the grid has exactly ``n_points`` points; a count no grid over
        this space can have is refused with the counts that work.
        """
        ranges = [name for name, d in self.items() if _is_range(d)]
        n_combos = math.prod(
            len(d.choices) for d in self.values() if isinstance(d, CategoricalDistribution)
        )
        n_ranges = len(ranges)
        per_range = round((n_points / n_combos) ** (1 / n_ranges)) if n_ranges else 1
        if per_range < 1 or n_combos * per_range**n_ranges != n_points:
            if n_ranges:
                options = [n_combos * k**n_ranges for k in range(1, 6)]
                hint = f"times k^{n_ranges} range points, so it cannot have {n_points} points; "
                hint += f"use one of {options} (or more)"
            else:
                hint = f"and no range, so it has exactly {n_combos} points, not {n_points}"
            raise ValueError(
                f"n_trials: a grid over this space has {n_combos} choice combination(s) {hint}"
            )
        axes = [(name, P.grid_values(name, d, per_range)) for name, d in self.items()]
        names = [name for name, _ in axes]
        combos = itertools.product(*(values for _, values in axes))
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def log_sweep(self, n_points: int) -> list[dict[str, Any]]:
        """``n_points`` learning rates spaced evenly on a log scale over ``lr``.

        Only the learning rate is swept; every other parameter must have a single value.
        """
        if n_points < 1:
            raise ValueError(f"n_trials: must be >= 1, got {n_points}")
        lr = self["lr"]
        if not isinstance(lr, FloatDistribution) or lr.step is not None:
            raise ValueError(
                f"sampler: 'log' sweeps a continuous lr range, but the space has "
                f"{P.describe('lr', lr)}; use sampler='grid'"
            )
        varied = [name for name in self.varied if name != "lr"]
        if varied:
            raise ValueError(
                f"sampler: 'log' sweeps only the learning rate, but the space also varies "
                f"{varied}; use sampler='grid' or fix them to one value"
            )
        fixed = {name: P.grid_values(name, d, 1)[0] for name, d in self.items() if name != "lr"}
        return [{"lr": value, **fixed} for value in P.geomspace(lr.low, lr.high, n_points)]

    def describe(self) -> str:
        """One line, e.g. ``lr in [0.0001, 0.1] (log) · optimizer in {sgd, adam}``."""
        return " · ".join(P.describe(name, dist) for name, dist in self.items())


def as_space(space: Space | Mapping[str, Any]) -> Space:
    """``space`` itself, or a :class:`Space` built from a dict."""
    return space if isinstance(space, Space) else Space.from_dict(space)


def _is_range(distribution: Distribution) -> bool:
    return not isinstance(distribution, CategoricalDistribution) and not distribution.single()


def _check_known(name: str, distribution: Distribution) -> Distribution:
    """lrkit's own parameters keep their meaning: a positive lr, momentum in [0, 1),
    batch sizes that are integers >= 1, optimizer and schedule names."""
    if name in ("optimizer", "schedule"):
        choices = getattr(distribution, "choices", None)
        if choices is None or not all(isinstance(v, str) and v for v in choices):
            raise TypeError(
                f"{name}: must be a list of names, got {P.describe(name, distribution)}"
            )
        return distribution
    if name not in ("lr", "momentum", "batch_size"):
        return distribution
    if not P.numeric(distribution):
        raise TypeError(f"{name}: values must be numbers, got {P.describe(name, distribution)}")
    low, high = P.bounds(distribution)
    if name == "lr" and low <= 0:
        raise ValueError(f"lr: learning rates must be > 0, got {P.describe(name, distribution)}")
    if name == "momentum" and (low < 0 or high >= 1):
        raise ValueError(f"momentum: must lie in [0, 1), got ({low}, {high})")
    if name == "batch_size":
        if not P.integral(distribution):
            raise TypeError(
                f"batch_size: choices must be integers, got {P.describe(name, distribution)}"
            )
        if low < 1:
            raise ValueError(
                f"batch_size: every choice must be >= 1, got {P.describe(name, distribution)}"
            )
    return distribution
