"""The search space: validation, grids and log sweeps, and seeding from a range test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrkit.rangetest import RangeTestResult
from lrkit.search import SearchConfig, Space


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
        ({"lr": (1e-3, 1e-1), "gamma": [1]}, r"unknown parameter\(s\) \['gamma'\]"),
        ({"lr": (0.0, 1e-1)}, "lr: a log-scale range needs low > 0"),
        ({"lr": (1e-1, 1e-3)}, "lr: needs finite low < high"),
        ({"lr": "fast"}, "lr: must be a \\(low, high\\) pair"),
        ({"lr": (1e-3, 1e-1), "momentum": (0.5, 1.0)}, r"momentum: must lie in \[0, 1\)"),
        ({"lr": (1e-3, 1e-1), "batch_size": [0, 32]}, "batch_size: every choice must be >= 1"),
        ({"lr": (1e-3, 1e-1), "optimizer": ["sgd", "sgd"]}, "optimizer: choices repeat"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        Space.from_dict(data)


def test_choices_must_be_lists_of_the_right_kind() -> None:
    with pytest.raises(TypeError, match="optimizer: must be a list of choices"):
        Space(lr=(1e-3, 1e-1), optimizer="sgd")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_size: choices must be integers"):
        Space(lr=(1e-3, 1e-1), batch_size=(32.5,))  # type: ignore[arg-type]


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
    space = Space.around(3e-3, width=10, optimizer=["adam"])
    assert space.lr == pytest.approx((3e-4, 3e-2))
    assert space.optimizer == ("adam",)
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
