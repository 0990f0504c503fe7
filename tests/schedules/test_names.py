"""One set of parameter names: the old names still work, with a warning, everywhere a
schedule is made or loaded; the lower-case factories are functions with the class's signature."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from lrkit import schedules as S
from lrkit.compare import presets
from lrkit.compare.resolve import current_spec
from lrkit.compare.store import Store
from lrkit.compare.strategy import Strategy
from lrkit.schedules.plateau import ReduceOnPlateau

#: Each schedule with a renamed parameter, built with the old names and with the new ones.
OLD_AND_NEW: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("step_decay", {"lr": 0.1, "step_size": 10}, {"lr": 0.1, "decay_steps": 10}),
    ("polynomial", {"lr": 0.1, "total_steps": 10, "end": 0.01}, {"lr": 0.1, "total_steps": 10,
                                                                 "floor": 0.01}),
    ("one_cycle", {"max_lr": 0.1, "total_steps": 100}, {"lr": 0.1, "total_steps": 100}),
    ("wsd", {"lr": 0.1, "total_steps": 100, "decay_steps": 20}, {"lr": 0.1, "total_steps": 100,
                                                                  "cooldown_steps": 20}),
    *[
        (
            name,
            {"low": 0.01, "high": 0.1, "step_size_up": 5, "step_size_down": 7},
            {"floor": 0.01, "lr": 0.1, "up_steps": 5, "down_steps": 7},
        )
        for name in ("triangular", "triangular2", "exp_range")
    ],
]  # fmt: skip


def _old_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize(("name", "old", "new"), OLD_AND_NEW)
def test_old_names_work_in_the_factory_the_class_and_from_dict(
    name: str, old: dict[str, Any], new: dict[str, Any]
) -> None:
    expected = S.get(name)(**new)
    for make in (getattr(S, name), S.get(name)):
        with pytest.warns(DeprecationWarning, match=rf"^{name}: parameter '\w+' is now called"):
            assert make(**old) == expected
    saved = json.loads(json.dumps({"name": name, "params": old}))
    with pytest.warns(DeprecationWarning):
        assert S.from_dict(saved) == expected


def test_the_warning_points_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        S.one_cycle(max_lr=0.1, total_steps=10)
        S.get("one_cycle")(max_lr=0.1, total_steps=10)
    assert [Path(w.filename).name for w in caught] == ["test_names.py"] * 2


def test_new_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, _, new in OLD_AND_NEW:
            S.from_dict(S.get(name)(**new).to_dict())


def test_a_parameter_under_both_names_is_refused() -> None:
    with pytest.raises(TypeError, match="one_cycle: got 'max_lr' and its new name 'lr'"):
        S.one_cycle(lr=0.1, max_lr=0.2, total_steps=10)
    with pytest.raises(ValueError, match="step_decay: got 'step_size' and its new name"):
        S.from_dict({"name": "step_decay", "params": {"lr": 1, "step_size": 2, "decay_steps": 2}})


CONSTANT = {"name": "constant", "params": {"lr": 0.1}}


def test_old_name_json_of_a_nested_schedule_loads() -> None:
    saved = {
        "name": "sequence",
        "params": {
            "schedules": [
                {"name": "warmup", "params": {"schedule": CONSTANT, "steps": 5}},
                {"name": "one_cycle", "params": {"max_lr": 0.1, "total_steps": 50}},
            ],
            "boundaries": [5],
        },
    }  # fmt: skip
    with pytest.warns(DeprecationWarning):
        loaded = S.from_dict(saved)
    assert loaded == S.sequence([S.warmup(S.constant(0.1), 5), S.one_cycle(0.1, 50)], [5])


def test_reduce_on_plateau_takes_min_lr_as_floor_and_loads_old_saves() -> None:
    with pytest.warns(DeprecationWarning, match="'min_lr' is now called 'floor'"):
        plateau = ReduceOnPlateau(0.1, patience=0, min_lr=0.02)
    assert plateau.floor == 0.02
    saved = plateau.to_dict()
    saved["params"]["min_lr"] = saved["params"].pop("floor")
    with pytest.warns(DeprecationWarning, match="'min_lr' is now called 'floor'"):
        assert (
            ReduceOnPlateau.from_dict(json.loads(json.dumps(saved))).to_dict() == plateau.to_dict()
        )
    assert "min_lr" not in inspect.signature(ReduceOnPlateau).parameters


def test_every_old_name_maps_to_a_parameter_and_is_no_parameter_itself() -> None:
    for name in S.names():
        current = {p.name for p in S.parameters(name)}
        for old, new in S.get(name).renamed.items():
            assert new in current and old not in current, (name, old, new)


@pytest.mark.parametrize("name", S.names())
def test_factories_are_functions_with_the_class_signature(name: str) -> None:
    factory = getattr(S, name)
    assert inspect.isfunction(factory) and factory.__doc__
    ours = [(p.name, p.default, p.kind) for p in inspect.signature(factory).parameters.values()]
    cls = S.get(name)
    theirs = [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]
    assert ours == theirs
    assert f":class:`{cls.__name__}`" in factory.__doc__


def test_current_params_renames_without_warning_when_told() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        renamed = S.current_params("triangular", {"low": 1, "high": 2}, warn=False)
    assert renamed == {"floor": 1, "lr": 2}


def test_a_strategy_spec_with_old_names_is_read_in_the_new_ones() -> None:
    old = {"name": "clr", "optimizer": "momentum"}
    spec = {"name": "triangular", "unit": "step", "low": "found.low", "high": "found.high"}
    with pytest.warns(DeprecationWarning):
        strategy = Strategy.from_dict({**old, "schedule": {**spec, "step_size_up": "1 epoch"}})
    assert strategy.to_dict()["schedule"] == {
        "name": "triangular",
        "unit": "step",
        "floor": "found.low",
        "lr": "found.high",
        "up_steps": "1 epoch",
    }
    nested = {"name": "warmup", "steps": 3, "schedule": {"name": "one_cycle", "max_lr": 1}}
    assert current_spec(nested, warn=False) == {
        "name": "warmup",
        "warmup_steps": 3,
        "schedule": {"name": "one_cycle", "lr": 1},
    }


def test_a_comparison_stored_with_old_names_resumes(tmp_path: Path) -> None:
    """Strategies stored before the rename match today's presets, so the comparison resumes."""
    epochs, steps = 6, 23
    old_definitions = {
        "sgd step decay": {"name": "step_decay", "step_size": 2, "gamma": 0.5},
        "clr triangular": {
            "name": "triangular",
            "unit": "step",
            "low": "found.low",
            "high": "found.high",
            "step_size_up": "1.5 epochs",
        },
        "one-cycle momentum": {
            "name": "one_cycle",
            "unit": "step",
            "max_lr": "found.high",
            "total_steps": "budget",
        },
    }
    today = {
        s.name: s
        for preset in ("decays", "cyclical", "one-cycle")
        for s in presets.PRESETS[preset](epochs, steps)
    }
    with Store(tmp_path) as store:
        for name, schedule in old_definitions.items():
            store.add_strategy({**today[name].to_dict(), "schedule": schedule}, None)
        for name in old_definitions:
            store.add_strategy(today[name].to_dict(), None)  # no "another definition" error
        with pytest.raises(ValueError, match="another definition"):
            changed = {"name": "step_decay", "decay_steps": 3, "gamma": 0.5}
            store.add_strategy({**today["sgd step decay"].to_dict(), "schedule": changed}, None)
