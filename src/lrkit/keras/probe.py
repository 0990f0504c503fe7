"""The probe for a compiled Keras 3 model: builds the ``train(rate)`` callable
:func:`lrkit.probe.probe` drives.

Each candidate starts from the same variables (model, optimizer, metrics) and global
generators, and draws its batches from a fresh stream — for arrays, the same shuffle (``seed``);
for a ``PyDataset`` or an iterable that can be iterated again, the same order. All of it is
restored after each candidate, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import keras

from lrkit.keras.batches import batch_stream
from lrkit.keras.rangetest import build_variables, checked_optimizer, preserved
from lrkit.probe import ProbeResult, probe, probe_candidates
from lrkit.rangetest import RangeTestResult
from lrkit.schedules import Schedule
from lrkit.sweep import check_count


def probe_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    candidates: RangeTestResult | Sequence[float],
    steps: int,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    cooldown: float = 0.0,
    progress: bool = True,
) -> ProbeResult:
    """Train ``steps`` batches at each candidate learning rate (``model.train_on_batch``) and
    return the scores; ``.suggestion`` is the rate to train at. The model, its optimizer and
    the generators are
    left as they were.

    ``candidates`` is a range-test result (its :func:`~lrkit.probe.probe_candidates`) or the
    learning rates themselves; ``x``, ``y``, ``batch_size``, ``shuffle`` and ``seed`` are as in
    :func:`~lrkit.keras.find_lr`; :func:`~lrkit.probe.probe_steps` gives a good ``steps`` for
    a planned run (a third of it); ``cooldown`` is as in :func:`lrkit.torch.probe_lr`.
    """
    check_count("batch_size", batch_size)
    optimizer = checked_optimizer(model)
    lrs = (
        probe_candidates(candidates)
        if isinstance(candidates, RangeTestResult)
        else [float(lr) for lr in candidates]
    )

    def batches() -> Iterator[tuple[Any, Any, Any]]:
        return batch_stream(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, name="x")

    build_variables(model, next(batches())[0])

    def train(rate: Schedule) -> Iterator[float]:
        with preserved(model):
            for step, (batch_x, batch_y, weight) in enumerate(batches()):
                optimizer.learning_rate.assign(rate(step))
                logs = model.train_on_batch(
                    batch_x, batch_y, sample_weight=weight, return_dict=True
                )
                yield float(logs["loss"])

    return probe(train, lrs, steps, cooldown=cooldown, progress=progress)
