"""From a strategy's schedule spec (as a user writes it) to a concrete schedule.

A spec is flat: ``{"name": "step_decay", "unit": "epoch", "decay_steps": 2, "gamma": 0.5}``.
``unit`` says when the scheduler steps and what step counts mean: ``"epoch"`` (the default,
one step per epoch, as in the seeds' Keras ``LearningRateScheduler``) or ``"step"`` (one step
per batch). Besides numbers, a parameter may be one of these words:

- ``"found"``: the range test's suggested learning rate;
- ``"found.low"`` / ``"found.high"``: the range test's cyclical bounds (Smith's rule);
- ``"found.probed"``: the suggestion of the probe (:mod:`lrkit.probe`) between the range
  test's bold and safe candidates, each trained for a third of the comparison's budget;
- ``"budget"``: the length of the run in the spec's unit (epochs, or batches);
- ``"N epochs"``: ``N`` epochs in the spec's unit (``N`` with ``unit: epoch``,
  ``round(N · batches per epoch)`` with ``unit: step``).

A missing ``lr`` parameter is filled with the strategy's ``lr``. Nested schedules (the
``schedule`` of ``warmup`` and ``scale``, the ``schedules`` of ``sequence``) are flat specs too.
A parameter under its old name (``step_size``, ``max_lr``, …; see :mod:`lrkit.schedules`) is
read as its new one (:func:`current_spec`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNITS = ("epoch", "step")
FOUND_TOKENS = ("found", "found.low", "found.high", "found.probed")
PROBED = "found.probed"
TOKENS = (*FOUND_TOKENS, "budget", "N epochs")
_EPOCHS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*epochs?\s*$")


@dataclass(frozen=True)
class Context:
    """What the words in a spec stand for in one comparison."""

    epochs: int
    steps_per_epoch: int
    found: float | None = None
    low: float | None = None
    high: float | None = None
    probed: float | None = None
    reason: str | None = None

    def budget(self, unit: str) -> int:
        """The run length in ``unit``: ``epochs``, or ``epochs · steps_per_epoch``."""
        return self.epochs if unit == "epoch" else self.epochs * self.steps_per_epoch


def placeholder(epochs: int, steps_per_epoch: int) -> Context:
    """Stand-ins for the range test's numbers (1e-3, bounds 1e-4 … 1e-2), to check a spec
    before the test has run."""
    return Context(epochs, steps_per_epoch, found=1e-3, low=1e-4, high=1e-2, probed=1e-3)


def uses_found(value: Any, words: tuple[str, ...] = FOUND_TOKENS) -> bool:
    """Whether ``value`` (a spec, list or scalar) contains one of ``words`` (by default any
    ``found`` word) anywhere."""
    if isinstance(value, str):
        return value in words
    if isinstance(value, Mapping):
        return any(uses_found(item, words) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(uses_found(item, words) for item in value)
    return False


def current_spec(spec: Any, *, warn: bool = True) -> Any:
    """``spec`` (nested specs too) with each old parameter name replaced by its new one, with a
    ``DeprecationWarning`` for each if ``warn``; anything else is returned as it is."""
    from lrkit import schedules

    if isinstance(spec, (list, tuple)):
        return [current_spec(item, warn=warn) for item in spec]
    if not isinstance(spec, Mapping):
        return spec
    out = {key: current_spec(value, warn=warn) for key, value in spec.items()}
    name = out.get("name")
    if isinstance(name, str) and name in schedules.names():
        out = schedules.current_params(name, out, warn=warn)
    return out


def current_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A stored strategy definition with its schedule spec in the current names, no warning."""
    out = dict(definition)
    if "schedule" in out:
        out["schedule"] = current_spec(out["schedule"], warn=False)
    return out


def resolve_value(value: Any, ctx: Context, unit: str, field: str) -> Any:
    """``value`` with every word replaced by its number; nested specs become ``from_dict`` data."""
    if isinstance(value, str):
        return _word(value, ctx, unit, field)
    if isinstance(value, Mapping):
        return _nested(value, ctx, unit, field)
    if isinstance(value, (list, tuple)):
        return [resolve_value(item, ctx, unit, f"{field}[{i}]") for i, item in enumerate(value)]
    return value


def _word(word: str, ctx: Context, unit: str, field: str) -> Any:
    found = {"found": ctx.found, "found.low": ctx.low, "found.high": ctx.high, PROBED: ctx.probed}
    if word in found:
        number = found[word]
        if number is None:
            why = f" ({ctx.reason})" if ctx.reason else ""
            raise ValueError(f"{field}: {word!r} needs a range test, which found no value{why}")
        return number
    if word == "budget":
        return ctx.budget(unit)
    match = _EPOCHS.match(word)
    if match:
        epochs = float(match.group(1))
        if unit == "epoch":
            return int(epochs) if epochs.is_integer() else epochs
        return max(1, round(epochs * ctx.steps_per_epoch))
    return word


def _nested(spec: Mapping[str, Any], ctx: Context, unit: str, field: str) -> dict[str, Any]:
    name = spec.get("name")
    if not isinstance(name, str):
        raise ValueError(f"{field}.name: a schedule spec needs a name, got {name!r}")
    if "unit" in spec:
        raise ValueError(f"{field}.unit: only the outermost schedule has a unit")
    params = {
        key: resolve_value(value, ctx, unit, f"{field}.{key}")
        for key, value in spec.items()
        if key != "name"
    }
    return {"name": name, "params": params}


def resolve_schedule(
    spec: Mapping[str, Any], ctx: Context, *, lr: float | str | None, field: str
) -> dict[str, Any]:
    """``{"unit": ..., "schedule": from_dict data}`` with numbers only; checked by building it."""
    from lrkit import schedules

    if not isinstance(spec, Mapping):
        raise TypeError(f"{field}: must be a mapping such as {{name: cosine, ...}}, got {spec!r}")
    unit = spec.get("unit", "epoch")
    if unit not in UNITS:
        raise ValueError(f"{field}.unit: must be one of {', '.join(UNITS)}, got {unit!r}")
    name = spec.get("name")
    if not isinstance(name, str):
        raise ValueError(f"{field}.name: a schedule spec needs a name, got {name!r}")
    try:
        parameters = [p.name for p in schedules.parameters(name)]
    except ValueError as exc:
        raise ValueError(f"{field}.{exc}") from None
    inner = {key: value for key, value in spec.items() if key != "unit"}
    if "lr" in parameters and "lr" not in inner and lr is not None:
        inner["lr"] = lr
    data = _nested(inner, ctx, unit, field)
    build(data, field)
    return {"unit": unit, "schedule": data}


def build(data: Mapping[str, Any], field: str) -> Any:
    """The schedule object for ``from_dict`` data; errors name ``field`` and the parameter."""
    from lrkit import schedules

    try:
        return schedules.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{field}.{exc}") from None


def positive_lr(value: Any, field: str) -> float:
    """A finite learning rate > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field}: must be a number > 0 or 'found', got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{field}: must be a finite number > 0 or 'found', got {value!r}")
    return float(value)
