"""The one divergence test, shared by ``fit``'s guard and the doctor's divergence rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrkit.divergence import best_spread, climbed, diverged, given_back
from lrkit.doctor import Doctor
from lrkit.guard import DivergenceGuard


def test_noise_near_zero_after_a_big_fall_is_not_divergence() -> None:
    # the fall 0.87 -> 0.009 is 0.861; 0.036 gives back 0.027 / 0.861 = 3 % of it (4x its best)
    assert not diverged(0.036, 0.87, 0.009, 0.5, 0.1)
    # half of the fall given back: s* + 0.5 x 0.861 = 0.4395
    assert not diverged(0.4395, 0.87, 0.009, 0.5, 0.1)
    assert diverged(0.44, 0.87, 0.009, 0.5, 0.1)


def test_a_fall_smaller_than_min_fall_or_the_noise_is_not_judged() -> None:
    # a fall of 0.05 from 1: under min_fall x |s_0| = 0.1, so giving all of it back is not judged
    assert not diverged(0.999, 1.0, 0.95, 0.5, 0.1)
    # a fall of 0.3, under the noise margin 0.4
    assert diverged(0.9, 1.0, 0.7, 0.5, 0.1)
    assert not diverged(0.9, 1.0, 0.7, 0.5, 0.1, noise=0.4)
    # the noise is also the least rise: after a fall of 1, 1.45 > 1 + 0.5 but not > 1 + 0.6
    assert diverged(1.55, 2.0, 1.0, 0.5, 0.1, noise=0.5)
    assert not diverged(1.55, 2.0, 1.0, 0.5, 0.1, noise=0.6)


def test_climbing_above_the_start_without_a_fall_is_divergence() -> None:
    # no fall at all: 1.0 then 10.0 is far above s_0 + max(0.1 x 1, 0)
    assert diverged(10.0, 1.0, 1.0, 0.5, 0.1)
    assert not diverged(1.1, 1.0, 1.0, 0.5, 0.1)
    assert diverged(1.11, 1.0, 1.0, 0.5, 0.1)
    # the margin for the start is its own: 1.3 is within 4 sigma = 0.4 of a noisy first loss
    assert not diverged(1.3, 1.0, 1.0, 0.5, 0.1, start_noise=0.4)
    assert diverged(1.5, 1.0, 1.0, 0.5, 0.1, start_noise=0.4)
    # a negative start: the margin is on |s_0|
    assert diverged(-0.85, -1.0, -1.0, 0.5, 0.1)
    assert not diverged(-0.95, -1.0, -1.0, 0.5, 0.1)


def test_arrays_are_judged_elementwise() -> None:
    current = np.array([0.036, 0.44, 10.0, math.nan])
    result = diverged(current, 0.87, 0.009, 0.5, 0.1)
    assert result.tolist() == [False, True, True, False]
    noise = np.array([0.0, 0.5, 0.0, 0.0])
    assert diverged(current, 0.87, 0.009, 0.5, 0.1, noise).tolist() == [False, False, True, False]


def test_given_back_is_a_share_of_the_fall_and_needs_a_fall() -> None:
    # a fall from 2 to 1: 0.9 of it given back is 1 + 0.9 x 1 = 1.9
    assert given_back(1.9, 2.0, 1.0, 0.9)
    assert not given_back(1.89, 2.0, 1.0, 0.9)
    assert given_back(5.0, 2.0, 1.0, 0.9)  # beyond the start is more than 0.9 of it
    assert not given_back(2.0, 1.0, 1.0, 0.9)  # no fall, nothing to give back
    assert given_back(np.array([1.5, 1.95]), 2.0, 1.0, 0.9).tolist() == [False, True]


def test_climbed_is_the_first_clause_of_diverged() -> None:
    # above s_0 + max(0.1 x |s_0|, start_noise)
    assert climbed(1.11, 1.0, 0.1) and not climbed(1.1, 1.0, 0.1)
    assert not climbed(1.3, 1.0, 0.1, 0.4) and climbed(1.5, 1.0, 0.1, 0.4)
    for current in (1.05, 1.11, 1.3, 1.5):
        # with no fall (best = start) diverged is climbed alone
        assert diverged(current, 1.0, 1.0, 0.5, 0.1, 0.0, 0.4) == climbed(current, 1.0, 0.1, 0.4)


def _fall_then(tail: float) -> list[float]:
    """A fall from 0.87 to 0.009 over 1,500 steps, then 500 steps at ``tail``."""
    return [*np.geomspace(0.87, 0.009, 1500).tolist(), *[tail] * 500]


@pytest.mark.parametrize(("tail", "blows_up"), [(0.036, False), (0.6, True)])
def test_the_guard_and_the_doctor_agree(tail: float, blows_up: bool) -> None:
    guard = DivergenceGuard(warmup=200)
    signals = [guard.update(loss) for loss in _fall_then(tail)]
    doctor = Doctor(rules=["divergence"], verbose=False)
    found = [f for step, loss in enumerate(_fall_then(tail)) for f in doctor.observe(step, loss)]
    assert ("rollback" in signals) is blows_up
    assert bool(found) is blows_up
    if blows_up:  # both soon after the blow-up at step 1,500 (the doctor smooths more)
        assert 1500 <= signals.index("rollback") < 1550
        assert 1500 <= found[0].step < 1600


def test_the_guard_leaves_a_climb_without_a_fall_to_the_doctor() -> None:
    guard = DivergenceGuard(warmup=10)
    assert "rollback" not in [guard.update(loss) for loss in [1.0] * 20 + [10.0] * 20]
    doctor = Doctor(rules=["divergence"], verbose=False)
    found = [f for step in range(40) for f in doctor.observe(step, 1.0 if step < 20 else 10.0)]
    assert [f.step for f in found] == [20]  # judged after 20 steps: from the 21st, step 20


def test_best_spread_counts_the_effectively_independent_values() -> None:
    # beta = 0.98 spans 99 steps: 990 losses are 10 independent values, sqrt(2 ln 10)
    assert best_spread(990, 0.98) == pytest.approx(math.sqrt(2 * math.log(10)))
    assert best_spread(990, 0.98) == pytest.approx(2.1460, abs=1e-4)
    # fewer than one independent value: no spread; unsmoothed (epochs), every loss counts
    assert best_spread(50, 0.98) == 0.0
    assert best_spread(100, 0.0) == pytest.approx(3.0349, abs=1e-4)
