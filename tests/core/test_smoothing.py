import math

import numpy as np
import pytest

from lrkit.smoothing import EMA, ema, running_median


def by_hand(values, beta):
    """avg_n = β·avg_{n-1} + (1-β)·x_n, s_n = avg_n / (1-β^n) over the finite values."""
    out, avg, n = [], 0.0, 0
    for x in values:
        if math.isfinite(x):
            n += 1
            avg = beta * avg + (1 - beta) * x
            out.append(avg / (1 - beta**n))
        else:
            out.append(math.nan)
    return out


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.98])
def test_ema_matches_the_formula_bit_for_bit(beta):
    rng = np.random.default_rng(0)
    values = list(rng.normal(3.0, 1.0, 50))
    values[7] = math.nan
    values[20] = math.inf
    expected = by_hand(values, beta)
    np.testing.assert_array_equal(ema(values, beta), expected)
    streaming = EMA(beta)
    got = [streaming.update(x) for x in values]
    finite = np.isfinite(values)
    assert np.array_equal(np.asarray(got)[finite], np.asarray(expected)[finite])
    assert streaming.count == int(finite.sum())


def test_a_non_finite_value_leaves_the_average_where_it_was():
    average = EMA(0.9)
    assert math.isnan(average.value)
    assert math.isnan(average.update(math.nan))
    first = average.update(2.0)
    assert first == 2.0  # bias correction: the first value is the average
    assert average.update(math.inf) == first
    assert average.count == 1


def test_move_to_sets_the_smoothed_value():
    average = EMA(0.9)
    for x in (5.0, 4.0, 3.0):
        average.update(x)
    average.move_to(4.5)
    assert average.value == pytest.approx(4.5, rel=1e-15)
    assert average.count == 3
    assert average.update(4.5) == pytest.approx(4.5, rel=1e-15)


@pytest.mark.parametrize("beta", [1.0, -0.1, "0.9", None])
def test_beta_outside_zero_one_is_refused(beta):
    with pytest.raises(ValueError, match=r"beta: must be a number in \[0, 1\)"):
        EMA(beta)


@pytest.mark.parametrize("size", [1, 2, 5, 16])
def test_running_median_is_the_median_of_the_finite_values_in_each_window(size):
    rng = np.random.default_rng(size)
    values = rng.normal(size=300)
    values[[3, 40, 41, 42, 200]] = [math.nan, math.inf, -math.inf, math.nan, math.nan]
    got = running_median(values, size)
    for t in range(values.size):
        window = values[max(t - size + 1, 0) : t + 1]
        window = window[np.isfinite(window)]
        if window.size:
            assert got[t] == np.median(window), t
        else:
            assert math.isnan(got[t]), t


def test_running_median_over_more_values_than_a_chunk():
    values = np.arange(70000, dtype=float)[::-1]
    got = running_median(values, 4)
    assert got[0] == 69999.0 and got[1] == 69998.5
    assert np.array_equal(got[3:], values[3:] + 1.5)


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_running_median_size_must_be_a_positive_integer(size):
    with pytest.raises(ValueError, match="size: must be an integer >= 1"):
        running_median([1.0, 2.0], size)
