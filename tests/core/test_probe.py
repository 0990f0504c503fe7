"""lrkit.probe: candidates from the curve, scores, the winner, and the driver loop."""

import itertools
import json
import math

import numpy as np
import pytest

from lrkit import SuggestionError, range_test
from lrkit.probe import (
    HOLD_FRACTION,
    NOISE_Z,
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


def fell_to(*scores: float, start: float = 3.0) -> list[list[float]]:
    """Noiseless runs that start at ``start`` and settle on each score (the last fifth)."""
    return [[start] * 3 + [score] * 7 for score in scores]


def test_a_winning_bold_rate_is_stepped_back_for_training():
    bold_wins = ProbeResult(lrs=[0.3, 0.05], losses=fell_to(0.1, 0.2), steps=10)
    assert bold_wins.best == 0.3
    assert bold_wins.suggestion == pytest.approx(0.3 / STEP_BACK)
    safe_wins = ProbeResult(lrs=[0.3, 0.05], losses=fell_to(0.3, 0.2), steps=10)
    assert safe_wins.suggestion == safe_wins.best == 0.05
    middle_wins = ProbeResult(lrs=[0.3, 0.1, 0.05], losses=fell_to(0.3, 0.1, 0.2), steps=10)
    assert middle_wins.suggestion == 0.1
    alone = ProbeResult(lrs=[0.3], losses=fell_to(0.3), steps=10)
    assert alone.suggestion == 0.3


def test_the_rate_held_before_a_decay_is_the_boldest_that_made_most_of_the_largest_fall():
    assert HOLD_FRACTION == 0.8

    def result(*scores: float, start: float = 3.0) -> ProbeResult:
        lrs = [0.3, 0.05] if len(scores) == 2 else [0.3, 0.1, 0.05]
        return ProbeResult(lrs=lrs, losses=fell_to(*scores, start=start), steps=10)

    assert result(1.0, 2.0).hold == 0.3  # the bold rate won outright
    assert result(1.4, 1.0).hold == 0.3  # lost, but made 1.6 of the largest fall, 2.0: 80 %
    assert result(1.41, 1.0).hold == 0.05  # made less: the safe rate is held
    assert result(1.41, 1.0).best == 0.05 == result(1.4, 1.0).best  # best is unchanged
    assert result(2.0, 1.1, 1.0).hold == 0.1  # the boldest that made 80 % of the fall
    assert result(math.inf, 1.1, 1.0).hold == 0.1  # a diverged candidate never is
    # the same losses mean the same on any scale: a fall, not a ratio of raw losses
    assert result(14.0, 10.0, start=30.0).hold == 0.3
    assert result(0.14, 0.1, start=0.3).hold == 0.3
    # near a floor a ratio of raw losses punishes what a fall does not
    assert result(0.03, 0.01).hold == 0.3
    assert result(0.03, 0.01).boldest_within(1.5) == 0.05
    assert result(1.0, 1.0).boldest_within(1.0) == 0.3  # 1: the best, ties to the bolder
    with pytest.raises(ValueError, match="tolerance: must be a finite number >= 1, got 0.5"):
        result(1.0, 2.0).boldest_within(0.5)
    diverged = ProbeResult(lrs=[0.1, 0.2], losses=[[math.inf], [math.nan]], steps=5)
    with pytest.raises(SuggestionError, match="every candidate diverged"):
        _ = diverged.hold


def noisy_runs(bold_gap: float, noise: float = 0.1, start: float = 2.3, steps: int = 40):
    """Two candidates that fall from ``start`` to 1.0 (safe) and ``1.0 + bold_gap`` (bold) on
    the same batches: the same seeded batch-to-batch noise, plus each its own, smaller one."""
    rng = np.random.default_rng(0)
    batches = noise * rng.standard_normal(steps)
    own = 0.3 * noise * rng.standard_normal((2, steps))
    level = np.linspace(start, 1.0, steps // 2).tolist() + [1.0] * (steps - steps // 2)
    safe = np.asarray(level) + batches + own[1]
    bold = np.asarray(level) + np.linspace(0, bold_gap, steps) + batches + own[0]
    return ProbeResult(lrs=[0.3, 0.05], losses=[bold.tolist(), safe.tolist()], steps=steps)


def test_two_candidates_within_the_noise_of_each_other_keep_the_safe_rate():
    assert NOISE_Z == 2.0
    close = noisy_runs(bold_gap=-0.01)  # the bold rate is lower by far less than the noise
    assert close.scores[0] < close.scores[1]
    assert close.tied and close.best == close.suggestion == 0.05
    assert "within the noise" in close.verdict
    apart = noisy_runs(bold_gap=-0.3)  # lower by three noise units
    assert not apart.tied and apart.best == 0.3
    assert apart.verdict == "the candidates differ by more than their noise"


def test_a_probe_that_learned_nothing_beyond_its_noise_keeps_the_safe_rate():
    # both candidates barely moved from 2.30: the bold one's lower loss is within the noise
    rng = np.random.default_rng(1)
    bold = (2.30 - 0.05 * np.linspace(0, 1, 40) + 0.15 * rng.standard_normal(40)).tolist()
    safe = (2.30 - 0.02 * np.linspace(0, 1, 40) + 0.15 * rng.standard_normal(40)).tolist()
    stalled = ProbeResult(lrs=[0.3, 0.05], losses=[bold, safe], steps=40)
    assert not stalled.informative
    assert stalled.best == stalled.hold == stalled.suggestion == 0.05
    assert stalled.verdict.startswith("no candidate's loss fell by more than 2")
    learned = ProbeResult(lrs=[0.3, 0.05], losses=[[x - 1.0 for x in bold], safe], steps=40)
    assert learned.informative and learned.hold == 0.3


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
    raw = {k: data[k] for k in ("lrs", "losses", "steps", "cooldown")}
    assert raw == {
        "lrs": [0.1, 0.2],
        "losses": [[1.0, None], [0.5, 0.4]],
        "steps": 2,
        "cooldown": 0.0,
    }
    # the readings are stored beside the losses, for whoever reads the file
    assert data["scores"] == [None, pytest.approx(0.45)]
    assert (data["best"], data["suggestion"], data["hold"]) == (
        result.best,
        result.suggestion,
        result.hold,
    )
    assert data["verdict"] == result.verdict
    json.dumps(data, allow_nan=False)
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
