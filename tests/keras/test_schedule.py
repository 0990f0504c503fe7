"""lrkit.keras: the LearningRateSchedule adapter and the two callbacks (torch backend)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lrkit import schedules as S  # noqa: E402
from lrkit.keras import KerasSchedule, PlateauCallback, ScheduleCallback  # noqa: E402
from lrkit.schedules.plateau import ReduceOnPlateau  # noqa: E402

# Keras's torch backend converts tensors with a numpy call numpy 2 flags; not ours to fix
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

CASES = [
    S.warmup(S.cosine(0.1, 400, floor=1e-3), 100, start=1e-3),
    S.one_cycle(0.1, 500, three_phase=True),
    S.cosine_restarts(0.1, 50, cycle_mult=2.0, decay=0.8, floor=1e-3),
    S.exp_range(0.01, 0.1, 40, gamma=0.999),
    S.multistep(0.1, [100, 300]),
    S.sequence([S.constant(0.05), S.inverse_time(0.1, 0.01)], [50]),
]


def tiny_model(optimizer: Any) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("schedule", CASES, ids=lambda s: s.name)
def test_schedule_values_on_keras_tensors(schedule: S.Schedule) -> None:
    adapter = KerasSchedule(schedule)
    assert isinstance(adapter, keras.optimizers.schedules.LearningRateSchedule)
    steps = np.arange(600)
    values = keras.ops.convert_to_numpy(adapter(keras.ops.arange(600)))
    np.testing.assert_allclose(values, schedule(steps), rtol=1e-5, atol=1e-8)  # float32
    one = adapter(keras.ops.convert_to_tensor(123))
    assert float(keras.ops.convert_to_numpy(one)) == pytest.approx(schedule(123), rel=1e-5)


def test_optimizer_uses_the_schedule_while_training() -> None:
    schedule = S.one_cycle(0.05, 40)
    optimizer = keras.optimizers.SGD(learning_rate=KerasSchedule(schedule))
    model = tiny_model(optimizer)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 16 steps
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 16
    current = keras.ops.convert_to_numpy(optimizer.learning_rate)
    assert float(current) == pytest.approx(schedule(16), rel=1e-6)


def schedule_of(optimizer: Any) -> S.Schedule:
    config = optimizer.get_config()["learning_rate"]
    return keras.optimizers.schedules.deserialize(config).schedule


def test_config_round_trip_and_keras_serialization() -> None:
    schedule = S.warmup(S.cosine_restarts(0.1, 30, 2.0), 10)
    adapter = KerasSchedule(schedule)
    assert adapter.get_config() == {"schedule": schedule.to_dict()}
    assert KerasSchedule.from_config(adapter.get_config()).schedule == schedule
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(adapter))
    assert isinstance(restored, KerasSchedule) and restored.schedule == schedule
    optimizer = keras.optimizers.Adam(learning_rate=adapter)
    rebuilt = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert schedule_of(rebuilt) == schedule


def test_saved_model_loads_with_its_schedule(tmp_path: Any) -> None:
    schedule = S.triangular2(0.001, 0.01, 25)
    model = tiny_model(keras.optimizers.SGD(learning_rate=KerasSchedule(schedule)))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert schedule_of(loaded.optimizer) == schedule


def test_adapter_refuses_non_schedules() -> None:
    with pytest.raises(TypeError, match="schedule: must be an lrkit schedule, got 0.1"):
        KerasSchedule(0.1)  # type: ignore[arg-type]


def test_epoch_callback_sets_learning_rate_and_momentum() -> None:
    schedule = S.step_decay(0.1, decay_steps=2, gamma=0.5)
    momentum = S.linear(0.8, 0.95, 3)
    seen: list[tuple[float, float]] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(
            (
                float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                model.optimizer.momentum,
            )
        )
    )
    model = tiny_model(keras.optimizers.SGD(learning_rate=1.0, momentum=0.5))
    x, y = data()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=5,
        verbose=0,
        callbacks=[ScheduleCallback(schedule, momentum), record],
    )
    expected = [(schedule(e), momentum(e)) for e in range(5)]
    assert [lr for lr, _ in seen] == pytest.approx([lr for lr, _ in expected])
    assert [m for _, m in seen] == pytest.approx([m for _, m in expected])
    assert history.history["learning_rate"] == pytest.approx([schedule(e) for e in range(5)])


def test_batch_callback_follows_optimizer_iterations() -> None:
    schedule = S.cosine(0.1, 20, floor=0.01)
    seen: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(
            float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        )
    )
    model = tiny_model(keras.optimizers.Adam(learning_rate=1.0))
    x, y = data()
    callback = ScheduleCallback(schedule, momentum=S.constant(0.85), unit="step")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[callback, record])
    assert seen == pytest.approx([schedule(t) for t in range(12)], rel=1e-6)
    assert model.optimizer.beta_1 == 0.85


def test_momentum_needs_an_sgd_built_with_momentum() -> None:
    model = tiny_model(keras.optimizers.SGD(learning_rate=0.1))
    x, y = data(16)
    callback = ScheduleCallback(S.constant(0.1), momentum=S.constant(0.9))
    with pytest.raises(ValueError, match="momentum: the optimizer was built with momentum=0"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])


def test_callbacks_refuse_an_optimizer_with_a_schedule() -> None:
    model = tiny_model(keras.optimizers.SGD(learning_rate=KerasSchedule(S.constant(0.1))))
    x, y = data(16)
    with pytest.raises(
        ValueError, match="optimizer: its learning_rate is already a LearningRateSchedule"
    ):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ScheduleCallback(S.constant(0.1))])


def drive(callback: Any, metrics: list[float]) -> list[float]:
    """Feed ``val_loss`` values to an epoch-end callback as ``fit`` would; return the lrs."""
    model = tiny_model(keras.optimizers.SGD(learning_rate=0.1))
    callback.set_model(model)
    callback.on_train_begin({})
    lrs = []
    for epoch, metric in enumerate(metrics):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {"val_loss": metric})
        lrs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return lrs


@pytest.mark.parametrize(
    "options",
    [
        {"patience": 3, "factor": 0.5},
        {"patience": 2, "factor": 0.5, "cooldown": 3, "min_delta": 0.05},
        {"patience": 1, "factor": 0.3, "min_lr": 2e-3},
        {"patience": 0, "factor": 0.8, "cooldown": 1},
    ],
)
def test_plateau_callback_matches_keras_reduce_lr_on_plateau(options: dict[str, Any]) -> None:
    rng = np.random.default_rng(len(options))
    metrics = list(
        3.0 + np.cumsum(np.where(rng.random(300) < 0.15, -0.1, 0.0)) + rng.normal(0, 0.02, 300)
    )
    theirs = drive(
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", **options), metrics
    )
    ours_options = {**options, "rule": "keras"}
    if "min_delta" in ours_options:
        ours_options["threshold"] = ours_options.pop("min_delta")
    if "min_lr" in ours_options:
        ours_options["floor"] = ours_options.pop("min_lr")
    ours = drive(PlateauCallback(ReduceOnPlateau(0.1, **ours_options)), metrics)
    assert len(set(theirs)) >= 3
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # Keras keeps the rate in float32


def test_plateau_callback_warns_when_the_metric_is_missing() -> None:
    callback = PlateauCallback(ReduceOnPlateau(0.1), monitor="val_accuracy")
    callback.set_model(tiny_model(keras.optimizers.SGD(learning_rate=0.1)))
    with pytest.warns(UserWarning, match="monitor: 'val_accuracy' is not among the logged metrics"):
        callback.on_epoch_end(0, {"val_loss": 1.0})


def test_plateau_callback_after_warmup_in_fit() -> None:
    plateau = ReduceOnPlateau(
        S.warmup(S.constant(0.05), 2, start=0.01), patience=0, ignore_before=2
    )
    model = tiny_model(keras.optimizers.SGD(learning_rate=1.0))
    x, y = data()
    flat = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(score=1.0))
    callbacks = [flat, PlateauCallback(plateau, monitor="score")]
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=callbacks)
    # warm-up epochs are not judged; the score then never improves, so with patience 0
    # every later epoch after the first judged one cuts the rate tenfold
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.03, 0.05, 0.005, 0.0005])


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unit: must be one of 'epoch', 'step', got 'batches'"):
        ScheduleCallback(S.constant(0.1), unit="batches")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule: must be an lrkit schedule"):
        ScheduleCallback(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="plateau: must be a ReduceOnPlateau"):
        PlateauCallback(S.constant(0.1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="momentum: must be an lrkit schedule"):
        ScheduleCallback(S.constant(0.1), momentum=0.9)  # type: ignore[arg-type]


def _run(script: str, backend: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_saved_model_loads_in_a_fresh_process_once_lrkit_keras_is_imported(tmp_path: Any):
    schedule = S.one_cycle(0.01, 200)
    model = tiny_model(keras.optimizers.SGD(learning_rate=KerasSchedule(schedule)))
    path = tmp_path / "model.keras"
    model.save(path)
    load = f"import keras\nimport lrkit.keras\nm = keras.saving.load_model({str(path)!r})\n"
    load += "print(m.optimizer.get_config()['learning_rate']['config']['schedule']['name'])"
    done = _run(load, "torch")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == schedule.to_dict()["name"]
    without = _run(f"import keras\nkeras.saving.load_model({str(path)!r})", "torch")
    assert without.returncode != 0 and "KerasSchedule" in without.stderr


MOMENTUM_UNDER_JIT = """
import warnings, numpy as np, keras
from lrkit import schedules as S
from lrkit.keras import ScheduleCallback
x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
for jit in (True, False):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse", jit_compile=jit)
    callback = ScheduleCallback(S.constant(0.01), momentum=S.constant(0.5), unit="step")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[callback])
    print(jit, any("momentum: on the jax backend" in str(w.message) for w in caught))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_momentum_schedules_warn_under_a_jitted_jax_step():
    done = _run(MOMENTUM_UNDER_JIT, "jax")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "False", "False"]


def test_the_earlier_unit_batch_warns_and_means_step() -> None:
    with pytest.warns(DeprecationWarning, match='unit: "batch" is now "step"'):
        callback = ScheduleCallback(S.constant(0.1), unit="batch")  # type: ignore[arg-type]
    assert callback.unit == "step"
    with pytest.warns(DeprecationWarning, match='unit: "batch" is now "step"'):
        plateau = PlateauCallback(
            ReduceOnPlateau(0.1),
            unit="batch",  # type: ignore[arg-type]
        )
    assert plateau.unit == "step"
