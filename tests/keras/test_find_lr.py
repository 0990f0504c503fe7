"""lrkit.keras: find_lr and the LRFinder callback on real Keras 3 models; the restore guarantee."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lrkit import RangeTestSettings  # noqa: E402
from lrkit.keras import LRFinder, find_lr  # noqa: E402

QUIET = {"progress": False}


class _Spy(keras.utils.PyDataset):
    """``batches`` batches of 16 (batch ``k`` from ``data(seed=k)``); as each is read,
    ``look()`` is appended to :attr:`seen`."""

    def __init__(self, batches: int, data: Callable[..., Any], look: Callable[[], Any]) -> None:
        super().__init__()
        self.batches, self.data, self.look = batches, data, look
        self.seen: list[Any] = []

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append(self.look())
        x, y = self.data(seed=index)
        return x[:16], y[:16]


def _linear_regression() -> tuple[np.ndarray, np.ndarray, Any]:
    """64 samples of a linear target and a one-layer model (seeded) compiled with
    ``SGD(0.01)`` and mean squared error."""
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return x, y, model


def test_restores_weights_optimizer_variables_and_metrics_bit_identically(
    make_model, warmed_up, data, state, assert_identical
):
    model = warmed_up(make_model(keras.optimizers.Adam(3e-3)))
    before = state(model)
    assert int(model.optimizer.iterations.numpy()) == 4
    x, y = data(seed=1)
    result = find_lr(model, x, y, batch_size=16, num_steps=30, end_lr=1.0, **QUIET)
    assert len(result.lrs) == len(result.losses) >= 2
    assert result.lrs[0] == pytest.approx(1e-7)
    assert result.settings["optimizer"] == "Adam"
    assert result.settings["backend"] == keras.backend.backend()
    assert result.settings["batch_size"] == 16
    assert_identical(before, model)


def test_training_after_the_sweep_is_training_without_it(make_model, warmed_up, data, state):
    """Weights, optimizer and the global generators (dropout draws from them) all come back.

    The model has been trained once, so it is fully built: building draws random numbers.
    """
    x, y = data()
    trained = []
    for sweep_first in (False, True):
        model = warmed_up(make_model(keras.optimizers.Adam(3e-3)))
        keras.utils.set_random_seed(1)
        if sweep_first:
            find_lr(model, x, y, num_steps=10, end_lr=1.0, **QUIET)
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        trained.append(state(model))
    for without, with_sweep in zip(*trained, strict=True):
        assert np.array_equal(without, with_sweep)


def test_the_model_really_trains_during_the_sweep(make_model, warmed_up, data):
    """Guards the restore test: without the restore, the sweep would have changed the model."""
    model = warmed_up(make_model(keras.optimizers.Adam(3e-3)))
    weights = model.get_weights()
    spy = _Spy(4, data, lambda: int(model.optimizer.iterations.numpy()))
    find_lr(model, spy, num_steps=6, end_lr=1.0, **QUIET)
    # the first batch is read before the sweep (to build), each later one after one more step
    assert spy.seen == [4, 5, 6, 7, 8, 9]
    for old, new in zip(weights, model.get_weights(), strict=True):
        assert np.array_equal(old, new)


def test_the_optimizer_sees_the_swept_learning_rates(make_model, data):
    model = make_model(keras.optimizers.SGD(0.05))
    spy = _Spy(3, data, lambda: float(model.optimizer.learning_rate.numpy()))
    result = find_lr(model, spy, start_lr=1e-4, end_lr=1e-1, num_steps=5, **QUIET)
    # batch k is read once step k has set its learning rate (the first, before the sweep)
    assert spy.seen[0] == pytest.approx(0.05)
    assert spy.seen[1:] == pytest.approx(result.lrs[1:], rel=1e-6)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.05)


def test_each_step_trains_one_batch_once_over_every_sweep(make_model, data):
    model = make_model()
    calls = {"train": 0}
    train_on_batch = model.train_on_batch

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["train"] += 1
        return train_on_batch(*args, **kwargs)

    model.train_on_batch = counted
    x, y = data()
    result = find_lr(model, x, y, batch_size=16, start_lr=1e-9, end_lr=1e-8, num_steps=20, **QUIET)
    assert len(result.sweeps) > 1  # a flat curve is swept again: the retries count too
    assert calls["train"] == result.steps_run  # one batch per step, nothing replayed


def test_recorded_loss_is_the_batch_loss_not_the_running_mean(data):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(  # no dropout or batch-norm: training and inference losses agree
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = data(64)
    # learning rates this small leave the weights as they are, to float32 precision
    result = find_lr(
        model,
        x,
        y,
        batch_size=16,
        shuffle=False,
        start_lr=1e-12,
        end_lr=1e-11,
        num_steps=8,
        **QUIET,
    )
    per_batch = [
        model.test_on_batch(x[i : i + 16], y[i : i + 16], return_dict=True)["loss"]
        for i in (0, 16, 32, 48)
    ]
    assert np.ptp(per_batch) > 1e-2  # the batches differ, so a running mean would not match
    assert result.losses == pytest.approx(per_batch * 2, rel=1e-5)


def test_restores_after_the_loss_goes_non_finite(state, assert_identical):
    x, y, model = _linear_regression()
    before = state(model)
    result = find_lr(
        model, x, y, start_lr=1e-3, end_lr=1e12, num_steps=60, diverge_factor=1e300, **QUIET
    )
    assert result.stop_reason == "non-finite"
    assert not math.isfinite(result.losses[-1]) and len(result.lrs) < 60
    assert_identical(before, model)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_restores_when_a_step_raises_or_is_interrupted(
    error, make_model, warmed_up, data, state, assert_identical
):
    model = warmed_up(make_model())
    before = state(model)
    calls = {"n": 0}

    class Failing(keras.utils.PyDataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            calls["n"] += 1
            if calls["n"] == 7:
                raise error
            x, y = data(seed=index)
            return x[:16], y[:16]

    with pytest.raises(type(error)):
        find_lr(model, Failing(), num_steps=20, **QUIET)
    assert calls["n"] == 7
    assert_identical(before, model)


def test_a_fresh_model_and_optimizer_come_back_fresh(data):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    assert not model.built
    x, y = data()
    find_lr(model, x, y, num_steps=10, **QUIET)
    assert model.built and model.optimizer.built
    assert int(model.optimizer.iterations.numpy()) == 0
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    slots = [v for v in model.optimizer.variables if "momentum" in v.path or "velocity" in v.path]
    assert slots and all(not np.any(keras.ops.convert_to_numpy(v.value)) for v in slots)


def test_dict_inputs_for_a_two_input_model():
    keras.utils.set_random_seed(0)
    left, right = keras.Input((3,), name="left"), keras.Input((5,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model([left, right], keras.layers.Dense(1)(joined))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = {"left": rng.normal(size=(40, 3)), "right": rng.normal(size=(40, 5))}
    y = rng.normal(size=(40, 1))
    result = find_lr(model, x, y, batch_size=8, start_lr=1e-4, end_lr=1.0, num_steps=12, **QUIET)
    assert len(result.lrs) == 12 or result.stop_reason != "completed"


def test_a_dataloader_is_cycled(make_model, data):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    model = make_model(keras.optimizers.SGD(0.01))
    x, y = data(48)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16)
    passes = {"n": 0}

    class Counting:
        def __iter__(self):
            passes["n"] += 1
            yield from loader

    result = find_lr(model, Counting(), num_steps=7, end_lr=1e-3, **QUIET)
    assert len(result.lrs) == 7
    assert passes["n"] == 3  # 3 batches a pass, 7 steps


def test_validation_curve_uses_the_validation_data(make_model, data):
    model = make_model(keras.optimizers.Adam(1e-3), dropout=False)
    x, y = data()
    val_x, val_y = data(32, seed=5)
    result = find_lr(
        model,
        x,
        y,
        start_lr=1e-12,
        end_lr=1e-11,
        num_steps=4,
        validation_data=(val_x, val_y),
        val_batches=2,
        batch_size=16,
        **QUIET,
    )
    assert result.settings["curve"] == "validation"
    expected = model.evaluate(val_x, val_y, batch_size=16, verbose=0, return_dict=True)["loss"]
    assert result.losses[0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"start_lr": 0}, ValueError, "start_lr: must be > 0, got 0"),
        ({"end_lr": 1e-9}, ValueError, "end_lr: must be greater than start_lr"),
        ({"start_lr": math.inf}, ValueError, "start_lr: must be finite"),
        ({"num_steps": 1}, ValueError, "num_steps: must be >= 2"),
        ({"mode": "cosine"}, ValueError, "mode: must be one of exp, linear"),
        ({"smoothing": 1.5}, ValueError, r"smoothing: must be in \[0, 1\)"),
        ({"diverge_factor": 1.0}, ValueError, "diverge_factor: must be a finite number > 1"),
        ({"batch_size": 0}, ValueError, "batch_size: must be >= 1, got 0"),
        ({"batch_size": 2.5}, TypeError, "batch_size: must be an integer"),
        ({"val_batches": 0}, ValueError, "val_batches: must be >= 1"),
        ({"validation_data": (1, 2, 3)}, ValueError, "validation_data: give"),
    ],
)
def test_bad_settings_are_named(kwargs, error, message, make_model, data):
    model = make_model()
    x, y = data()
    with pytest.raises(error, match=message):
        find_lr(model, x, y, **QUIET, **kwargs)


def test_bad_models_and_inputs_are_named(make_model, data):
    x, y = data()
    with pytest.raises(TypeError, match="model: must be a keras.Model, got str"):
        find_lr("model", x, y, **QUIET)
    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"model: is not compiled; call model.compile"):
        find_lr(uncompiled, x, y, **QUIET)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(TypeError, match="learning rate comes from a ExponentialDecay"):
        find_lr(make_model(keras.optimizers.SGD(schedule)), x, y, **QUIET)
    model = make_model()
    with pytest.raises(ValueError, match="x: x and y must hold the same number of samples"):
        find_lr(model, x, y[:10], **QUIET)
    with pytest.raises(TypeError, match="y: must be None when x is a generator"):
        find_lr(model, (b for b in [(x, y)]), y, **QUIET)
    with pytest.raises(ValueError, match="x: the iterable yields no batches"):
        find_lr(model, iter([]), **QUIET)
    with pytest.raises(ValueError, match="yields no batches after the first 2; give one that can"):
        find_lr(model, iter([(x, y), (x, y)]), num_steps=5, **QUIET)
    with pytest.raises(TypeError, match="x: expected arrays, a keras.utils.PyDataset"):
        find_lr(model, 3.0, **QUIET)


def test_suggestions_lie_in_the_sweep_and_match_the_torch_adapter_on_the_same_curve(data):
    """A Keras model and a torch model with the same weights, data and SGD give the same curve."""
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from lrkit.torch import find_lr as torch_find_lr

    x, y = data(256)
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    kmodel.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    tmodel = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():
        for tlayer, klayer in ((tmodel[0], kmodel.layers[0]), (tmodel[2], kmodel.layers[1])):
            kernel, bias = klayer.get_weights()
            tlayer.weight.copy_(torch.from_numpy(kernel.T))
            tlayer.bias.copy_(torch.from_numpy(bias))
    sweep = {"start_lr": 1e-4, "end_lr": 100.0, "num_steps": 60, **QUIET}
    ours = find_lr(kmodel, x, y, batch_size=32, shuffle=False, **sweep)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32)
    theirs = torch_find_lr(
        tmodel, torch.optim.SGD(tmodel.parameters(), lr=0.1), nn.CrossEntropyLoss(), loader, **sweep
    )
    assert ours.stop_reason == theirs.stop_reason == "diverged"
    assert ours.lrs == theirs.lrs
    np.testing.assert_allclose(ours.losses, theirs.losses, rtol=1e-5)
    for rule in ("steepest", "valley", "minimum", "default"):
        suggestion = ours.suggest(rule)
        assert suggestion == theirs.suggest(rule)
        assert ours.lrs[0] <= suggestion.lr <= ours.lrs[-1]
    assert ours.clr_bounds() == theirs.clr_bounds()


# --- the LRFinder callback ------------------------------------------------------------------


def test_callback_records_the_same_curve_as_find_lr_and_restores_the_model(
    make_model, warmed_up, data, state, assert_identical
):
    # fit draws from the global generator for its data pipeline, so dropout would differ
    model = warmed_up(make_model(keras.optimizers.Adam(1e-3), dropout=False))
    before = state(model)
    x, y = data(seed=2)
    direct = find_lr(model, x, y, batch_size=16, shuffle=False, num_steps=20, retry=False, **QUIET)
    assert_identical(before, model)
    by_object = find_lr(
        model,
        x,
        y,
        batch_size=16,
        shuffle=False,
        settings=RangeTestSettings(num_steps=20, retry=False),
        **QUIET,
    )
    assert by_object.lrs == direct.lrs and by_object.losses == direct.losses
    batches = {"n": 0}
    counter = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batches.__setitem__("n", batches["n"] + 1)
    )
    finder = LRFinder(RangeTestSettings(num_steps=20, retry=False))
    assert finder.settings == RangeTestSettings(num_steps=20, retry=False)
    model.fit(x, y, batch_size=16, shuffle=False, epochs=3, callbacks=[finder, counter], verbose=0)
    assert finder.result is not None
    assert finder.result.lrs == direct.lrs
    np.testing.assert_allclose(finder.result.losses, direct.losses, rtol=1e-5)
    assert batches["n"] == 20  # fit stopped when the sweep ended, in its third epoch
    assert finder.result.settings["curve"] == "training"
    assert_identical(before, model)


def test_callback_stops_fit_when_the_loss_diverges(state, assert_identical):
    x, y, model = _linear_regression()
    before = state(model)
    finder = LRFinder(start_lr=1e-3, end_lr=1e3, num_steps=100)
    history = model.fit(x, y, batch_size=8, epochs=20, callbacks=[finder], verbose=0)
    assert finder.result is not None and finder.result.stop_reason == "diverged"
    assert len(finder.result.lrs) < 100
    assert len(history.history["loss"]) < 20
    assert_identical(before, model)


def test_callback_sweeps_again_from_the_saved_state_when_the_curve_is_unreadable(
    state, assert_identical
):
    x, y = np.zeros((64, 4), "float32"), np.ones((64, 1), "float32")  # every batch alike
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = state(model)
    finder = LRFinder(start_lr=1e-9, end_lr=1e-8, num_steps=20, progress=False)
    model.fit(x, y, batch_size=16, epochs=30, callbacks=[finder], verbose=0)
    assert finder.result is not None and len(finder.result.sweeps) == 3  # never fell: refused
    assert [s["num_steps"] for s in finder.result.sweeps] == [20, 40, 40]
    assert_identical(before, model)


def test_callback_asks_for_enough_epochs_and_rejects_a_schedule(make_model, data):
    x, y = data(64)
    model = make_model()
    with pytest.raises(
        ValueError, match=r"num_steps: fit runs 1 epoch\(s\) of 4 batches.*epochs=5"
    ):
        model.fit(x, y, batch_size=16, epochs=1, callbacks=[LRFinder(num_steps=20)], verbose=0)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = make_model(keras.optimizers.SGD(schedule))
    with pytest.raises(TypeError, match="model.optimizer: its learning rate comes from"):
        model.fit(x, y, epochs=1, callbacks=[LRFinder(num_steps=2)], verbose=0)
    with pytest.raises(ValueError, match="end_lr: must be greater than start_lr"):
        LRFinder(start_lr=1.0, end_lr=0.1)


def test_callback_says_when_fit_ended_before_the_sweep(
    make_model, warmed_up, data, state, assert_identical
):
    x, y = data(64)
    model = warmed_up(make_model())
    before = state(model)
    finder = LRFinder(num_steps=10)
    batches = ((x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16))  # length unknown to fit
    with pytest.raises(RuntimeError, match="LRFinder: fit ended after 3 of 10 sweep steps"):
        model.fit(batches, epochs=1, callbacks=[finder], verbose=0)
    assert finder.result is None
    assert_identical(before, model)


# --- optional dependency, other backends ----------------------------------------------------


def test_import_without_keras_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)
    for name in [m for m in sys.modules if m == "lrkit" or m.startswith("lrkit.")]:
        monkeypatch.delitem(sys.modules, name)
    lrkit = importlib.import_module("lrkit")
    importlib.import_module("lrkit.torch")
    assert lrkit.range_test is not None
    with pytest.raises(ImportError, match=r"needs 'keras'.*pip install 'lrkit\[keras\]'"):
        importlib.import_module("lrkit.keras")


JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import keras, numpy as np
    from lrkit.keras import LRFinder, find_lr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    def state():
        vs = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
        return [np.array(keras.ops.convert_to_numpy(v.value)) for v in vs]
    before = state()
    direct = find_lr(model, x, y, batch_size=16, shuffle=False, num_steps=12, retry=False,
                     progress=False)
    same_after_find = all(np.array_equal(a, b) for a, b in zip(before, state()))
    finder = LRFinder(num_steps=12, retry=False)
    model.fit(x, y, batch_size=16, shuffle=False, epochs=3, callbacks=[finder], verbose=0)
    same_after_fit = all(np.array_equal(a, b) for a, b in zip(before, state()))
    print(json.dumps({"backend": keras.backend.backend(), "direct": direct.losses,
                      "callback": finder.result.losses,
                      "lrs_equal": direct.lrs == finder.result.lrs,
                      "restored": [same_after_find, same_after_fit]}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_works_on_the_jax_backend():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    assert out["restored"] == [True, True]
    assert out["lrs_equal"]
    assert len(out["direct"]) == 12
    np.testing.assert_allclose(out["callback"], out["direct"], rtol=1e-5)
