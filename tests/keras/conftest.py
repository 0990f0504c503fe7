"""Fixtures for the Keras tests: a small classification problem, a model for it, and the
model's whole state to check that a range test or probe restored it bit for bit.

Each fixture is the function itself (``make_model(optimizer, dropout=..., seed=...)``,
``data(n, seed=...)``, ...). Keras is imported when a fixture is used, after the test module
has set ``KERAS_BACKEND``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def _data(n: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, :2].sum(axis=1) > 0).astype("int64")


def _make_model(optimizer: Any = "adam", *, dropout: bool = True, seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.BatchNormalization(),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(0.2))
    model = keras.Sequential([*layers, keras.layers.Dense(2)])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _state(model: Any) -> list[np.ndarray]:
    """Every model variable (seed state included), optimizer variable and metric variable."""
    import keras

    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    return [np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in variables]


def _assert_identical(before: list[np.ndarray], model: Any) -> None:
    after = _state(model)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert old.dtype == new.dtype and np.array_equal(old, new)  # bit-identical


def _warmed_up(model: Any) -> Any:
    """Train one epoch so the optimizer holds real moments and a nonzero iteration count."""
    x, y = _data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


@pytest.fixture
def data() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``data(n=128, seed=0)``: ``n`` rows of 8 normal features, the label whether the first
    two sum above zero."""
    return _data


@pytest.fixture
def make_model() -> Callable[..., Any]:
    """``make_model(optimizer="adam", *, dropout=True, seed=0)``: a compiled, seeded
    Dense-BatchNorm(-Dropout)-Dense classifier for :func:`data`."""
    return _make_model


@pytest.fixture
def state() -> Callable[[Any], list[np.ndarray]]:
    """``state(model)``: a copy of every model, optimizer and metric variable."""
    return _state


@pytest.fixture
def assert_identical() -> Callable[[list[np.ndarray], Any], None]:
    """``assert_identical(before, model)``: the model's state is bit for bit ``before``."""
    return _assert_identical


@pytest.fixture
def warmed_up() -> Callable[[Any], Any]:
    """``warmed_up(model)``: the model after one epoch on :func:`data`."""
    return _warmed_up
