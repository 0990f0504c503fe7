"""Hand-derived values of every schedule, and the calling conventions they share."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lrkit import schedules as S


def values(schedule: S.Schedule, steps: list[int]) -> list[float]:
    return [schedule(t) for t in steps]


def test_constant() -> None:
    assert values(S.constant(0.1), [0, 7, 10**9]) == [0.1, 0.1, 0.1]


def test_step_decay_drops_at_multiples_of_decay_steps() -> None:
    s = S.step_decay(1.0, decay_steps=10, gamma=0.5)
    assert values(s, [0, 9, 10, 19, 20, 25]) == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_step_decay_one_based_is_the_keras_recipe() -> None:
    # lr0 · drop^floor((1 + epoch) / epochs_drop), lr0 = 0.1, drop = 0.5, epochs_drop = 10
    s = S.step_decay(0.1, decay_steps=10, gamma=0.5, one_based=True)
    recipe = [0.1 * 0.5 ** math.floor((1 + epoch) / 10) for epoch in range(40)]
    assert values(s, list(range(40))) == recipe
    assert s(8) == 0.1 and s(9) == 0.05


def test_multistep_applies_from_the_milestone() -> None:
    s = S.multistep(1.0, milestones=[3, 5], gamma=0.1)
    assert values(s, [0, 2, 3, 4, 5, 100]) == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_piecewise_constant_changes_after_the_boundary() -> None:
    s = S.piecewise_constant(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    assert values(s, [0, 10, 11, 20, 21, 500]) == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_exponential_factor_rate_and_staircase() -> None:
    assert S.exponential(1.0, gamma=0.5)(3) == 0.125
    assert S.exponential(2.0, rate=0.1)(10) == pytest.approx(2 * math.exp(-1))
    smooth = S.exponential(1.0, gamma=0.5, decay_steps=10)
    stairs = S.exponential(1.0, gamma=0.5, decay_steps=10, staircase=True)
    assert smooth(15) == pytest.approx(0.5**1.5)
    assert stairs(15) == 0.5 and stairs(19) == 0.5 and stairs(20) == 0.25


def test_inverse_time_is_the_time_based_decay() -> None:
    assert S.inverse_time(1.0, rate=0.5)(2) == 0.5
    assert S.inverse_time(1.0, rate=0.5, decay_steps=4, staircase=True)(7) == pytest.approx(1 / 1.5)
    assert S.inverse_time(1.0, rate=0.5, decay_steps=4)(6) == pytest.approx(1 / 1.75)


def test_linear_rises_or_falls_then_holds() -> None:
    assert values(S.linear(0.0, 1.0, 10), [0, 5, 10, 20]) == [0, 0.5, 1, 1]
    assert values(S.linear(1.0, 0.5, 10), [0, 4, 10, 11]) == pytest.approx([1, 0.8, 0.5, 0.5])


def test_polynomial() -> None:
    s = S.polynomial(1.0, total_steps=10, floor=0.1, power=2.0)
    assert values(s, [0, 5, 10, 30]) == pytest.approx([1.0, 0.9 * 0.25 + 0.1, 0.1, 0.1])


def test_cosine_holds_its_floor_past_the_end() -> None:
    s = S.cosine(1.0, total_steps=10, floor=0.2)
    assert values(s, [0, 5, 10, 15, 10**6]) == pytest.approx([1.0, 0.6, 0.2, 0.2, 0.2])
    assert s.duration == 10


def test_cosine_restarts_with_growing_cycles_and_decay() -> None:
    # cycles start at 0, 10, 30, 70 (lengths 10, 20, 40)
    s = S.cosine_restarts(1.0, cycle_steps=10, cycle_mult=2.0, decay=0.5)
    assert values(s, [0, 5, 10, 20, 30, 50, 70]) == pytest.approx(
        [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    )
    assert s(29) < 0.01 and s.duration is None


def test_triangular_policies() -> None:
    tri = S.triangular(1.0, 3.0, up_steps=2)
    assert values(tri, [0, 1, 2, 3, 4, 5, 6]) == [1, 2, 3, 2, 1, 2, 3]
    assert S.triangular2(1.0, 3.0, 2)(6) == 2.0 and S.triangular2(1.0, 3.0, 2)(10) == 1.5
    assert S.exp_range(1.0, 3.0, 2, gamma=0.5)(2) == 1.5
    skewed = S.triangular(1.0, 3.0, up_steps=1, down_steps=3)
    assert values(skewed, [0, 1, 2, 3, 4]) == pytest.approx([1, 3, 3 - 2 / 3, 3 - 4 / 3, 1])


def test_cyclical_momentum_mirrors_the_learning_rate() -> None:
    lr = S.triangular2(0.01, 0.1, up_steps=50)
    momentum = lr.momentum(low=0.8, high=0.9)
    t = np.arange(1000)
    height = 0.5 ** np.floor(t / 100)  # triangular2 halves the height every cycle
    rise = (lr(t) - 0.01) / 0.09
    np.testing.assert_allclose(momentum(t), 0.9 - 0.1 * rise, atol=1e-12)
    assert momentum(0) == 0.9 and momentum(50) == pytest.approx(0.8)
    assert np.all(rise <= height + 1e-12)
    assert momentum.momentum(0.01, 0.1) == lr  # mirroring twice gives the schedule back


def test_one_cycle_phases() -> None:
    s = S.one_cycle(1.0, 100, pct_start=0.25, anneal="linear", div_factor=10, final_div_factor=100)
    # knots at 0, 24, 99: 0.1 -> 1.0 -> 0.001
    assert values(s, [0, 12, 24, 99, 100, 500]) == pytest.approx(
        [0.1, 0.55, 1.0, 0.001, 0.001, 0.001]
    )
    three = S.one_cycle(1.0, 100, pct_start=0.25, div_factor=10, three_phase=True)
    # knots at 0, 24, 48, 99: 0.1 -> 1.0 -> 0.1 -> 1e-5
    assert values(three, [24, 36, 48, 99]) == pytest.approx([1.0, 0.55, 0.1, 1e-5])
    momentum = three.momentum(low=0.85, high=0.95)
    assert values(momentum, [0, 24, 48, 70, 99]) == pytest.approx([0.95, 0.85, 0.95, 0.95, 0.95])


def test_wsd_shapes() -> None:
    common = {"lr": 1.0, "total_steps": 100, "cooldown_steps": 20, "warmup_steps": 10}
    linear = S.wsd(**common)
    assert values(linear, [0, 5, 10, 50, 80, 90, 100, 200]) == [0, 0.5, 1, 1, 1, 0.5, 0, 0]
    assert S.wsd(**common, decay="cos")(90) == pytest.approx(0.5)
    assert S.wsd(**common, decay="sqrt")(85) == pytest.approx(0.5)
    assert S.wsd(1.0, 100, cooldown_steps=50, floor=0.2)(100) == pytest.approx(0.2)


def test_interpolate_holds_outside_its_knots() -> None:
    s = S.interpolate(knots=[10, 20, 30], values=[0.0, 1.0, 0.5])
    assert values(s, [0, 10, 15, 25, 30, 99]) == pytest.approx([0, 0, 0.5, 0.75, 0.5, 0.5])
    cos = S.interpolate(knots=[0, 10], values=[1.0, 0.0], anneal="cos")
    assert cos(5) == pytest.approx(0.5) and cos(2) == pytest.approx(
        (1 + math.cos(0.2 * math.pi)) / 2
    )


def test_warmup_then_shifted_schedule() -> None:
    s = S.warmup(S.step_decay(1.0, decay_steps=5, gamma=0.5), warmup_steps=10, start=0.1)
    assert values(s, [0, 5, 10, 14, 15]) == pytest.approx([0.1, 0.55, 1.0, 1.0, 0.5])


def test_sequence_restarts_each_part_at_its_boundary() -> None:
    s = S.sequence([S.constant(1.0), S.linear(1.0, 0.5, 10), S.constant(0.1)], boundaries=[5, 15])
    assert values(s, [0, 4, 5, 10, 14, 15, 99]) == pytest.approx([1, 1, 1, 0.75, 0.55, 0.1, 0.1])
    assert S.sequence([S.constant(1.0), S.cosine(1.0, 10)], [5]).duration == 15


def test_scale() -> None:
    assert S.scale(S.cosine(2.0, 10), 0.5)(5) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("schedule", "duration", "bounds"),
    [
        (S.constant(0.1), None, (0.1, 0.1)),
        (S.multistep(1.0, [2, 4], 0.5), None, (0.25, 1.0)),
        (S.cosine(1.0, 10, floor=0.1), 10, (0.1, 1.0)),
        (S.one_cycle(1.0, 50), 50, (1.0 / 25 / 1e4, 1.0)),
        (S.warmup(S.cosine(1.0, 10), 5, start=0.0), 15, (0.0, 1.0)),
        (S.warmup(S.constant(1.0), 5, start=2.0), None, (1.0, 2.0)),
        (S.scale(S.linear(0.0, 2.0, 8), 0.5), 8, (0.0, 1.0)),
        (S.wsd(1.0, 100, 10, warmup_steps=5, start=0.1, floor=0.2), 100, (0.1, 1.0)),
    ],
)
def test_duration_and_bounds(schedule: S.Schedule, duration: int | None, bounds: tuple) -> None:
    assert schedule.duration == duration
    assert schedule.bounds() == pytest.approx(bounds)


def test_calling_conventions() -> None:
    s = S.cosine(1.0, 10)
    assert isinstance(s(3), float) and isinstance(s(np.int64(3)), float)
    assert isinstance(s(np.array(3)), float)
    assert s([0, 5, 10]).tolist() == pytest.approx([1.0, 0.5, 0.0])
    grid = s(np.arange(12).reshape(3, 4))
    assert grid.shape == (3, 4) and grid[1, 1] == pytest.approx(0.5)
    assert S.constant(0.1)(np.arange(4)).tolist() == [0.1] * 4
    assert s(2.5) == pytest.approx((1 + math.cos(0.25 * math.pi)) / 2)
    assert s.value_at(3.0) == s(3)


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf])
def test_bad_steps_are_refused(bad: float) -> None:
    s = S.cosine(1.0, 10)
    with pytest.raises(ValueError, match="step: must be a finite number >= 0"):
        s(bad)
    with pytest.raises(ValueError, match="step: every step must be a finite number >= 0"):
        s(np.array([0.0, bad]))


def test_bool_step_is_refused() -> None:
    with pytest.raises(TypeError, match="step: must be a number"):
        S.constant(0.1)(True)


def test_repr_uses_the_constructor_names() -> None:
    s = S.warmup(S.cosine(0.1, 100), 10)
    assert repr(s) == (
        "warmup(schedule=cosine(lr=0.1, total_steps=100, floor=0.0), warmup_steps=10, start=0.0)"
    )


def test_schedules_are_immutable_and_hashable() -> None:
    s = S.cosine(0.1, 100)
    with pytest.raises(AttributeError):
        s.lr = 0.2  # type: ignore[misc]
    assert hash(s) == hash(S.cosine(0.1, 100)) and s == S.cosine(0.1, 100.0)
    assert s != S.cosine(0.1, 101)


def test_to_dict_is_plain_json_and_from_dict_rebuilds() -> None:
    s = S.sequence(
        [S.warmup(S.constant(0.1), 5), S.scale(S.multistep(0.1, [10, 20]), 0.5)], boundaries=[30]
    )
    text = json.dumps(s.to_dict())
    assert json.loads(text) == {
        "name": "sequence",
        "params": {
            "schedules": [
                {
                    "name": "warmup",
                    "params": {
                        "schedule": {"name": "constant", "params": {"lr": 0.1}},
                        "warmup_steps": 5,
                        "start": 0.0,
                    },
                },
                {
                    "name": "scale",
                    "params": {
                        "schedule": {
                            "name": "multistep",
                            "params": {"lr": 0.1, "milestones": [10, 20], "gamma": 0.1},
                        },
                        "factor": 0.5,
                    },
                },
            ],
            "boundaries": [30],
        },
    }
    assert S.from_dict(json.loads(text)) == s


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "cosinus", "params": {}}, "name: unknown schedule 'cosinus'"),
        ({"params": {}}, "schedule: expected"),
        ("cosine", "schedule: expected"),
        ({"name": "cosine", "params": [1]}, "params: must be a mapping"),
        (
            {"name": "cosine", "params": {"lr": 0.1}},
            r"cosine: missing parameter\(s\) \['total_steps'\]",
        ),
        (
            {"name": "cosine", "params": {"lr": 0.1, "total_steps": 5, "eta": 1}},
            r"cosine: unknown parameter\(s\) \['eta'\]",
        ),
        ({"name": "cosine", "params": {"lr": -0.1, "total_steps": 5}}, "lr: must be > 0"),
    ],
)
def test_from_dict_errors_name_the_problem(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S.from_dict(data)  # type: ignore[arg-type]


def test_registry_lists_every_schedule_with_its_parameters() -> None:
    expected = {
        "constant", "step_decay", "multistep", "piecewise_constant", "exponential",
        "inverse_time", "linear", "polynomial", "cosine", "cosine_restarts", "triangular",
        "triangular2", "exp_range", "one_cycle", "wsd", "interpolate", "warmup", "sequence",
        "scale",
    }  # fmt: skip
    assert set(S.names()) == expected
    for name in expected:
        assert S.get(name).name == name and inspect.isfunction(getattr(S, name))
    cosine = {p.name: p for p in S.parameters("cosine")}
    assert list(cosine) == ["lr", "total_steps", "floor"]
    assert cosine["lr"].required and cosine["floor"].default == 0.0


def test_the_core_imports_no_framework() -> None:
    code = (
        "import sys, lrkit.schedules, lrkit.schedules.plateau; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'keras', 'jax', 'matplotlib', 'tensorflow'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
