"""Suggestion rules on synthetic curves with known answers."""

import math

import numpy as np
import pytest

from lrkit import suggest
from lrkit.suggest import SuggestionError


def sigmoid_drop(lrs: np.ndarray, centre: float, width: float = 0.5) -> np.ndarray:
    """Loss falling from 2 to 1 around ``centre`` (in log10 lr), then blowing up past 1."""
    x = np.log10(lrs)
    fall = 1.0 + 1.0 / (1.0 + np.exp((x - np.log10(centre)) / width))
    blow_up = np.where(lrs > 1.0, (np.log10(lrs)) ** 2 * 5, 0.0)
    return fall + blow_up


LRS = np.geomspace(1e-6, 10, 141)


def test_steepest_finds_the_inflection_of_the_descent():
    found = suggest.steepest(LRS, sigmoid_drop(LRS, centre=1e-3))
    assert found.lr == pytest.approx(1e-3, rel=0.1)
    assert found.method == "steepest"


def test_minimum_is_a_tenth_of_the_lowest_point():
    losses = (np.log10(LRS) + 2) ** 2  # lowest at lr = 1e-2
    found = suggest.minimum(LRS, losses)
    assert found.lr == pytest.approx(1e-3, rel=1e-9)
    assert LRS[found.index] <= found.lr < LRS[found.index + 1]


def test_minimum_never_leaves_the_swept_range():
    lrs = np.geomspace(1e-3, 1, 20)
    losses = np.linspace(1.0, 2.0, 20)
    losses[1] = 0.5  # lowest at the second point: lr/10 is below the sweep
    assert suggest.minimum(lrs, losses).lr == lrs[0]


def test_valley_is_the_middle_of_the_longest_descent():
    losses = np.concatenate([np.full(10, 3.0), np.linspace(3.0, 1.0, 21)[1:], np.full(10, 5.0)])
    lrs = np.geomspace(1e-5, 1, len(losses))
    found = suggest.valley(lrs, losses)
    # the descent runs from index 9 (last 3.0) to index 29 (1.0): middle is 19
    assert found.index == 19
    assert found.lr == lrs[19]


def test_longest_descent_skips_bumps():
    losses = np.array([5, 4, 6, 3, 2.5, 7, 2, 1, 8.0])
    assert suggest.longest_descent(losses) == (0, 7)


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum", "slide", "centred", "default"])
def test_rules_cut_the_curve_at_the_first_nan(rule):
    losses = sigmoid_drop(LRS, centre=1e-3)
    losses[100:] = -50.0  # after the NaN: would win every rule if it were read
    losses[99] = math.nan
    found = suggest.suggest(LRS, losses, rule)
    assert found.index < 99
    assert LRS[0] <= found.lr <= LRS[98]


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum", "slide", "centred"])
def test_rules_refuse_a_flat_curve(rule):
    with pytest.raises(SuggestionError, match="never fell"):
        suggest.suggest(LRS, np.full(len(LRS), 2.3), rule)


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum", "slide", "centred"])
def test_rules_refuse_a_curve_too_short(rule):
    with pytest.raises(SuggestionError, match="at least 5"):
        suggest.suggest(LRS[:3], [3.0, 2.0, 1.0], rule)


def test_rules_refuse_a_curve_that_is_nan_from_the_start():
    losses = np.full(len(LRS), math.nan)
    with pytest.raises(SuggestionError, match="0 finite points"):
        suggest.suggest(LRS, losses)


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="method: unknown rule 'best'.*steepest"):
        suggest.suggest(LRS, sigmoid_drop(LRS, 1e-3), "best")


def test_default_rule_is_centred():
    losses = sigmoid_drop(LRS, centre=1e-3)
    assert suggest.suggest(LRS, losses).lr == suggest.centred(LRS, losses).lr
    assert suggest.suggest(LRS, losses).method == "default (centred)"


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="equal length"):
        suggest.suggest([1e-3, 1e-2], [1.0])


def test_clr_bounds_bracket_the_descent():
    losses = sigmoid_drop(LRS, centre=1e-3, width=0.3)
    base_lr, max_lr = suggest.clr_bounds(LRS, losses)
    # 10% and 90% of the fall of a logistic in log10 lr: centre -/+ width * ln(9) decades
    # the centred Gaussian (sigma = 3% of 141 points = 0.21 decades) widens the fall slightly
    offset = 0.3 * math.log(9)
    assert math.log10(base_lr) == pytest.approx(-3 - offset, abs=0.15)
    assert math.log10(max_lr) == pytest.approx(-3 + offset, abs=0.15)
    assert math.log10(max_lr) - math.log10(base_lr) >= 2 * offset


def test_centred_reads_the_minimum_without_the_ema_lag():
    lrs = np.geomspace(1e-5, 1, 101)
    raw = (np.log10(lrs) + 2) ** 2 + 1  # lowest at 1e-2
    rng = np.random.default_rng(0)
    noisy = raw + rng.normal(0, 0.02, raw.shape)
    found = suggest.centred(lrs, noisy)
    assert found.lr == pytest.approx(1e-2 / 6, rel=0.35)  # lr at the minimum / 6
    lagged = np.empty_like(raw)  # an EMA of the same curve puts its minimum further right
    avg = 0.0
    for i, value in enumerate(raw):
        avg = 0.9 * avg + 0.1 * value
        lagged[i] = avg / (1 - 0.9 ** (i + 1))
    assert suggest.minimum(lrs, lagged).lr * 10 > 1.3 * found.lr * 6


def test_centred_ignores_a_lucky_first_batch():
    lrs = np.geomspace(1e-5, 1, 101)
    raw = (np.log10(lrs) + 2) ** 2 / 10 + 1.0
    raw[0] = 0.2  # one low batch would be the minimum of the raw curve
    assert suggest.centred(lrs, raw).lr == pytest.approx(1e-2 / 6, rel=0.35)


def test_centred_smoothing_keeps_a_straight_line():
    line = np.linspace(3.0, 1.0, 50)
    np.testing.assert_allclose(suggest.centred_smooth(line, 2.0)[6:-6], line[6:-6], atol=1e-12)


def test_slide_stops_where_the_curve_straightens():
    lrs = np.geomspace(1e-5, 1, 100)
    losses = np.concatenate([np.linspace(2.0, 1.0, 60), 1.0 + np.linspace(0, 3, 40) ** 2])
    found = suggest.slide(lrs, losses)
    # the window's ends agree once it sits inside the straight fall (indices 0..59)
    assert 30 <= found.index <= 59
    assert found.method == "slide"


@pytest.mark.parametrize("rule", ["centred", "slide"])
def test_new_rules_refuse_flat_and_cut_at_nan(rule):
    with pytest.raises(SuggestionError):
        suggest.suggest(LRS, np.full(len(LRS), 1.0), rule)
    losses = sigmoid_drop(LRS, centre=1e-3)
    losses[90] = math.inf
    assert suggest.suggest(LRS, losses, rule).index < 90


def test_centred_blow_up_leaks_less_after_clipping():
    lrs = np.geomspace(1e-5, 1, 101)
    raw = (np.log10(lrs) + 2) ** 2 / 10 + 1.0  # lowest at 1e-2 (index 60)
    raw[61:] = 1.0 + 50.0 * np.arange(1, 41)  # the sweep explodes right after the minimum
    found = suggest.centred(lrs, raw)
    unclipped = lrs[int(np.argmin(suggest.centred_smooth(raw, 3.0)))] / 6
    assert found.lr > unclipped
    assert 1e-2 / 6 / 3 < found.lr <= 1e-2 / 6


def test_start_level_is_robust_to_one_odd_first_batch():
    losses = np.array([0.1, 2.0, 2.1, 1.9, 2.0, 1.5, 1.0, 0.5, 0.4, 0.3, 2.0, 3.0])
    assert suggest.start_level(losses) == pytest.approx(2.0)


def test_centred_interval_is_wide_on_a_flat_bottom_and_narrow_on_a_sharp_one():
    lrs = np.geomspace(1e-5, 1, 101)
    x = np.log10(lrs) + 2  # decades from 1e-2
    sharp = np.abs(x) + 1.0  # a V, lowest at 1e-2
    flat = np.maximum(np.abs(x) - 1.0, 0.0) + 1.0  # flat for a decade either side of 1e-2
    sharp_low, sharp_high = suggest.centred_interval(lrs, sharp)
    flat_low, flat_high = suggest.centred_interval(lrs, flat)
    for low, high, curve in ((sharp_low, sharp_high, sharp), (flat_low, flat_high, flat)):
        assert low <= suggest.centred(lrs, curve).lr <= high
    # the V starts at its start level s and bottoms at 1: within 10% of the fall, |x| <= 0.1 (s-1)
    half_width = 0.1 * (suggest.start_level(sharp) - 1.0)
    assert math.log10(sharp_high / sharp_low) == pytest.approx(2 * half_width, abs=0.2)
    assert math.log10(flat_high / flat_low) >= 2.0


def test_rise_is_the_first_rate_past_the_minimum_ten_percent_above_the_start():
    from lrkit.suggest import rise

    lrs = np.logspace(-4, 0, 41)
    losses = np.ones_like(lrs)
    losses[20:25] = 0.5  # a dip, then a climb: 1.05 at index 30, 1.2 from index 31 on
    losses[30] = 1.05
    losses[31:] = 1.2
    # the centred smoother (σ = 1.5 points) blurs the step: the smoothed curve first exceeds
    # 1.1 where the raw one reaches 1.2 minus a little, one point before index 31 at most
    found = rise(lrs, losses)
    assert found in (lrs[30], lrs[31])
    assert rise(lrs, np.ones_like(lrs)) is None  # never rose
    assert rise(lrs, np.linspace(1.0, 0.5, 41)) is None  # only fell
    assert rise(lrs[:3], losses[:3]) is None  # too few points


def test_a_noisy_flat_curve_rises_where_it_blows_up_not_where_its_noise_wanders():
    import lrkit.suggest as rules

    # 40 points of 1 ± 0.2 noise that never fall, then a blow-up at the last two: the smoothed
    # curve wanders more than 10 % above its start, but not RISE_Z times its noise above it
    rng = np.random.default_rng(3)
    lrs = np.geomspace(1e-5, 0.3, 42)
    losses = np.concatenate([1.0 + rng.normal(0, 0.2, 40), [8.0, 20.0]])
    smooth = rules.centred_smooth(losses, rules._smoothing_width(losses.size))
    start, lowest = rules.start_level(smooth), int(np.argmin(smooth))
    wandered = lowest + int(np.argmax(smooth[lowest:] > 1.1 * start))
    assert wandered < 30  # ten per cent alone is fooled by the noise, far from the blow-up
    assert 4 * rules._curve_noise(losses, smooth) > 0.1 * start
    found = rules.rise(lrs, losses)
    # the blow-up, which the smoother (σ = 1.5 points) blurs back by a few points
    assert found is not None and lrs[36] <= found <= lrs[40]
    assert rules.RISE_Z == 4.0


def test_a_rule_of_your_own_gets_the_finite_curve_and_its_rate_is_marked():
    lrs = np.geomspace(1e-5, 1.0, 30)
    losses = 2.0 - sigmoid_drop(lrs, 1e-2)
    losses[-3:] = [np.nan, 5.0, 6.0]
    seen = {}

    def tenth_of_minimum(rule_lrs, rule_losses):
        seen["lrs"], seen["losses"] = rule_lrs, rule_losses
        return float(rule_lrs[np.argmin(rule_losses)] / 10)

    found = suggest.suggest(lrs, losses, tenth_of_minimum)
    np.testing.assert_array_equal(seen["lrs"], lrs[:27])  # cut at the first non-finite loss
    np.testing.assert_array_equal(seen["losses"], losses[:27])
    assert found.method == "tenth_of_minimum"
    assert found.lr == pytest.approx(lrs[int(np.argmin(losses[:27]))] / 10)
    assert found.index == int(np.argmin(np.abs(np.log(lrs) - math.log(found.lr))))
    mine = suggest.Suggestion(1e-3, 4, "mine")
    assert suggest.suggest(lrs, losses, lambda a, b: mine) is mine


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        ("0.01", TypeError, "rule: bad returned str; a rule returns a learning rate"),
        (None, TypeError, "rule: bad returned NoneType"),
        (True, TypeError, "rule: bad returned bool"),
        (-1.0, ValueError, "rule: bad returned -1.0; a learning rate must be finite and > 0"),
        (math.nan, ValueError, "rule: bad returned nan"),
    ],
)
def test_a_rule_returning_anything_else_is_named(returned, error, message):
    def bad(lrs, losses):
        return returned

    lrs = np.geomspace(1e-5, 1.0, 30)
    with pytest.raises(error, match=message):
        suggest.suggest(lrs, 2.0 - sigmoid_drop(lrs, 1e-2), bad)
