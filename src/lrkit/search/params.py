"""One searched parameter: an Optuna distribution, written in Python, JSON or on the command line.

A parameter ``NAME`` of a search space may be given as

- an Optuna distribution: ``FloatDistribution(1e-6, 1e-2, log=True)``,
  ``IntDistribution(1, 8)``, ``CategoricalDistribution(["relu", "gelu"])``;
- a JSON object: ``{"type": "float", "low": 1e-6, "high": 1e-2, "log": true}``,
  ``{"type": "int", "low": 16, "high": 256, "step": 16}``,
  ``{"type": "categorical", "choices": ["relu", "gelu"]}``, or Optuna's own JSON
  (:func:`optuna.distributions.distribution_to_json`);
- a string (as ``lrkit search --param NAME=SPEC`` takes it): ``float:1e-6:1e-2:log``,
  ``float:0:0.5:step=0.1``, ``int:1:8``, ``int:16:256:log``, ``choice:relu,gelu``;
- a list of choices: ``["sgd", "adam"]``;
- for ``lr`` and ``momentum`` only, a ``(low, high)`` pair: log scale for ``lr``, linear for
  ``momentum``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    json_to_distribution,
)

Distribution = FloatDistribution | IntDistribution | CategoricalDistribution

#: Names whose ``(low, high)`` pair is a range, and whether that range is on a log scale.
PAIRS = {"lr": True, "momentum": False}
#: Parameters with their own ``lrkit search`` option.
OWN_OPTIONS = ("lr", "optimizer", "schedule", "batch_size", "momentum")
SYNTAX = "float:LOW:HIGH[:log|:step=S], int:LOW:HIGH[:log|:step=S] or choice:A,B,..."
FORMS = (
    "an optuna distribution, a list of choices, a string "
    f"{SYNTAX}, or an object with 'type' float, int or categorical"
)
_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}}
_KEYS["categorical"] = {"choices"}


def to_distribution(name: str, value: Any) -> Distribution:
    """The Optuna distribution ``value`` stands for (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"space: parameter names must be non-empty strings, got {name!r}")
    if isinstance(value, BaseDistribution):
        if not isinstance(value, (FloatDistribution, IntDistribution, CategoricalDistribution)):
            raise TypeError(f"{name}: unsupported distribution {type(value).__name__}")
        return _checked(name, value)
    if isinstance(value, str):
        return _from_text(name, value)
    if isinstance(value, Mapping):
        return _from_object(name, value)
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(value)
        if name in PAIRS:
            return _pair(name, values)
        if isinstance(value, tuple) and len(values) == 2 and all(_is_number(v) for v in values):
            low, high = values
            raise ValueError(
                f"{name}: a (low, high) pair is a range only for {' and '.join(PAIRS)}; give "
                f"'float:{low}:{high}[:log]' (or a FloatDistribution) for a range, or a list "
                f"[{low}, {high}] for two choices"
            )
        return categorical(name, values)
    raise TypeError(f"{name}: must be {FORMS}; got {value!r}")


def to_json(name: str, distribution: Distribution) -> Any:
    """The shortest JSON form of ``distribution`` that :func:`to_distribution` reads back."""
    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        return {"type": "categorical", "choices": choices} if name in PAIRS else choices
    low, high, log = distribution.low, distribution.high, distribution.log
    if isinstance(distribution, FloatDistribution):
        if PAIRS.get(name) is log and distribution.step is None:
            return [low, high]
        out: dict[str, Any] = {"type": "float", "low": low, "high": high}
        step: Any = distribution.step
    else:
        out = {"type": "int", "low": low, "high": high}
        step = None if distribution.step == 1 else distribution.step
    if log:
        out["log"] = True
    if step is not None:
        out["step"] = step
    return out


def parse_assignment(text: str) -> tuple[str, Distribution]:
    """``"NAME=SPEC"`` (e.g. ``"weight_decay=float:1e-6:1e-2:log"``) as a name and distribution."""
    name, sep, spec = str(text).partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"--param: expected NAME=SPEC with SPEC {SYNTAX}; got {text!r}")
    return name.strip(), to_distribution(name.strip(), spec.strip())


def parse_assignments(texts: Sequence[str]) -> dict[str, Distribution]:
    """Parameters from ``NAME=SPEC`` texts; a name given twice, or one that has its own
    option (``--lr``, ``--optimizer``, ...), is refused."""
    found: dict[str, Distribution] = {}
    for text in texts:
        name, distribution = parse_assignment(text)
        if name in OWN_OPTIONS:
            raise ValueError(f"--param: {name} has its own option --{name.replace('_', '-')}")
        if name in found:
            raise ValueError(f"--param: {name} is given twice")
        found[name] = distribution
    return found


def categorical(name: str, choices: Sequence[Any]) -> CategoricalDistribution:
    """Choices that JSON keeps as they are: text, numbers, booleans or ``None``, none twice."""
    values = list(choices)
    if not values:
        raise ValueError(f"{name}: needs at least one choice, got none")
    for value in values:
        if value is not None and not isinstance(value, (bool, int, float, str, np.number)):
            raise TypeError(
                f"{name}: a choice must be text, a number, true/false or null, got {value!r}"
            )
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise ValueError(f"{name}: choices must be finite, got {values}")
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if len({json.dumps(v) for v in values}) != len(values):
        raise ValueError(f"{name}: choices repeat, got {values}")
    return CategoricalDistribution(values)


def bounds(distribution: Distribution) -> tuple[Any, Any]:
    """``(low, high)`` of a range, or the smallest and largest of numeric choices."""
    if isinstance(distribution, CategoricalDistribution):
        return min(distribution.choices), max(distribution.choices)  # type: ignore[type-var]
    return distribution.low, distribution.high


def numeric(distribution: Distribution) -> bool:
    """Whether every value ``distribution`` can take is a number."""
    if isinstance(distribution, CategoricalDistribution):
        return all(_is_number(v) for v in distribution.choices)
    return True


def integral(distribution: Distribution) -> bool:
    """Whether every value ``distribution`` can take is an integer."""
    if isinstance(distribution, CategoricalDistribution):
        return all(_is_number(v) and not isinstance(v, float) for v in distribution.choices)
    return isinstance(distribution, IntDistribution)


def describe(name: str, distribution: Distribution) -> str:
    """One phrase, e.g. ``weight_decay in [1e-06, 0.01] (log)`` or ``act in {relu, gelu}``."""
    if isinstance(distribution, CategoricalDistribution):
        return f"{name} in {{{', '.join(str(v) for v in distribution.choices)}}}"
    if isinstance(distribution, IntDistribution):
        text = f"{name} in {distribution.low}..{distribution.high} (int"
        text += f", step {distribution.step}" if distribution.step != 1 else ""
        return text + (", log)" if distribution.log else ")")
    text = f"{name} in [{distribution.low:.3g}, {distribution.high:.3g}]"
    if distribution.step is not None:
        text += f" step {distribution.step:g}"
    return text + (" (log)" if distribution.log else "")


def suggest(trial: Any, name: str, distribution: Distribution) -> Any:
    """Ask Optuna trial ``trial`` for ``name`` from ``distribution`` (define-by-run)."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    kind = trial.suggest_int if isinstance(distribution, IntDistribution) else trial.suggest_float
    return kind(
        name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
    )


def grid_values(name: str, distribution: Distribution, k: int) -> list[Any]:
    """Every choice; or ``k`` points of a range, equal ratios on a log scale, equal steps
    otherwise, both ends included (one point: the geometric or arithmetic middle), moved onto
    the range's steps. A range with fewer than ``k`` distinct steps is refused."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    low, high = float(distribution.low), float(distribution.high)
    if distribution.single():
        return [distribution.low]
    spread = geomspace if distribution.log else linspace
    points = spread(low, high, k)
    step = distribution.step
    if step is None:
        return points
    base, size = Decimal(str(distribution.low)), Decimal(str(step))
    steps = [math.floor((p - low) / step + 0.5) for p in points]  # to the nearest, halves up
    snapped: list[Any] = [float(base + size * n) for n in steps]
    if isinstance(distribution, IntDistribution):
        snapped = [int(p) for p in snapped]
    if len(set(snapped)) != len(snapped):
        count = int(round((high - low) / step)) + 1
        raise ValueError(
            f"n_trials: a grid needs {k} distinct values of {name}, but it has only {count} "
            f"({describe(name, distribution)}); use fewer trials or widen {name}"
        )
    return snapped


def geomspace(low: float, high: float, n: int) -> list[float]:
    """``n`` points from ``low`` to ``high``, equal ratios; one point is the geometric mean."""
    if n == 1:
        return [math.sqrt(low * high)]
    points = [float(v) for v in np.geomspace(low, high, n)]
    points[0], points[-1] = low, high
    return points


def linspace(low: float, high: float, n: int) -> list[float]:
    """``n`` evenly spaced points from ``low`` to ``high``; one point is the middle."""
    if n == 1:
        return [(low + high) / 2]
    return [float(v) for v in np.linspace(low, high, n)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _pair(name: str, values: list[Any]) -> FloatDistribution:
    if len(values) != 2 or not all(_is_number(v) for v in values):
        raise ValueError(f"{name}: must be a (low, high) pair of numbers, got {values!r}")
    low, high = (float(v) for v in values)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"{name}: needs finite low < high, got ({low}, {high})")
    if PAIRS[name] and low <= 0:
        raise ValueError(f"{name}: a log-scale range needs low > 0, got ({low}, {high})")
    return FloatDistribution(low, high, log=PAIRS[name])


def _range(name: str, kind: str, low: Any, high: Any, log: Any, step: Any) -> Distribution:
    """A float or int range, refusing what Optuna would silently change."""
    if not isinstance(log, bool):
        raise TypeError(f"{name}: log must be true or false, got {log!r}")
    for label, value in (("low", low), ("high", high), ("step", step)):
        if value is None and label == "step":
            continue
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"{name}: {label} must be a finite number, got {value!r}")
        if kind == "int" and float(value) != int(value):
            raise ValueError(f"{name}: an int range needs integer {label}, got {value!r}")
    if low > high:
        raise ValueError(f"{name}: needs low <= high, got ({low}, {high})")
    if step is not None and step <= 0:
        raise ValueError(f"{name}: step must be > 0, got {step}")
    if log and step is not None and not (kind == "int" and step == 1):
        raise ValueError(f"{name}: a log-scale range cannot have a step, got step {step}")
    if log and low <= 0:
        raise ValueError(f"{name}: a log-scale range needs low > 0, got ({low}, {high})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a step that does not divide the range: refused below
        made: Distribution
        if kind == "int":
            made = IntDistribution(int(low), int(high), log=log, step=int(step or 1))
        else:
            made = FloatDistribution(float(low), float(high), log=log, step=step)
    if made.high != high:
        raise ValueError(
            f"{name}: step {step} does not divide [{low}, {high}]; make high {made.high} "
            "or choose another step"
        )
    return made


def _from_object(name: str, data: Mapping[str, Any]) -> Distribution:
    if "name" in data and "attributes" in data:
        try:
            found = json_to_distribution(json.dumps(dict(data)))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{name}: not an optuna distribution ({exc})") from None
        return to_distribution(name, found)
    kind = data.get("type")
    if kind not in _KEYS:
        raise ValueError(f"{name}: an object needs 'type' float, int or categorical, got {kind!r}")
    unknown = sorted(set(data) - _KEYS[kind] - {"type"})
    if unknown:
        raise ValueError(
            f"{name}: unknown key(s) {unknown} for type {kind!r}; allowed: {sorted(_KEYS[kind])}"
        )
    if kind == "categorical":
        choices = data.get("choices")
        if not isinstance(choices, (list, tuple)):
            raise TypeError(f"{name}: 'choices' must be a list, got {choices!r}")
        return categorical(name, choices)
    missing = [key for key in ("low", "high") if key not in data]
    if missing:
        raise ValueError(f"{name}: a {kind} range needs {' and '.join(missing)}")
    return _range(name, kind, data["low"], data["high"], data.get("log", False), data.get("step"))


def _from_text(name: str, text: str) -> Distribution:
    kind, _, rest = text.partition(":")
    if kind == "choice":
        return categorical(name, [_scalar(item.strip()) for item in rest.split(",")])
    parts = rest.split(":")
    if kind not in ("float", "int") or len(parts) < 2:
        single = "" if ":" in text else f" (one choice: choice:{text})"
        raise ValueError(f"{name}: cannot read {text!r}; write {SYNTAX}{single}")
    low, high, *options = parts
    log, step = False, None
    for option in options:
        if option == "log":
            log = True
        elif option.startswith("step="):
            step = _number(name, "step", option[5:])
        else:
            raise ValueError(f"{name}: unknown option {option!r} in {text!r}; use log or step=S")
    return _range(name, kind, _number(name, "low", low), _number(name, "high", high), log, step)


def _number(name: str, label: str, text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}: {label} must be a number, got {text!r}") from None


def _scalar(text: str) -> Any:
    """A choice as written: a JSON number, true, false or null, else the text itself."""
    if not text:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


def _checked(name: str, distribution: Distribution) -> Distribution:
    """An Optuna distribution built elsewhere, held to the same rules as the other forms."""
    if isinstance(distribution, CategoricalDistribution):
        return categorical(name, distribution.choices)
    kind = "int" if isinstance(distribution, IntDistribution) else "float"
    step = distribution.step
    if kind == "int" and distribution.log:
        step = None
    return _range(name, kind, distribution.low, distribution.high, distribution.log, step)
