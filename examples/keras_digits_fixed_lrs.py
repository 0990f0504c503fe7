"""Fixed and decaying learning rates on handwritten digits, in Keras 3 — and what lrkit adds.

A small Conv2D / MaxPooling / Dropout / Dense classifier is trained on scikit-learn's 8x8
digits with Adam at fixed learning rates from far too small to far too large, then with four
decay schemes that all start from Adam's default of 1e-3. Both choices were made up front;
the range test (``lrkit.keras.find_lr``) measures instead, and its suggestion and cyclical
bounds are trained last, with a constant rate and with one cycle.

    KERAS_BACKEND=torch python examples/keras_digits_fixed_lrs.py [--epochs 12] [--out DIR]

Prints a table of test loss and accuracy per scenario; with matplotlib installed, also writes
``histories.png`` (validation loss per epoch) and ``range_test.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from lrkit import schedules  # noqa: E402
from lrkit.keras import KerasSchedule, ScheduleCallback, find_lr  # noqa: E402

BATCH_SIZE = 64
SEED = 0


def load() -> tuple[np.ndarray, ...]:
    """Digits scaled to [0, 1] as 8x8x1 images, one-hot targets, a stratified 80/20 split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = keras.utils.to_categorical(digits.target, 10)
    return tuple(train_test_split(x, y, test_size=0.2, stratify=digits.target, random_state=SEED))


def make_model(learning_rate: Any) -> keras.Model:
    """The classic MNIST CNN, with "same" padding so that two poolings fit an 8x8 image."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train(
    name: str,
    group: str,
    learning_rate: Any,
    data: tuple[np.ndarray, ...],
    epochs: int,
    *callbacks: Any,
) -> dict[str, Any]:
    """Train one scenario from the same initial weights; test loss, accuracy and history."""
    x_train, x_test, y_train, y_test = data
    model = make_model(learning_rate)
    history = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_split=0.2,
        callbacks=list(callbacks),
        verbose=0,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"{name:<34} test loss {loss:8.4f}   test accuracy {accuracy:.4f}", flush=True)
    val_loss = history.history["val_loss"]
    return {"name": name, "group": group, "loss": loss, "accuracy": accuracy, "val_loss": val_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("keras-digits-out"))
    args = parser.parse_args()
    data = load()
    epochs = args.epochs
    steps_per_epoch = int(np.ceil(0.8 * len(data[0]) / BATCH_SIZE))
    runs = []

    print("Fixed learning rates (Adam)")
    for name, lr in [
        ("really small  1e-7", 1e-7),
        ("small         1e-5", 1e-5),
        ("Adam default  1e-3", 1e-3),
        ("large         1e-2", 1e-2),
        ("really large  0.5", 0.5),
    ]:
        runs.append(train(name, "fixed", lr, data, epochs))

    print("\nDecaying from 1e-3, per epoch")
    decays = {
        "step decay (halve every 4 epochs)": schedules.step_decay(
            lr=1e-3, decay_steps=4, gamma=0.5, one_based=True
        ),
        "linear decay (to 0)": schedules.linear(start=1e-3, end=0.0, total_steps=epochs),
        "time decay (1 / (1 + 0.5 t))": schedules.inverse_time(lr=1e-3, rate=0.5),
        "exponential decay (x0.7 a epoch)": schedules.exponential(lr=1e-3, gamma=0.7),
    }
    for name, schedule in decays.items():
        runs.append(train(name, "decay", 1e-3, data, epochs, ScheduleCallback(schedule)))

    print("\nMeasured instead of guessed: the range test")
    x_train, _, y_train, _ = data
    result = find_lr(make_model(1e-3), x_train, y_train, batch_size=BATCH_SIZE, progress=False)
    suggestion = result.suggestion
    low, high = result.clr_bounds()
    print(f"suggested learning rate {suggestion:.3g}; cyclical bounds {low:.3g} .. {high:.3g}")
    runs.append(train(f"suggested     {suggestion:.3g}", "measured", suggestion, data, epochs))
    cycle = schedules.one_cycle(lr=high, total_steps=epochs * steps_per_epoch)
    runs.append(
        train(f"one cycle up to {high:.3g}", "measured", KerasSchedule(cycle), data, epochs)
    )

    plot(runs, result, args.out)


def plot(runs: list[dict[str, Any]], result: Any, out: Path) -> None:
    """Validation-loss histories and the range-test curve, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    out.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(10, 5))
    styles = {"fixed": ":", "decay": "--", "measured": "-"}
    colors = [plt.get_cmap("tab20")(i) for i in range(20)]
    for index, run in enumerate(runs):
        epochs = np.arange(1, len(run["val_loss"]) + 1)
        axis.plot(
            epochs,
            run["val_loss"],
            styles[run["group"]],
            color=colors[index % len(colors)],
            linewidth=2.2 if run["group"] == "measured" else 1.4,
            label=run["name"],
        )
    axis.set(xlabel="epoch", ylabel="validation loss", yscale="log", title="Digits CNN, Adam")
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(out / "histories.png", dpi=120)
    plt.close(figure)
    result.plot(out / "range_test.png")
    print(f"\nwrote {out / 'histories.png'} and {out / 'range_test.png'}")


if __name__ == "__main__":
    main()
