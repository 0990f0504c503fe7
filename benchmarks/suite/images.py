"""Image tasks of the suite: small CNNs on 8x8 digits, generated shapes and photo patches.

- ``digits-resnet``: scikit-learn's 8x8 digits (1,797 images, 10 classes), a residual CNN
  with BatchNorm (stem convolution, two residual blocks, global average pooling).
- ``shapes-resnet``: 16x16 generated noisy shapes (circle, square, triangle, cross at a random
  position, size and brightness), a residual CNN with BatchNorm and one downsampling step.
- ``shapes-cnn``: the same kind of shapes, a plain CNN (convolution, ReLU, max-pooling).
- ``patches-cnn``: 16x16 grey patches cut at random from scikit-learn's two sample photos
  (china.jpg, flower.jpg); the class is the photo and the quadrant the patch lies in (8
  classes). A plain CNN.
- ``digits-autoencoder``: an MLP autoencoder (64 → 32 → 8 → 32 → 64) on the digits, trained
  with the mean squared error and scored by R² over all pixels of the reconstruction.
- ``digits-finetune``: a plain CNN pretrained (inside the factory, with Adam) on the digits
  0-4, its head replaced, then tuned on a few hundred images of the digits 5-9.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from lrkit.tasks.base import Task, classification_task, loaders, seeded_generator
from lrkit.tasks.regression import r_squared
from suite import SuiteTask

SHAPES = ("circle", "square", "triangle", "cross")
SHAPE_SIZE, PATCH_SIZE = 16, 16
PRETRAIN_STEPS, PRETRAIN_BATCH = 100, 64


# --- data -----------------------------------------------------------------------------------


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as ``(n, 1, 8, 8)`` floats in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[:, None], digits.target.astype(np.int64)


def shape_mask(kind: str, rows: np.ndarray, cols: np.ndarray, center: np.ndarray, size: float):
    """Boolean mask of one filled shape of half-width ``size`` around ``center`` (row, col)."""
    dy, dx = rows - center[0], cols - center[1]
    if kind == "circle":
        return dy**2 + dx**2 <= size**2
    if kind == "square":
        return (np.abs(dy) <= size) & (np.abs(dx) <= size)
    if kind == "triangle":
        return (np.abs(dy) <= size) & (np.abs(dx) <= (dy + size) / 2)
    arm = max(size / 3, 0.75)
    horizontal = (np.abs(dy) <= arm) & (np.abs(dx) <= size)
    return horizontal | ((np.abs(dx) <= arm) & (np.abs(dy) <= size))


def noisy_shapes(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 16x16 images of one random shape each over Gaussian noise, and the shape index."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:SHAPE_SIZE, :SHAPE_SIZE].astype(np.float32)
    y = rng.integers(len(SHAPES), size=n)
    x = rng.normal(0.0, noise, size=(n, 1, SHAPE_SIZE, SHAPE_SIZE)).astype(np.float32)
    for i, label in enumerate(y):
        size = rng.uniform(2.5, 5.5)
        center = rng.uniform(size, SHAPE_SIZE - 1 - size, size=2)
        x[i, 0] += rng.uniform(0.6, 1.0) * shape_mask(SHAPES[label], rows, cols, center, size)
    return x, y.astype(np.int64)


@lru_cache(maxsize=1)
def grey_photos() -> tuple[np.ndarray, ...]:
    """scikit-learn's two sample photos (china, flower) in grey, scaled to [0, 1]."""
    from sklearn.datasets import load_sample_images

    return tuple(
        (image.mean(axis=2) / 255.0).astype(np.float32) for image in load_sample_images().images
    )


def photo_patches(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 16x16 patches; class ``4 * photo + quadrant`` (quadrants row-major)."""
    rng = np.random.default_rng(seed)
    photos = grey_photos()
    y = rng.integers(4 * len(photos), size=n)
    x = np.empty((n, 1, PATCH_SIZE, PATCH_SIZE), dtype=np.float32)
    for i, label in enumerate(y):
        photo = photos[label // 4]
        half_h, half_w = photo.shape[0] // 2, photo.shape[1] // 2
        top = (label % 4 // 2) * half_h + rng.integers(half_h - PATCH_SIZE + 1)
        left = (label % 2) * half_w + rng.integers(half_w - PATCH_SIZE + 1)
        x[i, 0] = photo[top : top + PATCH_SIZE, left : left + PATCH_SIZE]
    return (x - x.mean()) / x.std(), y.astype(np.int64)


# --- models ---------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """``relu(x + bn(conv(relu(bn(conv(x))))))`` with 3x3 convolutions keeping the shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


def conv_bn_relu(inputs: int, outputs: int) -> list[nn.Module]:
    return [
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
    ]


def digits_resnet_model(channels: int = 16) -> nn.Sequential:
    """Stem conv → two residual blocks (8x8) → global average pool → Linear(→10)."""
    return nn.Sequential(
        *conv_bn_relu(1, channels),
        ResidualBlock(channels),
        ResidualBlock(channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 10),
    )


def shapes_resnet_model(channels: int = 8) -> nn.Sequential:
    """Stem conv (16x16) → max-pool → two residual blocks (8x8) → average pool → Linear."""
    return nn.Sequential(
        *conv_bn_relu(1, channels),
        nn.MaxPool2d(2),
        ResidualBlock(channels),
        ResidualBlock(channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, len(SHAPES)),
    )


def plain_cnn(n_classes: int, side: int, channels: tuple[int, int] = (8, 16)) -> nn.Sequential:
    """Two (conv 3x3 → ReLU → max-pool 2) stages on ``side``² images, then a linear head."""
    first, second = channels
    return nn.Sequential(
        nn.Conv2d(1, first, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(first, second, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(second * (side // 4) ** 2, n_classes),
    )


def digit_features() -> nn.Sequential:
    """The fine-tuning backbone: two convolutions on 8x8, a max-pool, a 64-unit layer."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
    )


def autoencoder(code: int = 8, hidden: int = 32) -> nn.Sequential:
    """MLP 64 → hidden → code → hidden → 64 with ReLUs (linear code and output)."""
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, code),
        nn.Linear(code, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 64),
    )


# --- tasks ----------------------------------------------------------------------------------


def digits_resnet(seed: int) -> Task:
    """Digits, 80/20 stratified split by ``seed``, batches of 16."""
    x, y = digit_images()
    data = loaders(x, y, seed=seed, batch_size=16)
    torch.manual_seed(seed)
    return classification_task("digits-resnet", digits_resnet_model(), data, seed, epochs=5)


def shapes_resnet(seed: int) -> Task:
    """2,000 shapes generated by ``seed`` (noise sd 0.3), batches of 128."""
    x, y = noisy_shapes(2000, seed, noise=0.3)
    data = loaders(x, y, seed=seed, batch_size=128)
    torch.manual_seed(seed)
    return classification_task("shapes-resnet", shapes_resnet_model(), data, seed, epochs=15)


def shapes_cnn(seed: int) -> Task:
    """2,000 shapes generated by ``seed`` (noise sd 0.3), batches of 32."""
    x, y = noisy_shapes(2000, seed, noise=0.3)
    data = loaders(x, y, seed=seed, batch_size=32)
    torch.manual_seed(seed)
    model = plain_cnn(len(SHAPES), SHAPE_SIZE)
    return classification_task("shapes-cnn", model, data, seed, epochs=10)


def patches_cnn(seed: int) -> Task:
    """3,000 photo patches drawn by ``seed``, standardised, batches of 64."""
    x, y = photo_patches(3000, seed)
    data = loaders(x, y, seed=seed, batch_size=64)
    torch.manual_seed(seed)
    return classification_task("patches-cnn", plain_cnn(8, PATCH_SIZE), data, seed, epochs=10)


def digits_autoencoder(seed: int) -> Task:
    """Digits flattened to 64 pixels (inputs are the targets), 80/20 split, batches of 8."""
    x, _ = digit_images()
    pixels = x.reshape(len(x), -1)
    train_loader, val_loader = loaders(pixels, pixels, seed=seed, batch_size=8, stratify=False)
    torch.manual_seed(seed)
    return Task(
        name="digits-autoencoder",
        model=autoencoder(),
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=nn.MSELoss(),
        metric=r_squared,
        metric_name="r2",
        seed=seed,
        default_epochs=10,
    )


def pretrain(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int) -> None:
    """``PRETRAIN_STEPS`` Adam steps (lr 1e-3) on shuffled batches of ``(x, y)``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = torch.as_tensor(x), torch.as_tensor(y)
    order = torch.randperm(len(x), generator=seeded_generator(seed))
    loss_fn = nn.CrossEntropyLoss()
    for step in range(PRETRAIN_STEPS):
        start = step * PRETRAIN_BATCH % (len(x) - PRETRAIN_BATCH)
        batch = order[start : start + PRETRAIN_BATCH]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(inputs[batch]), targets[batch]).backward()
        optimizer.step()


def digits_finetune(seed: int) -> Task:
    """Backbone pretrained on digits 0-4; a new head tuned on ~300 images of 5-9 (batches of 16)."""
    x, y = digit_images()
    source = y < 5
    torch.manual_seed(seed)
    features = digit_features()
    pretrain(nn.Sequential(features, nn.Linear(64, 5)), x[source], y[source], seed)
    data = loaders(x[~source], y[~source] - 5, seed=seed, batch_size=16, val_fraction=0.65)
    model = nn.Sequential(features, nn.Linear(64, 5))
    return classification_task("digits-finetune", model, data, seed, epochs=15)


TASKS: list[SuiteTask] = [
    SuiteTask("digits-resnet", "ResNet + BatchNorm, digits", digits_resnet, ("adamw", "momentum")),
    SuiteTask("shapes-resnet", "ResNet + BatchNorm, shapes", shapes_resnet, ("adam", "rmsprop")),
    SuiteTask("shapes-cnn", "plain CNN, shapes", shapes_cnn, ("momentum", "adam")),
    SuiteTask("patches-cnn", "plain CNN, photo patches", patches_cnn, ("rmsprop", "adamw")),
    SuiteTask(
        "digits-autoencoder", "MLP autoencoder, digits", digits_autoencoder, ("adam", "rmsprop")
    ),
    SuiteTask("digits-finetune", "fine-tuned CNN, digits", digits_finetune, ("momentum", "adamw")),
]
