"""A strategy: an optimizer, a learning rate (or ``"found"`` by a range test) and a schedule.

Strategies come from presets (:mod:`lrkit.compare.presets`) or from a YAML/JSON file::

    strategies:
      - name: sgd step decay
        optimizer: momentum
        lr: 0.1
        schedule: {name: step_decay, decay_steps: 3, gamma: 0.5}
      - name: clr triangular
        optimizer: momentum
        schedule: {name: triangular, unit: step, floor: found.low, lr: found.high,
                   up_steps: 2 epochs}
        cycle_momentum: [0.85, 0.95]

Files are read with ``yaml.safe_load`` / ``json.loads`` only. Every error names the field,
e.g. ``strategies[1].schedule.gamma: must be in (0, 1), got 1.5``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrkit.compare.resolve import (
    PROBED,
    Context,
    build,
    current_spec,
    placeholder,
    positive_lr,
    resolve_schedule,
    resolve_value,
    uses_found,
)

FIELDS = ("name", "optimizer", "lr", "schedule", "cycle_momentum", "optimizer_params")


@dataclass(frozen=True)
class Strategy:
    """How to set the learning rate for one training run.

    ``lr``: a number, ``"found"`` (the range test's suggestion), ``"found.probed"`` (the
    probe's suggestion) or ``None`` when ``schedule``
    gives the learning rate. ``schedule``: a flat spec (see :mod:`lrkit.compare.resolve`).
    ``cycle_momentum``: ``(low, high)`` to mirror momentum (or Adam's beta1) to the schedule,
    as in Smith's one-cycle policy. ``optimizer_params``: extra optimizer arguments.
    """

    name: str
    optimizer: str = "sgd"
    lr: float | str | None = None
    schedule: Mapping[str, Any] | None = None
    cycle_momentum: tuple[float, float] | None = None
    optimizer_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self, "strategy")

    @property
    def needs_range_test(self) -> bool:
        """Whether a ``found`` word appears in ``lr`` or the schedule."""
        return uses_found(self.lr) or uses_found(self.schedule)

    @property
    def needs_probe(self) -> bool:
        """Whether ``found.probed`` appears in ``lr`` or the schedule."""
        return uses_found(self.lr, (PROBED,)) or uses_found(self.schedule, (PROBED,))

    @property
    def range_test_key(self) -> str:
        """Strategies with the same key share one range test (same optimizer and arguments)."""
        return json.dumps([self.optimizer, dict(self.optimizer_params)], sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"name": self.name, "optimizer": self.optimizer}
        if self.lr is not None:
            out["lr"] = self.lr
        if self.schedule is not None:
            out["schedule"] = json.loads(json.dumps(self.schedule))
        if self.cycle_momentum is not None:
            out["cycle_momentum"] = list(self.cycle_momentum)
        if self.optimizer_params:
            out["optimizer_params"] = dict(self.optimizer_params)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "strategy") -> Strategy:
        """A strategy from plain data; errors name the field as ``where.field``."""
        if not isinstance(data, Mapping):
            raise TypeError(
                f"{where}: must be a mapping with fields {', '.join(FIELDS)}, got {data!r}"
            )
        unknown = [key for key in data if key not in FIELDS]
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]}: unknown field; allowed fields are {', '.join(FIELDS)}"
            )
        if "name" not in data:
            raise ValueError(f"{where}.name: missing; every strategy needs a name")
        params = data.get("optimizer_params", {})
        if not isinstance(params, Mapping):
            raise TypeError(f"{where}.optimizer_params: must be a mapping, got {params!r}")
        try:
            return cls(
                name=data["name"],
                optimizer=data.get("optimizer", "sgd"),
                lr=data.get("lr"),
                schedule=data.get("schedule"),
                cycle_momentum=data.get("cycle_momentum"),
                optimizer_params=dict(params),
            )
        except (TypeError, ValueError) as exc:
            message = str(exc)
            if message.startswith("strategy"):
                message = where + message.removeprefix("strategy")
            raise type(exc)(message) from None

    def resolve(self, ctx: Context, where: str | None = None) -> dict[str, Any]:
        """The strategy resolved for ``ctx``: its values turned into numbers (a plain dict,
        stored as ``resolved``): optimizer, schedule data (numbers only), momentum, and ``lr``:
        the learning rate the run starts with."""
        where = where or f"strategy {self.name!r}"
        lr = resolve_value(self.lr, ctx, "epoch", f"{where}.lr") if self.lr is not None else None
        resolved: dict[str, Any] = {
            "name": self.name,
            "optimizer": self.optimizer,
            "optimizer_params": dict(self.optimizer_params),
            "lr": lr,
            "schedule": None,
            "cycle_momentum": list(self.cycle_momentum) if self.cycle_momentum else None,
        }
        if self.schedule is not None:
            resolved["schedule"] = resolve_schedule(
                self.schedule, ctx, lr=self.lr, field=f"{where}.schedule"
            )
            schedule = build(resolved["schedule"]["schedule"], f"{where}.schedule")
            if self.cycle_momentum is not None:
                mirror = getattr(schedule, "momentum", None)
                if not callable(mirror):
                    raise ValueError(
                        f"{where}.cycle_momentum: schedule {schedule.name!r} has no mirrored "
                        "momentum; use a cyclical or one_cycle schedule, or drop cycle_momentum"
                    )
                try:
                    mirror(*self.cycle_momentum)
                except ValueError as exc:
                    raise ValueError(f"{where}.cycle_momentum: {exc}") from None
            resolved["lr"] = float(schedule(0))
        return resolved


def validate(strategy: Strategy, where: str) -> None:
    """Raise a ``ValueError``/``TypeError`` naming the first bad field of ``strategy``."""
    from lrkit.torch import optimizers

    if not isinstance(strategy.name, str) or not strategy.name.strip():
        raise ValueError(f"{where}.name: must be a non-empty string, got {strategy.name!r}")
    optimizers.check_name(strategy.optimizer, f"{where}.optimizer")
    if strategy.lr is None and strategy.schedule is None:
        raise ValueError(
            f"{where}.lr: missing; give a learning rate, 'found', 'found.probed' or a schedule"
        )
    if strategy.lr is not None and strategy.lr not in ("found", PROBED):
        positive_lr(strategy.lr, f"{where}.lr")
    if strategy.cycle_momentum is not None:
        if strategy.schedule is None:
            raise ValueError(f"{where}.cycle_momentum: needs a schedule to mirror")
        object.__setattr__(
            strategy, "cycle_momentum", _pair(strategy.cycle_momentum, f"{where}.cycle_momentum")
        )
    _check_optimizer_params(strategy, where)
    if strategy.schedule is not None:
        try:
            object.__setattr__(strategy, "schedule", current_spec(strategy.schedule))
        except ValueError as exc:
            raise ValueError(f"{where}.schedule.{exc}") from None
        strategy.resolve(placeholder(epochs=10, steps_per_epoch=10), where)


def _pair(value: Any, where: str) -> tuple[float, float]:
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"{where}: must be two numbers [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high < 1):
        raise ValueError(f"{where}: must satisfy 0 < low <= high < 1, got {list(value)!r}")
    return low, high


def _check_optimizer_params(strategy: Strategy, where: str) -> None:
    """Build the optimizer on a probe tensor when there is something to check (building the
    first torch optimizer in a process is slow)."""
    if not strategy.optimizer_params and strategy.cycle_momentum is None:
        return
    import torch

    from lrkit.torch import optimizers

    probe = torch.zeros(1, requires_grad=True)
    try:
        optimizer = optimizers.make_optimizer(
            strategy.optimizer, [probe], lr=1e-3, **dict(strategy.optimizer_params)
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.optimizer_params: {exc}") from None
    if strategy.cycle_momentum is not None:
        group = optimizer.param_groups[0]
        if "momentum" not in group and "betas" not in group:
            raise ValueError(
                f"{where}.cycle_momentum: optimizer {strategy.optimizer!r} has no momentum "
                "or betas to cycle"
            )


def strategies_from_data(data: Any, source: str) -> list[Strategy]:
    """Strategies from parsed file data: a list, or a mapping with a ``strategies`` list."""
    where = "strategies"
    if isinstance(data, Mapping):
        extra = [key for key in data if key != "strategies"]
        if extra:
            raise ValueError(f"{source}: {extra[0]}: unknown top-level field; use 'strategies'")
        data = data.get("strategies")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{source}: {where}: must be a non-empty list of strategies")
    out = [Strategy.from_dict(item, f"{where}[{i}]") for i, item in enumerate(data)]
    check_unique(out, where)
    return out


def check_unique(strategies: Sequence[Strategy], where: str = "strategies") -> None:
    """Refuse two strategies with one name (results are stored by name)."""
    seen: set[str] = set()
    for i, strategy in enumerate(strategies):
        if strategy.name in seen:
            raise ValueError(f"{where}[{i}].name: {strategy.name!r} is used twice")
        seen.add(strategy.name)


def load_strategies(path: str | Path) -> list[Strategy]:
    """Read strategies from a ``.yaml``/``.yml`` (safe loader) or ``.json`` file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"strategies: no such file {source}")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{source}: not a strategies file (not UTF-8 text)") from None
    suffix = source.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON ({exc})") from None
    elif suffix in (".yaml", ".yml"):
        from lrkit._optional import require

        yaml = require("yaml", "all")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from None
    else:
        raise ValueError(f"strategies: {source} must end in .yaml, .yml or .json")
    try:
        return strategies_from_data(data, str(source))
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if not message.startswith(str(source)):
            message = f"{source}: {message}"
        raise type(exc)(message) from None
