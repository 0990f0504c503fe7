"""Every constructor refuses bad parameters with an error naming the parameter."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lrkit import schedules as S

GOOD: dict[str, dict[str, Any]] = {
    "constant": {"lr": 0.1},
    "step_decay": {"lr": 0.1, "decay_steps": 10},
    "multistep": {"lr": 0.1, "milestones": [10, 20]},
    "piecewise_constant": {"boundaries": [10], "values": [0.1, 0.01]},
    "exponential": {"lr": 0.1, "gamma": 0.9},
    "inverse_time": {"lr": 0.1, "rate": 0.5},
    "linear": {"start": 0.0, "end": 0.1, "total_steps": 10},
    "polynomial": {"lr": 0.1, "total_steps": 10},
    "cosine": {"lr": 0.1, "total_steps": 10},
    "cosine_restarts": {"lr": 0.1, "cycle_steps": 10},
    "triangular": {"floor": 0.01, "lr": 0.1, "up_steps": 10},
    "triangular2": {"floor": 0.01, "lr": 0.1, "up_steps": 10},
    "exp_range": {"floor": 0.01, "lr": 0.1, "up_steps": 10},
    "one_cycle": {"lr": 0.1, "total_steps": 100},
    "wsd": {"lr": 0.1, "total_steps": 100, "cooldown_steps": 10},
    "interpolate": {"knots": [0, 10], "values": [0.0, 0.1]},
    "warmup": {"schedule": S.constant(0.1), "warmup_steps": 10},
    "sequence": {"schedules": [S.constant(0.1), S.constant(0.01)], "boundaries": [10]},
    "scale": {"schedule": S.constant(0.1), "factor": 0.5},
}

# (schedule, parameter, bad value, error type, message)
BAD: list[tuple[str, str, Any, type[Exception], str]] = [
    ("constant", "lr", 0.0, ValueError, "lr: must be > 0, got 0.0"),
    ("constant", "lr", -0.1, ValueError, "lr: must be > 0, got -0.1"),
    ("constant", "lr", math.nan, ValueError, "lr: must be finite, got nan"),
    ("constant", "lr", math.inf, ValueError, "lr: must be finite"),
    ("constant", "lr", "0.1", TypeError, "lr: must be a number, got '0.1'"),
    ("constant", "lr", True, TypeError, "lr: must be a number, got True"),
    ("step_decay", "decay_steps", 0, ValueError, "decay_steps: must be an integer >= 1, got 0"),
    ("step_decay", "decay_steps", 2.5, TypeError, "decay_steps: must be an integer, got 2.5"),
    ("step_decay", "gamma", 1.5, ValueError, r"gamma: must be in \(0, 1\), got 1.5"),
    ("step_decay", "gamma", 0.0, ValueError, r"gamma: must be in \(0, 1\), got 0.0"),
    ("step_decay", "one_based", 1, TypeError, "one_based: must be True or False, got 1"),
    ("multistep", "milestones", [], ValueError, "milestones: must hold at least one step"),
    ("multistep", "milestones", [20, 10], ValueError, "milestones: must be strictly increasing"),
    ("multistep", "milestones", [0, 10], ValueError, "milestones: must be an integer >= 1"),
    ("multistep", "milestones", 10, TypeError, "milestones: must be a list of numbers, got 10"),
    ("multistep", "gamma", 1.0, ValueError, r"gamma: must be in \(0, 1\)"),
    ("piecewise_constant", "values", [0.1], ValueError, r"values: must hold one more entry"),
    ("piecewise_constant", "values", [0.1, -1.0], ValueError, "values: must be > 0"),
    ("piecewise_constant", "boundaries", [5, 5], ValueError, "boundaries: must be strictly"),
    ("exponential", "gamma", 2.0, ValueError, r"gamma: must be in \(0, 1\), got 2.0"),
    ("exponential", "decay_steps", 0, ValueError, "decay_steps: must be an integer >= 1"),
    ("inverse_time", "rate", 0.0, ValueError, "rate: must be > 0, got 0.0"),
    ("inverse_time", "rate", -1, ValueError, "rate: must be > 0, got -1"),
    ("linear", "start", -0.1, ValueError, "start: must be >= 0, got -0.1"),
    ("linear", "end", 0.0, ValueError, "start, end: at least one must be > 0"),
    ("linear", "total_steps", 0, ValueError, "total_steps: must be an integer >= 1, got 0"),
    ("polynomial", "power", 0.0, ValueError, "power: must be > 0, got 0.0"),
    ("polynomial", "floor", -1.0, ValueError, "floor: must be >= 0"),
    ("cosine", "floor", 0.1, ValueError, r"floor: must be < lr \(0.1\), got 0.1"),
    ("cosine", "floor", -0.01, ValueError, "floor: must be >= 0"),
    ("cosine", "total_steps", -5, ValueError, "total_steps: must be an integer >= 1, got -5"),
    ("cosine_restarts", "cycle_mult", 0.5, ValueError, "cycle_mult: must be >= 1, got 0.5"),
    ("cosine_restarts", "decay", 1.5, ValueError, r"decay: must be in \(0, 1\], got 1.5"),
    ("cosine_restarts", "cycle_steps", 0, ValueError, "cycle_steps: must be an integer >= 1"),
    ("triangular", "lr", 0.001, ValueError, r"lr: must be >= floor \(0.01\), got 0.001"),
    ("triangular", "floor", 0.0, ValueError, "floor: must be > 0, got 0.0"),
    ("triangular", "up_steps", 0, ValueError, "up_steps: must be an integer >= 1"),
    ("triangular2", "down_steps", 0, ValueError, "down_steps: must be an integer >= 1"),
    ("exp_range", "gamma", 1.01, ValueError, r"gamma: must be in \(0, 1\], got 1.01"),
    ("one_cycle", "pct_start", 1.0, ValueError, r"pct_start: must be in \(0, 1\), got 1.0"),
    ("one_cycle", "pct_start", 0.005, ValueError, "pct_start: 0.005 of total_steps=100 leaves"),
    ("one_cycle", "anneal", "cosine", ValueError, "anneal: must be one of 'linear', 'cos'"),
    ("one_cycle", "div_factor", 0.5, ValueError, "div_factor: must be >= 1, got 0.5"),
    ("one_cycle", "final_div_factor", 0, ValueError, "final_div_factor: must be >= 1, got 0"),
    ("one_cycle", "total_steps", 1, ValueError, "total_steps: must be an integer >= 2, got 1"),
    ("one_cycle", "lr", -1, ValueError, "lr: must be > 0, got -1"),
    (
        "wsd",
        "cooldown_steps",
        200,
        ValueError,
        r"cooldown_steps: warmup_steps \+ cooldown_steps must",
    ),
    ("wsd", "start", 1.0, ValueError, r"start: must be <= lr \(0.1\), got 1.0"),
    ("wsd", "decay", "exp", ValueError, "decay: must be one of 'linear', 'cos', 'sqrt'"),
    ("wsd", "warmup_steps", -1, ValueError, "warmup_steps: must be an integer >= 0, got -1"),
    ("interpolate", "knots", [0], ValueError, "knots: must hold at least two steps"),
    ("interpolate", "knots", [10, 0], ValueError, "knots: must be strictly increasing"),
    ("interpolate", "values", [0.1], ValueError, "values: must hold one value per knot"),
    ("interpolate", "values", [0.0, 0.0], ValueError, "values: at least one must be > 0"),
    ("warmup", "schedule", 0.1, TypeError, "schedule: must be an lrkit schedule, got 0.1"),
    ("warmup", "warmup_steps", 0, ValueError, "warmup_steps: must be an integer >= 1, got 0"),
    ("warmup", "start", -1.0, ValueError, "start: must be >= 0"),
    ("sequence", "schedules", [], ValueError, "schedules: must hold at least one schedule"),
    ("sequence", "boundaries", [], ValueError, "boundaries: must hold one fewer entry"),
    ("sequence", "boundaries", [0], ValueError, "boundaries: must be an integer >= 1, got 0"),
    ("sequence", "schedules", [0.1, 0.2], TypeError, "schedules: must be an lrkit schedule"),
    ("scale", "factor", 0.0, ValueError, "factor: must be > 0, got 0.0"),
]


@pytest.mark.parametrize("name", list(GOOD))
def test_good_parameters_build(name: str) -> None:
    assert S.get(name)(**GOOD[name]).name == name


@pytest.mark.parametrize(("name", "param", "value", "error", "message"), BAD)
def test_bad_parameter_is_refused(
    name: str, param: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        S.get(name)(**{**GOOD[name], param: value})


def test_every_schedule_has_bad_parameter_cases() -> None:
    assert {case[0] for case in BAD} == set(S.names())


def test_exponential_needs_exactly_one_of_gamma_and_rate() -> None:
    with pytest.raises(ValueError, match="gamma, rate: give exactly one of them"):
        S.exponential(0.1)
    with pytest.raises(ValueError, match="gamma, rate: give exactly one of them"):
        S.exponential(0.1, gamma=0.9, rate=0.1)


def test_momentum_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match=r"high: must be >= low \(0.9\), got 0.8"):
        S.one_cycle(0.1, 100).momentum(low=0.9, high=0.8)
    with pytest.raises(ValueError, match=r"high: must be >= low"):
        S.triangular(0.01, 0.1, 10).momentum(low=0.9, high=0.8)
