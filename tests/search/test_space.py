"""The search space: validation, grids and log sweeps, and seeding from a range test."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from lrkit.rangetest import RangeTestResult
from lrkit.search import SearchConfig, Space
from lrkit.search.params import parse_assignment


def test_grid_crosses_log_spaced_lrs_with_every_choice() -> None:
    space = Space(lr=(1e-4, 1e-1), optimizer=("sgd", "adam"))
    points = space.grid(8)
    assert len(points) == 8
    assert [p["lr"] for p in points[::2]] == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert [p["optimizer"] for p in points[:2]] == ["sgd", "adam"]
    assert len({(p["lr"], p["optimizer"]) for p in points}) == 8


def test_grid_with_momentum_spaces_it_linearly() -> None:
    space = Space(lr=(1e-3, 1e-1), momentum=(0.8, 0.98))
    points = space.grid(9)
    assert sorted({p["momentum"] for p in points}) == pytest.approx([0.8, 0.89, 0.98])
    assert sorted({p["lr"] for p in points}) == pytest.approx([1e-3, 1e-2, 1e-1])


def test_grid_refuses_a_count_it_cannot_have() -> None:
    space = Space(lr=(1e-4, 1e-1), optimizer=("sgd", "adam"), momentum=(0.5, 0.9))
    with pytest.raises(ValueError, match=r"cannot have 7 points; use one of \[2, 8, 18"):
        space.grid(7)


def test_log_sweep_hits_both_ends_exactly_with_equal_ratios() -> None:
    lrs = [p["lr"] for p in Space(lr=(1e-5, 1.0)).log_sweep(6)]
    assert lrs[0] == 1e-5 and lrs[-1] == 1.0
    ratios = np.diff(np.log10(lrs))
    assert ratios == pytest.approx([1.0] * 5)
    assert Space(lr=(1e-4, 1e-2)).log_sweep(1) == [{"lr": pytest.approx(1e-3)}]


def test_log_sweep_keeps_single_choices_and_refuses_varied_ones() -> None:
    fixed = Space(lr=(1e-3, 1e-1), optimizer=("sgd",), batch_size=(32,))
    assert fixed.log_sweep(2) == [
        {"lr": 1e-3, "optimizer": "sgd", "batch_size": 32},
        {"lr": 1e-1, "optimizer": "sgd", "batch_size": 32},
    ]
    with pytest.raises(ValueError, match="'log' sweeps only the learning rate.*'optimizer'"):
        Space(lr=(1e-3, 1e-1), optimizer=("sgd", "adam")).log_sweep(4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "space: is empty"),
        ({"optimizer": ["sgd"]}, "space: needs 'lr'"),
        ({"lr": (1e-3, 1e-1), "gamma": (0.1, 0.9)}, r"gamma: a \(low, high\) pair is a range only"),
        ({"lr": (1e-3, 1e-1), "gamma": "gauss:0:1"}, "gamma: cannot read 'gauss:0:1'; write float"),
        ({"lr": (1e-3, 1e-1), "gamma": "float:0:1:lg"}, "gamma: unknown option 'lg'"),
        ({"lr": (1e-3, 1e-1), "gamma": "float:0:x"}, "gamma: high must be a number"),
        ({"lr": (1e-3, 1e-1), "gamma": "float:1:0"}, r"gamma: needs low <= high"),
        ({"lr": (1e-3, 1e-1), "gamma": "float:0:1:log"}, "gamma: a log-scale range needs low > 0"),
        (
            {"lr": (1e-3, 1e-1), "gamma": "float:1e-3:1:log:step=0.1"},
            "gamma: a log-scale range cannot",
        ),
        ({"lr": (1e-3, 1e-1), "gamma": "float:0:1:step=0.3"}, r"gamma: step 0.3 does not divide"),
        ({"lr": (1e-3, 1e-1), "gamma": "int:1.5:4"}, "gamma: an int range needs integer low"),
        ({"lr": (1e-3, 1e-1), "gamma": {"type": "normal"}}, "gamma: an object needs 'type' float"),
        ({"lr": (1e-3, 1e-1), "gamma": {"type": "int", "low": 1}}, "gamma: a int range needs high"),
        (
            {"lr": (1e-3, 1e-1), "gamma": {"type": "float", "low": 0, "high": 1, "lo": 1}},
            r"gamma: unknown key\(s\) \['lo'\] for type 'float'",
        ),
        ({"lr": (1e-3, 1e-1), "gamma": []}, "gamma: needs at least one choice"),
        ({"lr": (1e-3, 1e-1), "gamma": [1.0, math.nan]}, "gamma: choices must be finite"),
        (
            {"lr": (1e-3, 1e-1), "gamma": {"name": "Normal", "attributes": {}}},
            "gamma: not an optuna distribution",
        ),
        ({"lr": "float:-1:1"}, r"lr: learning rates must be > 0"),
        ({"lr": (1e-3, 1e-1), "momentum": "float:0.5:1.5"}, r"momentum: must lie in \[0, 1\)"),
        ({"lr": (1e-3, 1e-1), "batch_size": "int:0:64"}, "batch_size: every choice must be >= 1"),
        ({"lr": (0.0, 1e-1)}, "lr: a log-scale range needs low > 0"),
        ({"lr": (1e-1, 1e-3)}, "lr: needs finite low < high"),
        ({"lr": "fast"}, "lr: cannot read 'fast'"),
        ({"lr": [1e-3, 1e-2, 1e-1]}, "lr: must be a \\(low, high\\) pair"),
        ({"lr": (1e-3, 1e-1), "momentum": (0.5, 1.0)}, r"momentum: must lie in \[0, 1\)"),
        ({"lr": (1e-3, 1e-1), "batch_size": [0, 32]}, "batch_size: every choice must be >= 1"),
        ({"lr": (1e-3, 1e-1), "optimizer": ["sgd", "sgd"]}, "optimizer: choices repeat"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        Space.from_dict(data)


def test_choices_must_be_lists_of_the_right_kind() -> None:
    with pytest.raises(
        ValueError, match=r"optimizer: cannot read 'sgd'.*\(one choice: choice:sgd\)"
    ):
        Space(lr=(1e-3, 1e-1), optimizer="sgd")
    with pytest.raises(TypeError, match="optimizer: must be a list of names"):
        Space(lr=(1e-3, 1e-1), optimizer=[1, 2])
    with pytest.raises(TypeError, match="batch_size: choices must be integers"):
        Space(lr=(1e-3, 1e-1), batch_size=(32.5,))
    with pytest.raises(TypeError, match="batch_size: choices must be integers"):
        Space(lr=(1e-3, 1e-1), batch_size=FloatDistribution(16, 64))
    with pytest.raises(TypeError, match="gamma: a choice must be text, a number"):
        Space(lr=(1e-3, 1e-1), gamma=[[1, 2]])
    with pytest.raises(TypeError, match="gamma: must be an optuna distribution, a list"):
        Space(lr=(1e-3, 1e-1), gamma=0.5)


@pytest.mark.parametrize(
    "form",
    [
        FloatDistribution(1e-6, 1e-2, log=True),
        "float:1e-6:1e-2:log",
        {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        json.loads(distribution_to_json(FloatDistribution(1e-6, 1e-2, log=True))),
    ],
)
def test_every_form_of_a_parameter_is_the_same_optuna_distribution(form: object) -> None:
    space = Space(lr=(1e-4, 1e-1), weight_decay=form)
    assert space["weight_decay"] == FloatDistribution(1e-6, 1e-2, log=True)
    assert space.to_dict()["weight_decay"] == {
        "type": "float", "low": 1e-6, "high": 1e-2, "log": True
    }  # fmt: skip


def test_cli_specs_cover_float_int_and_choices() -> None:
    assert parse_assignment("dropout=float:0:0.5:step=0.1") == (
        "dropout", FloatDistribution(0.0, 0.5, step=0.1)
    )  # fmt: skip
    assert parse_assignment("x=float:-1:1")[1] == FloatDistribution(-1.0, 1.0)
    assert parse_assignment("layers=int:1:8")[1] == IntDistribution(1, 8)
    assert parse_assignment("width=int:16:256:log")[1] == IntDistribution(16, 256, log=True)
    assert parse_assignment("units=int:16:256:step=16")[1] == IntDistribution(16, 256, step=16)
    assert parse_assignment("act=choice:relu,gelu")[1] == CategoricalDistribution(["relu", "gelu"])
    mixed = parse_assignment("k=choice:1,0.5,true,null,tanh")[1]
    assert mixed == CategoricalDistribution([1, 0.5, True, None, "tanh"])


def test_any_space_round_trips_through_json_text() -> None:
    space = Space(
        lr=FloatDistribution(1e-4, 1e-1),
        optimizer=["sgd", "adam"],
        momentum=(0.8, 0.95),
        weight_decay=FloatDistribution(0.0, 1e-2, step=1e-3),
        layers=IntDistribution(1, 4),
        width=IntDistribution(16, 256, log=True),
        act=CategoricalDistribution(["relu", None, 1]),
    )
    data = json.loads(json.dumps(space.to_dict()))
    assert Space.from_dict(data) == space
    assert data["lr"] == {"type": "float", "low": 1e-4, "high": 1e-1}  # linear: not the pair
    assert data["optimizer"] == ["sgd", "adam"] and data["momentum"] == [0.8, 0.95]
    assert data["act"] == ["relu", None, 1]
    assert space.names == ["lr", "optimizer", "momentum", "weight_decay", "layers", "width", "act"]
    assert space.describe() == (
        "lr in [0.0001, 0.1] · optimizer in {sgd, adam} · momentum in [0.8, 0.95] · "
        "weight_decay in [0, 0.01] step 0.001 · layers in 1..4 (int) · "
        "width in 16..256 (int, log) · act in {relu, None, 1}"
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    point = space.suggest(trial)
    assert trial.distributions == space.distributions()
    assert point == trial.params


def test_grid_spaces_int_and_stepped_ranges_on_their_steps() -> None:
    space = Space(lr=(1e-3, 1e-1), layers=IntDistribution(1, 5), dropout="float:0:0.5:step=0.1")
    points = space.grid(27)
    assert sorted({p["layers"] for p in points}) == [1, 3, 5]
    assert sorted({p["dropout"] for p in points}) == [0.0, 0.3, 0.5]  # 0.25 rounds half up
    assert sorted({p["lr"] for p in points}) == pytest.approx([1e-3, 1e-2, 1e-1])
    with pytest.raises(ValueError, match="needs 6 distinct values of layers, but it has only 5"):
        space.grid(216)


def test_a_grid_of_choices_only_has_exactly_their_combinations() -> None:
    space = Space(lr={"type": "categorical", "choices": [1e-3, 1e-2]}, optimizer=["sgd", "adam"])
    assert space.grid(4) == [
        {"lr": 1e-3, "optimizer": "sgd"},
        {"lr": 1e-3, "optimizer": "adam"},
        {"lr": 1e-2, "optimizer": "sgd"},
        {"lr": 1e-2, "optimizer": "adam"},
    ]
    with pytest.raises(ValueError, match="and no range, so it has exactly 4 points, not 5"):
        space.grid(5)
    with pytest.raises(ValueError, match="sampler: 'log' sweeps a continuous lr range"):
        space.log_sweep(3)


def test_log_sweep_fixes_single_valued_parameters_of_any_kind() -> None:
    space = Space(lr=(1e-3, 1e-1), wd="float:0.01:0.01", layers="int:3:3", act="choice:relu")
    assert space.varied == ["lr"]
    assert space.log_sweep(2) == [
        {"lr": 1e-3, "wd": 0.01, "layers": 3, "act": "relu"},
        {"lr": 1e-1, "wd": 0.01, "layers": 3, "act": "relu"},
    ]
    with pytest.raises(ValueError, match=r"also varies \['wd'\]"):
        Space(lr=(1e-3, 1e-1), wd="float:0:0.1").log_sweep(2)


def test_dict_round_trip_and_description() -> None:
    space = Space(lr=(1e-4, 1e-1), optimizer=("sgd", "adam"), momentum=(0.8, 0.95))
    assert Space.from_dict(space.to_dict()) == space
    assert space.names == ["lr", "optimizer", "momentum"]
    assert space.describe() == (
        "lr in [0.0001, 0.1] (log) · optimizer in {sgd, adam} · momentum in [0.8, 0.95]"
    )
    distributions = space.distributions()
    assert distributions["lr"].log and distributions["lr"].low == 1e-4
    assert not distributions["momentum"].log


def test_around_a_learning_rate_spans_width_each_way() -> None:
    space = Space.around(3e-3, width=10, optimizer=["adam"], weight_decay="float:0:0.1")
    assert space.lr == pytest.approx((3e-4, 3e-2))
    assert space["optimizer"] == CategoricalDistribution(["adam"])
    assert space["weight_decay"] == FloatDistribution(0.0, 0.1)
    with pytest.raises(ValueError, match="width: must be a finite number > 1"):
        Space.around(3e-3, width=1.0)


def test_around_a_range_test_result_centres_on_its_suggestion_within_the_sweep() -> None:
    lrs = list(np.geomspace(1e-5, 1e-2, 60))
    # A loss that falls steeply around 1e-3 and blows up near the end of the sweep.
    losses = [2.0 - math.tanh(3 * (math.log10(lr) + 3.2)) for lr in lrs]
    losses[-5:] = [4.0, 6.0, 9.0, 14.0, 20.0]
    result = RangeTestResult(lrs=lrs, losses=losses, smoothed_losses=losses, stop_reason="end")
    space = Space.around(result, width=10)
    s = result.suggestion
    assert space.lr[0] == pytest.approx(s / 10)
    assert space.lr[1] == pytest.approx(min(s * 10, 1e-2))
    assert space.lr[1] <= 1e-2


def test_config_default_study_name_is_stable_and_changes_with_settings() -> None:
    space = Space(lr=(1e-4, 1e-1))
    a = SearchConfig(space=space, n_trials=5).default_study_name()
    assert a == SearchConfig(space=space, n_trials=5).default_study_name()
    assert a.startswith("lrkit-tpe-")
    assert a != SearchConfig(space=space, n_trials=6).default_study_name()
