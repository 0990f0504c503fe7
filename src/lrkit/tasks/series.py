"""``series-cnn-lstm``: real time-series classification with a Conv1d + LSTM model.

Data: the UCR ItalyPowerDemand set that ships inside the ``aeon`` wheel (1,096 daily
electricity-demand curves of 24 hours, two classes: winter vs summer), train and test
splits pooled and re-split by seed. The model is the seeds' CNN-LSTM: a 1-D convolution
extracts local shape, an LSTM reads the sequence, a linear layer classifies.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrkit._optional import require
from lrkit.tasks.base import Task, classification_task, loaders


class CNNLSTM(nn.Module):
    """Conv1d(1→16, k=3) → ReLU → LSTM(16→32) → last hidden state → Linear(32→classes)."""

    def __init__(self, n_classes: int, channels: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, channels, kernel_size=3, padding=1), nn.ReLU())
        self.lstm = nn.LSTM(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x).transpose(1, 2)  # (batch, time, channels)
        _, (hidden, _) = self.lstm(features)
        return self.head(hidden[-1])


def load_italy_power_demand() -> tuple[np.ndarray, np.ndarray]:
    """All 1,096 ItalyPowerDemand series, z-normalised per series, labels 0/1."""
    datasets = require("aeon.datasets", "tasks")
    parts = [datasets.load_italy_power_demand(split=split) for split in ("train", "test")]
    x = np.concatenate([p[0] for p in parts]).astype(np.float32)
    labels = np.concatenate([p[1] for p in parts])
    x = (x - x.mean(axis=2, keepdims=True)) / (x.std(axis=2, keepdims=True) + 1e-8)
    classes = sorted(set(labels.tolist()))
    y = np.array([classes.index(label) for label in labels], dtype=np.int64)
    return x, y


def series_cnn_lstm(seed: int = 0, batch_size: int | None = None) -> Task:
    """The time-series task: 80/20 stratified split by ``seed``."""
    x, y = load_italy_power_demand()
    train_loader, val_loader = loaders(x, y, seed=seed, batch_size=batch_size or 32)
    torch.manual_seed(seed)
    return classification_task(
        "series-cnn-lstm",
        CNNLSTM(n_classes=int(y.max()) + 1),
        (train_loader, val_loader),
        seed,
        epochs=10,
    )
