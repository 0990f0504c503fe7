"""lrkit.keras.probe_lr: same start and batches for every candidate, everything restored."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lrkit import range_test  # noqa: E402
from lrkit.keras import probe_lr  # noqa: E402
from lrkit.probe import probe_candidates  # noqa: E402


def test_equal_candidates_see_the_same_start_batches_and_dropout(make_model, data):
    model = make_model()
    x, y = data()
    result = probe_lr(model, x, y, candidates=[0.01, 0.01], steps=12, progress=False)
    assert len(result.losses[0]) == 12  # 128 rows / 32: three passes over the data
    assert result.losses[0] == result.losses[1]


def test_model_optimizer_metrics_and_generators_are_restored(
    make_model, data, state, assert_identical
):
    model = make_model("sgd")
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # state worth keeping
    before = state(model)
    numpy_draw = np.random.get_state()[1].copy()  # noqa: NPY002
    probe_lr(model, x, y, candidates=[0.1, 1e4], steps=20, progress=False)
    assert_identical(before, model)
    assert np.array_equal(np.random.get_state()[1], numpy_draw)  # noqa: NPY002


def test_a_learning_rate_that_learns_beats_one_that_does_not(make_model, data):
    model = make_model("sgd", dropout=False)
    x, y = data(256)
    result = probe_lr(model, x, y, candidates=[1e-6, 0.1], steps=40, progress=False)
    assert result.best == 0.1
    assert result.scores[1] < result.scores[0]


def test_candidates_come_from_a_range_test_and_bad_input_is_named(make_model, data):
    model = make_model()
    x, y = data()
    curve = range_test(
        lambda lr: 1 + (math.log10(lr) + 2) ** 2,
        start_lr=1e-5,
        end_lr=1.0,
        num_steps=50,
        smoothing=0.0,
    )
    result = probe_lr(model, x, y, candidates=curve, steps=3, progress=False)
    assert result.lrs == pytest.approx(probe_candidates(curve))
    with pytest.raises(ValueError, match="batch_size: must be >= 1"):
        probe_lr(model, x, y, candidates=[0.1], steps=3, batch_size=0)
    with pytest.raises(ValueError, match="steps: must be an integer >= 1"):
        probe_lr(model, x, y, candidates=[0.1], steps=0, progress=False)
    with pytest.raises(ValueError, match="model: is not compiled"):
        probe_lr(keras.Sequential([keras.layers.Dense(1)]), x, y, candidates=[0.1], steps=3)


def test_with_a_cooldown_the_rate_decays_from_the_second_step(make_model, data):
    x, y = data()
    held = probe_lr(
        make_model("sgd", dropout=False), x, y, candidates=[0.1], steps=6, progress=False
    )
    cooled = probe_lr(
        make_model("sgd", dropout=False),
        x,
        y,
        candidates=[0.1],
        steps=6,
        cooldown=1.0,
        progress=False,
    )
    assert cooled.cooldown == 1.0 and held.cooldown == 0.0
    # step 0 trains at the full rate in both, so the first two losses agree; from step 1 on
    # the cooled-down candidate trains at 0.1·(6 − t)/6 and its losses part ways
    assert cooled.losses[0][:2] == pytest.approx(held.losses[0][:2], rel=1e-6)
    assert all(
        a != pytest.approx(b, rel=1e-6)
        for a, b in zip(cooled.losses[0][2:], held.losses[0][2:], strict=True)
    )
