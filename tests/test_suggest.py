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


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum", "default"])
def test_rules_cut_the_curve_at_the_first_nan(rule):
    losses = sigmoid_drop(LRS, centre=1e-3)
    losses[100:] = -50.0  # after the NaN: would win every rule if it were read
    losses[99] = math.nan
    found = suggest.suggest(LRS, losses, rule)
    assert found.index < 99
    assert LRS[0] <= found.lr <= LRS[98]


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum"])
def test_rules_refuse_a_flat_curve(rule):
    with pytest.raises(SuggestionError, match="never fell"):
        suggest.suggest(LRS, np.full(len(LRS), 2.3), rule)


@pytest.mark.parametrize("rule", ["steepest", "valley", "minimum"])
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


def test_default_rule_is_valley_for_now():
    losses = sigmoid_drop(LRS, centre=1e-3)
    assert suggest.suggest(LRS, losses).lr == suggest.valley(LRS, losses).lr


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="equal length"):
        suggest.suggest([1e-3, 1e-2], [1.0])


def test_clr_bounds_bracket_the_descent():
    losses = sigmoid_drop(LRS, centre=1e-3, width=0.3)
    base_lr, max_lr = suggest.clr_bounds(LRS, losses)
    # 10% and 90% of the fall of a logistic in log10 lr: centre -/+ width * ln(9) decades
    offset = 0.3 * math.log(9)
    assert math.log10(base_lr) == pytest.approx(-3 - offset, abs=0.05)
    assert math.log10(max_lr) == pytest.approx(-3 + offset, abs=0.05)
