"""Score a model on a loader: mean loss (and metric), weighted by batch size, in eval mode."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from lrkit.torch.state import randomness_preserved
from lrkit.torch.step import StepFn, as_loss, model_device, to_device

Metric = Callable[[torch.Tensor, torch.Tensor], float]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    step_fn: StepFn | None = None,
    metric: Metric | None = None,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """``{"loss": Σ loss_b·n_b / Σ n_b}`` over ``loader``, plus ``"metric"`` when ``metric``
    (``metric(outputs, targets)``) is given; ``n_b`` is the batch's number of targets.

    Batches are ``(inputs, targets)`` pairs scored with ``loss_fn`` (one forward pass for loss
    and metric), or anything ``step_fn(model, batch) -> loss`` reads. The model's train/eval
    mode is restored afterwards, and so is the random state (torch's, numpy's, ``random``'s
    and the loader's generators): iterating a ``DataLoader`` draws from torch's generator, so
    without that a validation pass between epochs would change the dropout masks and data
    order of the training that follows.
    """
    if (loss_fn is None) == (step_fn is None):
        raise ValueError("loss_fn, step_fn: give exactly one of them")
    target = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    model.eval()
    loss_sum, metric_sum, count = 0.0, 0.0, 0
    with randomness_preserved(loader):
        for batch in loader:
            batch = to_device(batch, target)
            size = len(batch[-1]) if isinstance(batch, (tuple, list)) else 1
            outputs = None
            if step_fn is not None:
                loss = as_loss(step_fn(model, batch), "step_fn")
            else:
                inputs, targets = batch
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)  # type: ignore[misc]
            loss_sum += float(loss) * size
            if metric is not None:
                inputs, targets = batch
                metric_sum += metric(model(inputs) if outputs is None else outputs, targets) * size
            count += size
    model.train(was_training)
    scores = {"loss": loss_sum / count}
    if metric is not None:
        scores["metric"] = metric_sum / count
    return scores
