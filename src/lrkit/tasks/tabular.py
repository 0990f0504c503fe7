"""``tabular-mlp``: scikit-learn's breast-cancer data (569 tumours, 30 features) and an MLP."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrkit.tasks.base import Task, classification_task, loaders


def tabular_mlp(seed: int = 0, batch_size: int | None = None) -> Task:
    """Features standardised with the training split's statistics; 2 classes."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    y = data.target.astype(np.int64)
    train_loader, val_loader = loaders(x, y, seed=seed, batch_size=batch_size or 32)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )
    return classification_task("tabular-mlp", model, (train_loader, val_loader), seed, epochs=5)
