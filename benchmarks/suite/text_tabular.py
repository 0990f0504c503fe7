"""Suite tasks on text and tables: character language models and small MLPs.

- ``char-transformer``: next-character prediction on Python's own help texts
  (``pydoc_data.topics``, a fixed 96,000-character subset) with a 2-layer causal transformer.
- ``char-lstm``: the same text and split with a one-layer LSTM language model.
- ``wine-mlp``: scikit-learn's wine data (178 rows, 13 features, 3 classes), an MLP at batch 8.
- ``noisy-labels-mlp``: 3,000 rows from scikit-learn's ``make_classification`` (20 features,
  4 classes, 15 % of all labels random), an MLP at batch 256.
- ``diabetes-mlp``: scikit-learn's diabetes regression (442 rows, 10 features, standardised
  target), an MLP scored by R².
- ``sparse-regression-mlp``: 500 generated rows of 20 features of which 5 drive a nonlinear
  noisy target, a wider, deeper MLP with dropout over 3,000 steps at batch 16.

The character tasks cut the text into 10 contiguous chunks; the seed picks 2 of them for
validation. Inputs are ``(batch, time)`` character ids, targets the next character at every
position, and the score is next-character accuracy over all positions.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.tasks.base import Task, accuracy, loaders, seeded_generator
from lrkit.tasks.regression import SquaredError, r_squared
from suite import SuiteTask

TEXT_LENGTH, CHUNKS, VAL_CHUNKS = 96_000, 10, 2
VOCAB = 64  # id 0 stands for every character outside the 63 most common ones
CONTEXT = 32


def help_text() -> str:
    """The first ``TEXT_LENGTH`` characters of Python's help topics, in sorted topic order."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))[:TEXT_LENGTH]


def encode(text: str) -> np.ndarray:
    """Character ids: 1..63 for the most common characters (by frequency), 0 for the rest."""
    common = [char for char, _ in Counter(text).most_common(VOCAB - 1)]
    ids = {char: index + 1 for index, char in enumerate(common)}
    return np.array([ids.get(char, 0) for char in text], dtype=np.int64)


def windows(ids: np.ndarray, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping ``context``-long inputs and the same windows shifted by one."""
    starts = np.arange(0, len(ids) - context, context)
    x = np.stack([ids[s : s + context] for s in starts])
    y = np.stack([ids[s + 1 : s + context + 1] for s in starts])
    return torch.as_tensor(x), torch.as_tensor(y)


def char_loaders(seed: int, batch_size: int) -> tuple[DataLoader, DataLoader]:
    """Windows from 8 training chunks (shuffled by ``seed``) and 2 validation chunks."""
    chunks = np.array_split(encode(help_text()), CHUNKS)
    val_chunks = set(np.random.default_rng(seed).choice(CHUNKS, VAL_CHUNKS, replace=False))

    def dataset(validation: bool) -> TensorDataset:
        parts = [
            windows(c, CONTEXT) for i, c in enumerate(chunks) if (i in val_chunks) == validation
        ]
        return TensorDataset(*(torch.cat(tensors) for tensors in zip(*parts, strict=True)))

    train = DataLoader(
        dataset(False), batch_size=batch_size, shuffle=True, generator=seeded_generator(seed)
    )
    return train, DataLoader(dataset(True), batch_size=256, shuffle=False)


class NextCharLoss(nn.CrossEntropyLoss):
    """Cross-entropy over every position of ``(batch, time, vocab)`` logits."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return super().forward(logits.flatten(0, 1), targets.flatten())


def next_char_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of positions whose arg-max is the next character."""
    return float((logits.argmax(dim=-1) == targets).float().mean())


class CharTransformer(nn.Module):
    """Token + learned position embedding (48) → 2 causal pre-norm layers (2 heads) → Linear."""

    def __init__(self, width: int = 48, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, width)
        self.positions = nn.Embedding(CONTEXT, width)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device))
        x = self.encoder(x, mask=self.mask, is_causal=True)
        return self.head(self.norm(x))


class CharLSTM(nn.Module):
    """Embedding(64→32) → LSTM(32→128) → Linear(128→64) at every position."""

    def __init__(self, embed: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(self.embed(ids))
        return self.head(outputs)


def char_task(name: str, model: type[nn.Module], seed: int, batch_size: int, epochs: int) -> Task:
    """A character language-model task on the help text."""
    train_loader, val_loader = char_loaders(seed, batch_size)
    torch.manual_seed(seed)
    return Task(
        name=name,
        model=model(),
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=NextCharLoss(),
        metric=next_char_accuracy,
        metric_name="accuracy",
        seed=seed,
        default_epochs=epochs,
    )


def char_transformer(seed: int) -> Task:
    """2,392 training windows at batch 32, 3 epochs (225 steps)."""
    return char_task("char-transformer", CharTransformer, seed, batch_size=32, epochs=3)


def char_lstm(seed: int) -> Task:
    """2,392 training windows at batch 16, 2 epochs (300 steps)."""
    return char_task("char-lstm", CharLSTM, seed, batch_size=16, epochs=2)


def standardised(values: np.ndarray) -> np.ndarray:
    """Columns (or a vector) shifted to mean 0 and scaled to sd 1, as float32."""
    return ((values - values.mean(axis=0)) / values.std(axis=0)).astype(np.float32)


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU (and dropout, if any) between them."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def mlp_task(
    name: str,
    data: tuple[DataLoader, DataLoader],
    sizes: list[int],
    *,
    seed: int,
    epochs: int,
    regression: bool = False,
    dropout: float = 0.0,
) -> Task:
    """An MLP task: cross-entropy and accuracy, or squared error and R² when ``regression``."""
    train_loader, val_loader = data
    torch.manual_seed(seed)
    return Task(
        name=name,
        model=mlp(sizes, dropout),
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=SquaredError() if regression else nn.CrossEntropyLoss(),
        metric=r_squared if regression else accuracy,
        metric_name="r2" if regression else "accuracy",
        seed=seed,
        default_epochs=epochs,
    )


def wine_mlp(seed: int) -> Task:
    """115 training rows at batch 8 (15 steps an epoch), 63 validation rows, 10 epochs."""
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    data = loaders(standardised(x), y, seed=seed, batch_size=8, val_fraction=0.35)
    return mlp_task("wine-mlp", data, [13, 32, 32, 3], seed=seed, epochs=10)


def noisy_labels_mlp(seed: int) -> Task:
    """3,000 generated rows, 4 classes, 15 % random labels; batch 256 (10 steps), 30 epochs."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        3000, n_features=20, n_informative=6, n_classes=4, flip_y=0.15, random_state=seed
    )
    data = loaders(standardised(x), y, seed=seed, batch_size=256)
    return mlp_task("noisy-labels-mlp", data, [20, 64, 64, 4], seed=seed, epochs=30)


def diabetes_mlp(seed: int) -> Task:
    """331 training rows at batch 64 (6 steps an epoch), 111 validation rows, 30 epochs."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    data = loaders(
        standardised(x),
        standardised(y),
        seed=seed,
        batch_size=64,
        val_fraction=0.25,
        stratify=False,
    )
    return mlp_task("diabetes-mlp", data, [10, 32, 32, 1], seed=seed, epochs=30, regression=True)


def sparse_regression(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """20 normal features; 5 of them make ``sin 2x0 + x1 x2 + |x3| - x4²/2`` plus noise (sd 0.5)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 20))
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + np.abs(x[:, 3]) - x[:, 4] ** 2 / 2
    return x.astype(np.float32), standardised(y + 0.5 * rng.standard_normal(n))


def sparse_regression_mlp(seed: int) -> Task:
    """400 training rows at batch 16 (25 steps an epoch), 100 validation rows, 120 epochs."""
    x, y = sparse_regression(500, seed)
    data = loaders(x, y, seed=seed, batch_size=16, stratify=False)
    sizes = [20, 128, 128, 128, 1]
    return mlp_task(
        "sparse-regression-mlp", data, sizes, seed=seed, epochs=120, regression=True, dropout=0.2
    )


TASKS: list[SuiteTask] = [
    SuiteTask("char-transformer", "causal transformer, text", char_transformer, ("adam", "adamw")),
    SuiteTask("char-lstm", "LSTM language model, text", char_lstm, ("rmsprop", "adam")),
    SuiteTask("wine-mlp", "tabular MLP, tiny", wine_mlp, ("momentum", "adam")),
    SuiteTask(
        "noisy-labels-mlp", "tabular MLP, noisy labels", noisy_labels_mlp, ("rmsprop", "momentum")
    ),
    SuiteTask("diabetes-mlp", "regression MLP, tiny", diabetes_mlp, ("adamw", "momentum")),
    SuiteTask(
        "sparse-regression-mlp",
        "regression MLP, dropout",
        sparse_regression_mlp,
        ("adamw", "rmsprop"),
    ),
]
