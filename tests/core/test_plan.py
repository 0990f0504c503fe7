"""lrkit.plan: the rate a plan is built around, its momentum, guard settings and warm-up."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lrkit import range_test
from lrkit.plan import (
    CYCLICAL_POLICIES,
    POLICIES,
    RATE_POLICIES,
    Plan,
    make_plan,
    policy_schedule,
)
from lrkit.probe import ProbeResult


def bowl():
    """A range test over a loss bowl with its lowest point at lr = 1e-2."""
    return range_test(
        lambda lr: 1.0 + (math.log10(lr) + 2.0) ** 2 / 4,
        start_lr=1e-5,
        end_lr=1.0,
        num_steps=101,
        smoothing=0.0,
    )


def probed(suggestion: float) -> ProbeResult:
    """A probe whose safe candidate ``suggestion`` won (its loss fell furthest)."""
    losses = [[3.0] * 3 + [2.0] * 7, [3.0] * 3 + [0.5] * 7]
    return ProbeResult([4 * suggestion, suggestion], losses, steps=10)


def test_the_rate_is_the_given_one_else_the_probes_else_the_range_tests():
    result = bowl()
    probe = probed(3e-3)
    assert probe.suggestion == pytest.approx(3e-3)
    assert make_plan("constant", 100, 10, range_test=result, probe=probe, lr=0.5).lr == 0.5
    assert make_plan("constant", 100, 10, range_test=result, probe=probe).lr == probe.suggestion
    assert make_plan("constant", 100, 10, range_test=result).lr == result.suggestion
    with pytest.raises(ValueError, match="lr: policy 'wsd' needs a rate, or a range test"):
        make_plan("wsd", 100, 10)


def test_one_cycle_and_clr_mirror_momentum_a_given_value_is_held_the_rest_have_none():
    result = bowl()
    for policy in POLICIES:
        plan = make_plan(policy, 200, 20, range_test=result)
        mirrored = policy == "one_cycle" or policy in CYCLICAL_POLICIES
        assert (plan.momentum is not None) == mirrored, policy
    cycle = make_plan("one_cycle", 200, 20, range_test=result)
    rates, momenta = cycle.schedule(np.arange(200)), cycle.momentum(np.arange(200))
    assert np.argmax(rates) == np.argmin(momenta)  # momentum lowest where the rate peaks
    held = make_plan("one_cycle", 200, 20, lr=0.1, momentum=0.8)
    assert list(held.momentum([0, 100, 199])) == [0.8, 0.8, 0.8]


def test_the_guard_watches_after_a_tenth_and_saves_at_most_fifty_times():
    plan = make_plan("wsd", 1234, 10, lr=0.1)
    assert (plan.guard_warmup, plan.save_every) == (123, 24)
    assert make_plan("wsd", 30, 10, lr=0.1).save_every == 1


def test_warm_up_ramps_from_zero_then_runs_the_policy_over_the_rest():
    lr, total = 0.2, 100
    plan = make_plan("cosine", total, 10, lr=lr, warmup=0.1)  # 10 steps of ramp
    # hand-derived: t < 10: lr · t / 10; then cosine over the other 90 steps
    expected = [0.0, lr * 5 / 10, lr, lr * (1 + math.cos(math.pi * 45 / 90)) / 2]
    assert plan.schedule([0, 5, 10, 55]) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"warmup: must be a fraction in \[0, 1\)"):
        make_plan("cosine", total, 10, lr=lr, warmup=1.0)


def test_the_cyclical_policies_need_a_range_test_and_read_its_bounds():
    result = bowl()
    for policy in CYCLICAL_POLICIES:
        plan = make_plan(policy, 200, 20, range_test=result)
        assert plan.schedule.bounds() == pytest.approx(result.clr_bounds())
        with pytest.raises(ValueError, match=f"range_test: policy '{policy}' reads its bounds"):
            policy_schedule(None, policy, 200, 20)
    assert set(RATE_POLICIES) | set(CYCLICAL_POLICIES) == set(POLICIES)


def test_an_unknown_policy_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="policy: must be one of wsd, one_cycle"):
        make_plan("onecycle", 100, 10, lr=0.1)


def test_a_plan_is_plain_json_data():
    plan = make_plan("one_cycle", 200, 20, range_test=bowl(), probe=probed(3e-3))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["policy"] == "one_cycle" and data["lr"] == pytest.approx(3e-3)
    assert data["schedule"]["name"] == "one_cycle" and data["momentum"] is not None
    assert data["probe"]["lrs"] == pytest.approx([1.2e-2, 3e-3])
    assert isinstance(plan, Plan) and data["total_steps"] == 200
