"""``friedman-regression``: Friedman's #1 regression problem, generated, and an MLP.

``y = 10 sin(π x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise`` over 10 uniform features
(five of them irrelevant), 4,000 samples; the score is R² on the validation split.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrkit.tasks.base import Task, loaders


def r_squared(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """``1 - Σ(y - ŷ)² / Σ(y - ȳ)²`` (1 is perfect, 0 is predicting the mean)."""
    residual = ((targets - predictions.squeeze(-1)) ** 2).sum()
    total = ((targets - targets.mean()) ** 2).sum()
    return float(1.0 - residual / total)


class SquaredError(nn.MSELoss):
    """Mean squared error between a ``(batch, 1)`` prediction and a ``(batch,)`` target."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(prediction.squeeze(-1), target)


def friedman_regression(seed: int = 0, batch_size: int | None = None) -> Task:
    """Data generated with ``seed`` (noise sd 1), targets standardised."""
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=4000, n_features=10, noise=1.0, random_state=seed)
    y = (y - y.mean()) / y.std()
    train_loader, val_loader = loaders(
        x.astype(np.float32),
        y.astype(np.float32),
        seed=seed,
        batch_size=batch_size or 64,
        stratify=False,
    )
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )
    return Task(
        name="friedman-regression",
        model=model,
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=SquaredError(),
        metric=r_squared,
        metric_name="r2",
        seed=seed,
        default_epochs=5,
    )
