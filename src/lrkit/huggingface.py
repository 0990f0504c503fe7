"""Hugging Face ``transformers``: the range test with a ``Trainer``'s own training step.

:func:`find_lr` sweeps with everything the ``Trainer`` would train with — its model, its
training dataloader (collator, batch size, sampler), its optimizer (``args.optim``, weight
decay groups), ``compute_loss``, gradient accumulation, precision (``bf16``/``fp16``
autocast, a grad scaler for ``fp16``) and clipping (``max_grad_norm``) — restores all of it,
and sets ``trainer.args.learning_rate`` to the suggestion, so that ``trainer.train()`` builds
its optimizer and schedule around the measured rate.
"""

from __future__ import annotations

from typing import Any

from lrkit._optional import require
from lrkit.rangetest import RangeTestResult

require("transformers", "transformers")

import torch  # noqa: E402

from lrkit.torch.rangetest import find_lr as torch_find_lr  # noqa: E402
from lrkit.torch.step import lr_setter  # noqa: E402


def find_lr(
    trainer: Any,
    *,
    set_lr: bool = True,
    method: str = "default",
    progress: bool = True,
    **sweep: Any,
) -> RangeTestResult:
    """Run the range test with ``trainer``'s model, data, optimizer and training step (see the
    module docstring); with ``set_lr``, train with rule ``method``'s suggestion.

    ``sweep`` takes :func:`lrkit.torch.find_lr`'s sweep settings (``num_steps``, ``start_lr``,
    ``end_lr``, ``retry``, ...). A ``Trainer`` given its own optimizer keeps it, with the new
    rate set in its param groups; otherwise the optimizer made for the test is dropped and
    ``train()`` makes a fresh one at ``args.learning_rate``.
    """
    args = trainer.args
    own_optimizer = trainer.optimizer is not None
    optimizer = trainer.create_optimizer()
    amp_dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
    scaler = torch.amp.GradScaler(args.device.type) if args.fp16 else None

    def step_fn(model: torch.nn.Module, batch: Any) -> Any:
        return trainer.compute_loss(model, batch)

    result = torch_find_lr(
        trainer.model,
        optimizer,
        None,
        trainer.get_train_dataloader(),
        step_fn=step_fn,
        accumulation_steps=args.gradient_accumulation_steps,
        grad_scaler=scaler,
        amp_dtype=amp_dtype,
        clip_grad_norm=args.max_grad_norm or None,
        device=args.device,
        progress=progress,
        **sweep,
    )
    result.settings["batch_size"] = (
        args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    )
    if set_lr:
        lr = result.suggest(method).lr
        args.learning_rate = lr
        if own_optimizer:
            lr_setter(optimizer)(lr)
    if not own_optimizer:
        trainer.optimizer = None
    return result
