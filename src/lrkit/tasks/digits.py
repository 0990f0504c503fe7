"""``digits-cnn``: scikit-learn's 8x8 handwritten digits and a small CNN.

The model follows the seeds' MNIST classifier (Conv2D, MaxPool, Dropout, Dense), shrunk
to the 8x8 images: 1,797 images, 10 classes; chance accuracy is 0.1.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrkit.tasks.base import Task, classification_task, loaders


def digits_cnn(seed: int = 0, batch_size: int | None = None) -> Task:
    """The digits task: 80/20 stratified split by ``seed``, images scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    train_loader, val_loader = loaders(x, y, seed=seed, batch_size=batch_size or 64)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(64, 10),
    )
    return classification_task("digits-cnn", model, (train_loader, val_loader), seed, epochs=10)
