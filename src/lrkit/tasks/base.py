"""What a built-in task is, and the plain training loop every tool shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.torch import evaluation
from lrkit.torch.optimizers import make_optimizer
from lrkit.torch.step import TrainStep, default_step_fn, model_device

Metric = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class Task:
    """A model with its data: everything needed to train it and score it."""

    name: str
    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    loss_fn: nn.Module
    metric: Metric
    metric_name: str
    seed: int
    default_epochs: int

    def make_optimizer(self, name: str = "adam", lr: float = 1e-3, **kwargs: Any) -> Any:
        """An optimizer over this task's model parameters (see
        :func:`lrkit.torch.optimizers.make_optimizer`)."""
        return make_optimizer(name, self.model.parameters(), lr=lr, **kwargs)

    def evaluate(self) -> dict[str, float]:
        """Validation loss and score of the model as it is now."""
        return evaluate(self.model, self.loss_fn, self.val_loader, self.metric, self.metric_name)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the target class."""
    return float((logits.argmax(dim=1) == targets).float().mean())


def classification_task(
    name: str, model: nn.Module, data: tuple[DataLoader, DataLoader], seed: int, epochs: int
) -> Task:
    """A task on ``data = (train_loader, val_loader)`` trained under cross-entropy and scored by
    accuracy, with a budget of ``epochs``."""
    train_loader, val_loader = data
    return Task(
        name=name,
        model=model,
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=nn.CrossEntropyLoss(),
        metric=accuracy,
        metric_name="accuracy",
        seed=seed,
        default_epochs=epochs,
    )


def seeded_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def loaders(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    batch_size: int,
    val_fraction: float = 0.2,
    stratify: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Split ``(x, y)`` into seeded train/validation loaders (train shuffled, val not)."""
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=y if stratify else None
    )
    y_dtype = torch.long if np.issubdtype(y.dtype, np.integer) else torch.float32
    train = TensorDataset(
        torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train, dtype=y_dtype)
    )
    val = TensorDataset(
        torch.as_tensor(x_val, dtype=torch.float32), torch.as_tensor(y_val, dtype=y_dtype)
    )
    train_loader = DataLoader(
        train, batch_size=batch_size, shuffle=True, generator=seeded_generator(seed)
    )
    val_loader = DataLoader(val, batch_size=256, shuffle=False)
    return train_loader, val_loader


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    loader: DataLoader,
    on_step: Callable[[float], None] | None = None,
) -> float:
    """One pass over ``loader``, each batch one :class:`~lrkit.torch.step.TrainStep` (the step
    ``fit``, the range test and the probe take); returns the mean training loss.
    ``on_step(loss)`` per batch."""
    model.train()
    step = TrainStep(model, optimizer, default_step_fn(loss_fn), model_device(model))
    total, count = 0.0, 0
    for batch in loader:
        value = step(iter((batch,)))[0]
        total, count = total + value, count + 1
        if on_step is not None:
            on_step(value)
    return total / max(count, 1)


def evaluate(
    model: nn.Module, loss_fn: nn.Module, loader: DataLoader, metric: Metric, metric_name: str
) -> dict[str, float]:
    """Mean loss and score over ``loader`` (weighted by batch size), in eval mode."""
    scores = evaluation.evaluate(model, loader, loss_fn, metric=metric)
    return {"loss": scores["loss"], metric_name: scores["metric"]}
