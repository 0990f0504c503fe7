"""Time-series classification tasks on the UCR sets that ship inside the ``aeon`` wheel.

Every task pools a set's shipped train and test splits and re-splits them 80/20, stratified
by the seed. Univariate series are z-normalised one by one and, if long, average-pooled in
time so that the recurrent models stay quick on a CPU.

- ``gunpoint-lstm``: GunPoint (200 hand-motion series of 150 steps, 2 classes), pooled to 75
  steps; an LSTM whose last hidden state a linear layer classifies.
- ``arrowhead-gru``: ArrowHead (211 arrowhead outlines of 251 steps, 3 classes), pooled to
  31 steps; a GRU.
- ``arrowhead-fcn``: ArrowHead again, pooled to 125 steps; a fully convolutional network:
  three Conv1d + BatchNorm + ReLU blocks, global average pooling, a linear layer.
- ``osuleaf-cnn-lstm``: OSULeaf (442 leaf outlines of 427 steps, 6 classes), pooled to 106
  steps; two Conv1d + max-pool blocks, then an LSTM.
- ``vowels-gru``: JapaneseVowels (640 utterances of 12 cepstral coefficients, 7 to 29 frames,
  9 speakers), each coefficient standardised over the whole set, zero-padded in front to 29
  frames; a GRU.
- ``italy-bilstm``: ItalyPowerDemand (1,096 daily electricity-demand curves of 24 hours,
  winter vs summer); a bidirectional LSTM, batch 8.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrkit._optional import require
from lrkit.tasks.base import Task, classification_task, loaders
from suite import SuiteTask


def load_ucr(name: str) -> tuple[list[np.ndarray], np.ndarray]:
    """UCR set ``name``'s shipped train and test splits pooled: ``(channels, time)`` series
    and labels ``0..k-1``."""
    datasets = require("aeon.datasets", "tasks")
    folder = Path(datasets.__file__).parent / "data" / name
    series, labels = [], []
    for split in ("TRAIN", "TEST"):
        x, y = datasets.load_from_ts_file(str(folder / f"{name}_{split}.ts"))
        series.extend(np.asarray(s, dtype=np.float32) for s in x)
        labels.extend(y)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    return series, codes.astype(np.int64)


def znormalise(series: np.ndarray) -> np.ndarray:
    """Each channel of a ``(channels, time)`` series to zero mean and unit variance."""
    mean = series.mean(axis=-1, keepdims=True)
    return (series - mean) / (series.std(axis=-1, keepdims=True) + 1e-8)


def pooled(name: str, factor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """An equal-length set as ``(n, channels, time // factor)``: each series z-normalised,
    then averaged over windows of ``factor`` steps (a ragged end is dropped)."""
    series, y = load_ucr(name)
    x = np.stack([znormalise(s) for s in series])
    steps = x.shape[-1] // factor
    x = x[..., : steps * factor].reshape(*x.shape[:-1], steps, factor).mean(axis=-1)
    return x, y


def front_padded(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A variable-length set as ``(n, channels, longest)``, zeros in front of the shorter
    series so that every series ends on the last step, where a recurrent model reads out.

    Each channel is standardised over all series together, not per series: the levels of
    the channels are what tell the classes apart (JapaneseVowels' speakers)."""
    series, y = load_ucr(name)
    frames = np.concatenate(series, axis=-1)
    mean, std = frames.mean(axis=-1, keepdims=True), frames.std(axis=-1, keepdims=True)
    longest = max(s.shape[-1] for s in series)
    x = np.zeros((len(series), series[0].shape[0], longest), dtype=np.float32)
    for row, s in enumerate(series):
        x[row, :, longest - s.shape[-1] :] = (s - mean) / std
    return x, y


class RecurrentClassifier(nn.Module):
    """LSTM or GRU over ``(batch, channels, time)``; its last hidden state (both directions'
    if bidirectional) → Linear."""

    def __init__(
        self,
        cell: type[nn.LSTM] | type[nn.GRU],
        channels: int,
        hidden: int,
        n_classes: int,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.directions = 2 if bidirectional else 1
        self.rnn = cell(channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * self.directions, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x.transpose(1, 2))
        hidden = state[0] if isinstance(state, tuple) else state  # an LSTM also returns cells
        last = hidden[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)
        return self.head(last)


class ConvLSTM(nn.Module):
    """Two Conv1d(k=5) → ReLU → MaxPool(2) blocks (1→16→32 channels), LSTM(32→32), its last
    hidden state → Linear."""

    def __init__(self, n_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(1, 16, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 32, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.lstm = nn.LSTM(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(self.conv(x).transpose(1, 2))
        return self.head(hidden[-1])


def fcn(channels: int, n_classes: int) -> nn.Sequential:
    """Conv1d(k=7, 5, 3; 32→64→32 channels) blocks with BatchNorm and ReLU, global average
    pooling, Linear."""
    blocks: list[nn.Module] = []
    for width_in, width, kernel in ((channels, 32, 7), (32, 64, 5), (64, 32, 3)):
        blocks += [
            nn.Conv1d(width_in, width, kernel, padding="same"),
            nn.BatchNorm1d(width),
            nn.ReLU(),
        ]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, n_classes))


def classification(
    name: str,
    data: tuple[np.ndarray, np.ndarray],
    model: Callable[[int, int], nn.Module],
    *,
    seed: int,
    batch_size: int,
    epochs: int,
) -> Task:
    """A task on ``data`` split 80/20 by ``seed``; ``model(channels, classes)`` is built
    right after seeding torch."""
    x, y = data
    train_loader, val_loader = loaders(x, y, seed=seed, batch_size=batch_size)
    torch.manual_seed(seed)
    network = model(x.shape[1], int(y.max()) + 1)
    return classification_task(name, network, (train_loader, val_loader), seed, epochs)


def gunpoint_lstm(seed: int) -> Task:
    """GunPoint pooled to 75 steps; LSTM(1→32)."""
    return classification(
        "gunpoint-lstm",
        pooled("GunPoint", 2),
        lambda channels, classes: RecurrentClassifier(nn.LSTM, channels, 32, classes),
        seed=seed,
        batch_size=16,
        epochs=30,
    )


def arrowhead_gru(seed: int) -> Task:
    """ArrowHead pooled to 31 steps; GRU(1→32)."""
    return classification(
        "arrowhead-gru",
        pooled("ArrowHead", 8),
        lambda channels, classes: RecurrentClassifier(nn.GRU, channels, 32, classes),
        seed=seed,
        batch_size=16,
        epochs=40,
    )


def arrowhead_fcn(seed: int) -> Task:
    """ArrowHead pooled to 125 steps; FCN."""
    return classification(
        "arrowhead-fcn", pooled("ArrowHead", 2), fcn, seed=seed, batch_size=8, epochs=20
    )


def osuleaf_cnn_lstm(seed: int) -> Task:
    """OSULeaf pooled to 106 steps; two conv blocks then LSTM(32→32)."""
    return classification(
        "osuleaf-cnn-lstm",
        pooled("OSULeaf", 4),
        lambda channels, classes: ConvLSTM(classes),
        seed=seed,
        batch_size=32,
        epochs=40,
    )


def vowels_gru(seed: int) -> Task:
    """JapaneseVowels front-padded to 29 frames; GRU(12→32)."""
    return classification(
        "vowels-gru",
        front_padded("JapaneseVowels"),
        lambda channels, classes: RecurrentClassifier(nn.GRU, channels, 32, classes),
        seed=seed,
        batch_size=64,
        epochs=15,
    )


def italy_bilstm(seed: int) -> Task:
    """ItalyPowerDemand (24 steps); bidirectional LSTM(1→16 per direction)."""
    return classification(
        "italy-bilstm",
        pooled("ItalyPowerDemand"),
        lambda channels, classes: RecurrentClassifier(
            nn.LSTM, channels, 16, classes, bidirectional=True
        ),
        seed=seed,
        batch_size=8,
        epochs=12,
    )


TASKS: list[SuiteTask] = [
    SuiteTask("gunpoint-lstm", "LSTM, UCR", gunpoint_lstm, ("adam", "rmsprop")),
    SuiteTask("arrowhead-gru", "GRU, UCR", arrowhead_gru, ("adamw", "rmsprop")),
    SuiteTask("arrowhead-fcn", "FCN (1-D CNN), UCR", arrowhead_fcn, ("adam", "momentum")),
    SuiteTask("osuleaf-cnn-lstm", "CNN-LSTM, UCR", osuleaf_cnn_lstm, ("adam", "momentum")),
    SuiteTask("vowels-gru", "multivariate GRU, UCR", vowels_gru, ("rmsprop", "momentum")),
    SuiteTask("italy-bilstm", "bidirectional LSTM, UCR", italy_bilstm, ("adamw", "momentum")),
]
