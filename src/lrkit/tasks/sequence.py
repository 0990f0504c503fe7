"""``motif-gru``: a generated sequence task for a small recurrent text model.

Sequences of 30 tokens from a 12-symbol vocabulary; the label says whether the symbols
``1, 2, 3`` occur in that order (not necessarily adjacent). Half the sequences have the motif
planted, so chance accuracy is 0.5. Model: embedding → GRU → linear.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrkit.tasks.base import Task, classification_task, loaders

LENGTH, VOCAB, MOTIF = 30, 12, (1, 2, 3)


def has_motif(sequence: np.ndarray) -> bool:
    """Whether ``MOTIF`` is a subsequence of ``sequence``."""
    position = 0
    for token in sequence:
        if token == MOTIF[position]:
            position += 1
            if position == len(MOTIF):
                return True
    return False


def motif_sequences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences avoiding the motif symbols except where it is planted in half of them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(4, VOCAB, size=(n, LENGTH))
    stray = rng.random((n, LENGTH)) < 0.1  # motif symbols out of order, as distractors
    x[stray] = rng.choice(MOTIF[::-1], size=int(stray.sum()))
    planted = rng.random(n) < 0.5
    for row in np.flatnonzero(planted):
        x[row, np.sort(rng.choice(LENGTH, size=len(MOTIF), replace=False))] = MOTIF
    y = np.array([has_motif(row) for row in x], dtype=np.int64)
    return x, y


class MotifGRU(nn.Module):
    """Embedding(12→16) → GRU(16→32) → last hidden state → Linear(32→2)."""

    def __init__(self, embed: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, hidden = self.gru(self.embed(tokens.long()))
        return self.head(hidden[-1])


def motif_gru(seed: int = 0, batch_size: int | None = None) -> Task:
    """3,000 generated sequences (by ``seed``), 80/20 split."""
    x, y = motif_sequences(3000, seed)
    train_loader, val_loader = loaders(x, y, seed=seed, batch_size=batch_size or 64)
    torch.manual_seed(seed)
    return classification_task("motif-gru", MotifGRU(), (train_loader, val_loader), seed, epochs=8)
