"""lrkit.keras.DoctorCallback on real ``model.fit`` runs (torch backend)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lrkit.doctor import Doctor, diagnose  # noqa: E402
from lrkit.history import History  # noqa: E402
from lrkit.keras import DoctorCallback  # noqa: E402


def data(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + rng.normal(0, 0.1, n)).astype("float32")
    return x, y[:, None]


def linear(optimizer: keras.optimizers.Optimizer, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


def test_records_each_batch_loss_lr_and_gradient_norm() -> None:
    x, y = data()
    model = linear(keras.optimizers.SGD(0.05))
    w, b = (np.asarray(v) for v in model.get_weights())
    callback = DoctorCallback(Doctor(verbose=False))
    fitted = model.fit(
        x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[callback]
    )
    history = callback.doctor.history
    assert history.steps.tolist() == list(range(8))  # 4 batches (32, 32, 32, 4) x 2 epochs
    losses = history.column("loss")
    # batch 0 at the initial weights: mse and its gradient by hand
    error = x[:32] @ w + b - y[:32]
    assert losses[0] == pytest.approx(float(np.mean(error**2)), rel=1e-5)
    grad_w, grad_b = 2 * x[:32].T @ error / 32, 2 * error.sum(axis=0) / 32
    norm = float(np.sqrt(np.sum(grad_w**2) + np.sum(grad_b**2)))
    assert history.column("grad_norm")[0] == pytest.approx(norm, rel=1e-5)
    # the batch losses, weighted by batch size, average to each epoch's logged loss
    sizes = np.array([32, 32, 32, 4])
    for epoch in range(2):
        mean = np.average(losses[4 * epoch : 4 * epoch + 4], weights=sizes)
        assert mean == pytest.approx(fitted.history["loss"][epoch], rel=1e-5)
    assert history.column("lr").tolist() == pytest.approx([0.05] * 8)


def test_records_a_schedules_learning_rate_and_validation_results() -> None:
    x, y = data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9)
    model = linear(keras.optimizers.SGD(schedule))
    callback = DoctorCallback(Doctor(verbose=False))
    fitted = model.fit(
        x, y, batch_size=50, epochs=3, verbose=0, validation_data=data(40, 1), callbacks=[callback]
    )
    history = callback.doctor.history
    assert history.column("lr").tolist() == pytest.approx([0.1 * 0.9**k for k in range(6)])
    assert history.metric_name is None
    val = history.column("val_loss")
    assert np.flatnonzero(np.isfinite(val)).tolist() == [1, 3, 5]  # last step of each epoch
    assert val[[1, 3, 5]].tolist() == pytest.approx(fitted.history["val_loss"])
    assert history.column("val_metric")[[1, 3, 5]].tolist() == pytest.approx(
        fitted.history["val_mae"]
    )


def test_val_metric_names_the_key_it_reads_and_metric_warns() -> None:
    x, y = data()
    model = linear(keras.optimizers.SGD(0.05))
    model.compile(optimizer=model.optimizer, loss="mse", metrics=["mae", "mse"])
    named = DoctorCallback(Doctor(verbose=False), val_metric="val_mse")
    fitted = model.fit(
        x, y, batch_size=50, epochs=2, verbose=0, validation_data=data(40, 1), callbacks=[named]
    )
    val = named.doctor.history.column("val_metric")
    assert val[np.isfinite(val)].tolist() == pytest.approx(fitted.history["val_mse"])
    with pytest.warns(DeprecationWarning, match="val_metric='val_NAME'"):
        old = DoctorCallback(Doctor(verbose=False), metric="mse")
    assert old.val_metric_key == "val_mse"


def test_stop_on_critical_ends_fit() -> None:
    x, y = data()
    model = linear(keras.optimizers.SGD(5.0))  # far too large: the loss explodes
    callback = DoctorCallback(Doctor(on_critical="stop", verbose=False))
    fitted = model.fit(x, y, batch_size=10, epochs=20, verbose=0, callbacks=[callback])
    critical = [f for f in callback.findings if f.severity == "critical"]
    assert len(fitted.history["loss"]) < 20
    assert callback.steps == critical[0].step + 1  # stopped right after that batch


def test_reduce_lowers_a_float_learning_rate() -> None:
    x, y = data()
    model = linear(keras.optimizers.SGD(5.0))
    callback = DoctorCallback(Doctor(on_critical="reduce", reduce_factor=0.01, verbose=False))
    model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[callback])
    reduced = [f for f in callback.findings if f.action]
    assert reduced and reduced[0].action == "multiplied the learning rate by 0.01"
    lr = float(model.optimizer.learning_rate)
    assert lr == pytest.approx(5.0 * 0.01 ** len(reduced))


def test_reduce_cannot_change_a_schedule_and_says_so() -> None:
    x, y = data()
    schedule = keras.optimizers.schedules.ExponentialDecay(5.0, decay_steps=100, decay_rate=0.9)
    model = linear(keras.optimizers.SGD(schedule))
    callback = DoctorCallback(Doctor(on_critical="reduce", verbose=False))
    with pytest.warns(UserWarning, match="could not reduce the learning rate"):
        model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[callback])


def test_logs_and_keras_csvlogger_files_are_read_back(tmp_path: Path) -> None:
    x, y = data()
    model = linear(keras.optimizers.Adam(0.05))
    callback = DoctorCallback(Doctor(verbose=False), log=tmp_path / "steps.jsonl")
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "epochs.csv"))
    fitted = model.fit(
        x,
        y,
        batch_size=25,
        epochs=6,
        verbose=0,
        validation_data=data(40, 1),
        callbacks=[callback, csv_logger],
    )
    steps = History.read(tmp_path / "steps.jsonl")
    assert len(steps) == 24
    assert steps.column("loss").tolist() == pytest.approx(
        callback.doctor.history.column("loss").tolist()
    )
    epochs = History.read(tmp_path / "epochs.csv")
    assert epochs.unit == "epoch" and epochs.metric_name == "mae"
    assert epochs.steps.tolist() == list(range(6))
    assert epochs.column("loss").tolist() == pytest.approx(fitted.history["loss"])
    assert epochs.column("val_metric").tolist() == pytest.approx(fitted.history["val_mae"])
    assert diagnose(epochs).steps_seen == 6
