"""lrkit.probe: candidates from the curve, scores, the winner, and the driver loop."""

import itertools
import math

import numpy as np
import pytest

from lrkit import SuggestionError, range_test
from lrkit.probe import (
    HOLD_TOLERANCE,
    PROBE_DIVISORS,
    STEP_BACK,
    ProbeResult,
    candidate_schedule,
    probe,
    probe_candidates,
    probe_score,
    probe_steps,
)


def bowl(centre: float = -2.0):
    """A noiseless range test whose loss is lowest at lr = 10**centre."""
    return range_test(
        lambda lr: 1 + (math.log10(lr) - centre) ** 2,
        start_lr=1e-5,
        end_lr=1.0,
        num_steps=101,
        smoothing=0.0,
        diverge_factor=1e9,
    )


def quadratic_train(curvature: float = 1.0, start: float = 5.0):
    """Gradient descent on curvature·x²/2 from ``start``; loss grows when lr·curvature > 2."""
    opened, closed = [], []

    def train(rate):
        lr = rate(0)
        opened.append(lr)
        x = start
        try:
            for step in itertools.count():
                x -= rate(step) * curvature * x
                yield 0.5 * curvature * x * x
        finally:
            closed.append(lr)

    return train, opened, closed


def test_candidates_are_the_lowest_point_over_each_divisor():
    candidates = probe_candidates(bowl(-2.0))
    assert candidates == pytest.approx([1e-2 / d for d in PROBE_DIVISORS], rel=0.05)
    assert probe_candidates(bowl(-2.0), divisors=[4.0]) == pytest.approx([2.5e-3], rel=0.05)


def test_candidates_never_go_below_the_sweep():
    assert probe_candidates(bowl(-4.0), divisors=[1000.0]) == [pytest.approx(1e-5)]


@pytest.mark.parametrize("divisors", [[], [0.0], [-2.0], [math.inf]])
def test_bad_divisors_are_named(divisors):
    with pytest.raises(ValueError, match="divisors: must be positive finite numbers"):
        probe_candidates(bowl(), divisors=divisors)


def test_score_is_the_mean_of_the_last_fifth():
    assert probe_score(list(range(100))) == pytest.approx(np.mean(range(80, 100)))
    assert probe_score([9.0, 1.0, 2.0, 3.0]) == pytest.approx(2.0)  # at least 3 losses
    assert probe_score([1.0, math.nan, 0.5]) == math.inf
    assert probe_score([]) == math.inf


def test_the_rate_that_descends_fastest_wins():
    train, _, _ = quadratic_train()
    result = probe(train, [0.01, 0.5, 0.1], steps=20)
    assert result.best == 0.5
    assert [len(run) for run in result.losses] == [20, 20, 20]
    assert result.scores[1] < result.scores[2] < result.scores[0]


def test_a_diverging_rate_loses_and_is_stopped_at_its_first_non_finite_loss():
    train, opened, closed = quadratic_train(curvature=10.0)
    result = probe(train, [1.0, 0.05], steps=400)  # 1.0·10 > 2: grows until it overflows
    assert result.best == 0.05
    assert math.isinf(result.scores[0])
    assert len(result.losses[0]) < 400 and not math.isfinite(result.losses[0][-1])
    assert opened == closed == [1.0, 0.05]  # every run was closed, so the adapter restored


def test_a_winning_bold_rate_is_stepped_back_for_training():
    bold_wins = ProbeResult(lrs=[0.3, 0.05], losses=[[0.1] * 5, [0.2] * 5], steps=5)
    assert bold_wins.best == 0.3
    assert bold_wins.suggestion == pytest.approx(0.3 / STEP_BACK)
    safe_wins = ProbeResult(lrs=[0.3, 0.05], losses=[[0.3] * 5, [0.2] * 5], steps=5)
    assert safe_wins.suggestion == safe_wins.best == 0.05
    middle_wins = ProbeResult(lrs=[0.3, 0.1, 0.05], losses=[[0.3], [0.1], [0.2]], steps=1)
    assert middle_wins.suggestion == 0.1
    alone = ProbeResult(lrs=[0.3], losses=[[0.3]], steps=1)
    assert alone.suggestion == 0.3


def test_the_rate_held_before_a_decay_is_the_boldest_within_the_tolerance_of_the_best():
    assert HOLD_TOLERANCE == 1.5

    def result(*scores: float) -> ProbeResult:
        lrs = [0.3, 0.05] if len(scores) == 2 else [0.3, 0.1, 0.05]
        return ProbeResult(lrs=lrs, losses=[[s] * 5 for s in scores], steps=5)

    assert result(1.0, 2.0).hold == 0.3  # the bold rate won outright
    assert result(1.5, 1.0).hold == 0.3  # lost, but scored within 1.5x of the best
    assert result(1.51, 1.0).hold == 0.05  # lost by more: the safe rate is held
    assert result(1.51, 1.0).best == 0.05 == result(1.5, 1.0).best  # best is unchanged
    assert result(3.0, 1.4, 1.0).hold == 0.1  # the boldest within the tolerance
    assert result(math.inf, 1.4, 1.0).hold == 0.1  # a diverged candidate never is
    # a negative best score: the tolerance is (1.5 - 1)·|s_min| above it
    assert result(-1.5, -2.0).hold == 0.3
    assert result(-0.9, -2.0).hold == 0.05
    assert result(1.4, 1.0).boldest_within(1.2) == 0.05  # a tighter tolerance of your own
    assert result(1.0, 1.0).boldest_within(1.0) == 0.3  # 1: the best, ties to the bolder
    with pytest.raises(ValueError, match="tolerance: must be a finite number >= 1, got 0.5"):
        result(1.0, 2.0).boldest_within(0.5)
    diverged = ProbeResult(lrs=[0.1, 0.2], losses=[[math.inf], [math.nan]], steps=5)
    with pytest.raises(SuggestionError, match="every candidate diverged"):
        _ = diverged.hold


def test_ties_go_to_the_lower_rate():
    result = ProbeResult(lrs=[0.1, 0.01], losses=[[1.0] * 5, [1.0] * 5], steps=5)
    assert result.best == 0.01


def test_all_diverged_is_an_error_that_says_why():
    result = ProbeResult(lrs=[0.1, 0.2], losses=[[math.inf], [math.nan]], steps=5)
    with pytest.raises(SuggestionError, match="every candidate diverged"):
        _ = result.best


def test_to_dict_is_standard_json_and_round_trips():
    result = ProbeResult(lrs=[0.1, 0.2], losses=[[1.0, math.nan], [0.5, 0.4]], steps=2)
    data = result.to_dict()
    assert data == {
        "lrs": [0.1, 0.2],
        "losses": [[1.0, None], [0.5, 0.4]],
        "steps": 2,
        "cooldown": 0.0,
    }
    again = ProbeResult.from_dict(data)
    assert again.best == 0.2 and math.isnan(again.losses[0][1])
    cooled = ProbeResult.from_dict({**data, "cooldown": 0.6})
    assert cooled.cooldown == 0.6 and cooled.to_dict()["cooldown"] == 0.6
    del data["cooldown"]  # written before the cooldown existed: a constant probe
    assert ProbeResult.from_dict(data).cooldown == 0.0
    with pytest.raises(ValueError, match="probe result: missing field 'steps'"):
        ProbeResult.from_dict({"lrs": [], "losses": []})


def test_a_candidate_holds_its_rate_then_decays_linearly_over_the_cooldown():
    assert [candidate_schedule(0.1, 10)(t) for t in range(10)] == [0.1] * 10
    rates = [candidate_schedule(0.1, 10, cooldown=0.4)(t) for t in range(10)]
    # held for 6 steps, then 0.1·(10 − t)/4 over the last 4: no step is wasted at 0
    assert rates == pytest.approx([0.1] * 7 + [0.075, 0.05, 0.025])
    assert candidate_schedule(0.1, 3, cooldown=0.01)(2) == pytest.approx(0.1)  # at least 1 step


@pytest.mark.parametrize("cooldown", [-0.1, 1.5, math.nan, True, "0.5"])
def test_bad_cooldown_is_named(cooldown):
    train, opened, _ = quadratic_train()
    with pytest.raises(ValueError, match="cooldown: must be a fraction in"):
        probe(train, [0.1], 5, cooldown=cooldown)
    assert opened == []


def noisy_descent(curvature: float = 0.1, noise: float = 5.0, start: float = 10.0):
    """SGD on the mean of curvature·x²/2 over 100 coordinates, with the same seeded gradient
    noise for every candidate."""

    def train(rate):
        rng = np.random.default_rng(0)
        x = np.full(100, start)
        for step in itertools.count():
            x = x - rate(step) * (curvature * x + noise * rng.standard_normal(x.size))
            yield float(0.5 * curvature * np.mean(x * x))

    return train


def test_a_cooldown_scores_the_rate_to_hold_before_a_decay_not_the_rate_to_keep():
    # At a constant rate the bold candidate settles on a noise floor lr·noise²/4 above the
    # safe one's loss; after a decay its noise anneals and the ground it covered counts.
    train = noisy_descent()
    kept = probe(train, [0.5, 0.05], steps=100)
    cooled = probe(train, [0.5, 0.05], steps=100, cooldown=0.6)
    assert kept.best == 0.05 and kept.cooldown == 0.0
    assert cooled.best == 0.5 and cooled.cooldown == 0.6
    assert cooled.scores[0] < kept.scores[0] / 1.5  # the decay took the bold rate off its floor


def test_probe_steps_is_a_third_of_the_run():
    assert probe_steps(300) == 100
    assert probe_steps(2) == 1
    with pytest.raises(ValueError, match="total_steps: must be an integer >= 1"):
        probe_steps(0)


@pytest.mark.parametrize(
    ("lrs", "steps", "message"),
    [
        ([0.1], 0, "steps: must be an integer >= 1"),
        ([0.1], 2.5, "steps: must be an integer >= 1"),
        ([], 5, "lrs: must be positive finite"),
        ([0.1, -1.0], 5, "lrs: must be positive finite"),
        ([math.nan], 5, "lrs: must be positive finite"),
    ],
)
def test_bad_arguments_are_named(lrs, steps, message):
    train, opened, _ = quadratic_train()
    with pytest.raises(ValueError, match=message):
        probe(train, lrs, steps)
    assert opened == []
