"""lrkit schedules against Keras 3's own schedules over >= 10,000 steps (max rel. error 1e-9).

Keras computes in float32 by default, and its type promotion turns float64 into float32 (to
match JAX without ``jax_enable_x64``). For these comparisons both are switched to float64:
``floatx`` through ``keras.config`` and the promotion through Keras's 64-to-32 table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lrkit import schedules as S  # noqa: E402

N = 10_000
RTOL = 1e-9
K = keras.optimizers.schedules

# Keras's torch backend converts tensors with a numpy call numpy 2 flags; not ours to fix
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def float64(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from keras.src.backend.common import dtypes

    monkeypatch.setattr(dtypes, "BIT64_TO_BIT32_DTYPE", {})
    before = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(before)


def keras_values(schedule: Any, steps: int = N, one_by_one: bool = False) -> np.ndarray:
    if one_by_one:  # for schedules that take only a scalar step
        values = np.array([keras.ops.convert_to_numpy(schedule(t)) for t in range(steps)])
    else:
        values = keras.ops.convert_to_numpy(schedule(keras.ops.arange(steps, dtype="int64")))
    assert values.dtype == np.float64
    return np.asarray(values)


def assert_parity(ours: S.Schedule, theirs: np.ndarray) -> None:
    assert len(theirs) >= N
    mine = ours(np.arange(len(theirs)))
    assert float(np.max(np.abs(mine - theirs) / np.abs(theirs))) <= RTOL


def test_exponential_decay() -> None:
    theirs = keras_values(K.ExponentialDecay(0.1, 700, 0.6))
    assert_parity(S.exponential(0.1, gamma=0.6, decay_steps=700), theirs)


def test_exponential_decay_staircase() -> None:
    theirs = keras_values(K.ExponentialDecay(0.1, 700, 0.6, staircase=True))
    assert_parity(S.exponential(0.1, gamma=0.6, decay_steps=700, staircase=True), theirs)


def test_piecewise_constant_decay() -> None:
    boundaries, values = [1000, 4000, 4001], [0.1, 0.05, 0.01, 0.001]
    theirs = keras_values(K.PiecewiseConstantDecay(boundaries, values), one_by_one=True)
    assert_parity(S.piecewise_constant(boundaries, values), theirs)


@pytest.mark.parametrize(("power", "end"), [(1.0, 1e-4), (0.5, 1e-3), (3.0, 2e-3)])
def test_polynomial_decay(power: float, end: float) -> None:
    theirs = keras_values(K.PolynomialDecay(0.1, 8000, end_learning_rate=end, power=power))
    assert_parity(S.polynomial(0.1, total_steps=8000, floor=end, power=power), theirs)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase: bool) -> None:
    theirs = keras_values(K.InverseTimeDecay(0.1, 50, 0.3, staircase=staircase))
    assert_parity(S.inverse_time(0.1, rate=0.3, decay_steps=50, staircase=staircase), theirs)


def test_inverse_time_decay_is_the_time_based_decay_per_step() -> None:
    theirs = keras_values(K.InverseTimeDecay(0.1, 1, 0.01))
    assert_parity(S.inverse_time(0.1, rate=0.01), theirs)


def test_cosine_decay() -> None:
    theirs = keras_values(K.CosineDecay(0.1, 9000, alpha=0.01), N)
    assert_parity(S.cosine(0.1, total_steps=9000, floor=0.001), theirs)


def test_cosine_decay_with_warmup() -> None:
    theirs = keras_values(
        K.CosineDecay(0.001, 8000, alpha=0.05, warmup_target=0.1, warmup_steps=1500),
        N,
        one_by_one=True,
    )
    ours = S.warmup(S.cosine(0.1, total_steps=8000, floor=0.005), warmup_steps=1500, start=0.001)
    assert_parity(ours, theirs)


@pytest.mark.parametrize(("t_mul", "m_mul"), [(1.0, 1.0), (2.0, 0.8), (1.5, 0.9)])
def test_cosine_decay_restarts(t_mul: float, m_mul: float) -> None:
    theirs = keras_values(K.CosineDecayRestarts(0.1, 300, t_mul=t_mul, m_mul=m_mul, alpha=0.02))
    ours = S.cosine_restarts(0.1, cycle_steps=300, cycle_mult=t_mul, decay=m_mul, floor=0.002)
    assert_parity(ours, theirs)
