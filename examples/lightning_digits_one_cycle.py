"""Lightning: find the learning rate when training starts, then train one cycle around it.

The ``digits-cnn`` task (scikit-learn's 8x8 digits, a small CNN) in a LightningModule whose
``configure_optimizers`` reads ``self.lr``. ``LRFinder`` sweeps 100 batches at the start of
``fit``, restores the model, optimizer and random generators, writes its suggestion into
``self.lr`` and calls ``configure_optimizers`` again, so the one-cycle ``Scheduler`` is built
around the measured value. ``DoctorCallback`` watches the real training steps.

    python examples/lightning_digits_one_cycle.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import lightning.pytorch as pl
import torch

from lrkit import Suggestion, schedules, tasks
from lrkit.doctor import Doctor
from lrkit.lightning import DoctorCallback, LRFinder
from lrkit.torch import Scheduler


class Digits(pl.LightningModule):
    def __init__(self, lr: float = 1e-3, epochs: int = 5) -> None:
        super().__init__()
        self.task = tasks.get("digits-cnn", seed=0)
        self.net, self.loss_fn = self.task.model, self.task.loss_fn
        self.lr, self.epochs = lr, epochs

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", self.loss_fn(logits, y))
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        steps = self.epochs * len(self.task.train_loader)
        cycle = schedules.one_cycle(lr=self.lr, total_steps=steps)
        scheduler = Scheduler(optimizer, lr=cycle)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    pl.seed_everything(0, verbose=False)
    module = Digits(epochs=args.epochs)
    finder = LRFinder(num_steps=100, progress=False)
    doctor = DoctorCallback(Doctor(verbose=False))
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=args.epochs,
        callbacks=[finder, doctor],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, module.task.train_loader, module.task.val_loader)

    result = finder.result
    assert result is not None
    print(f"range test: {len(result.lrs)} steps, stopped: {result.stop_reason}")
    for name, found in result.suggestions().items():
        print(f"  {name:<9} {found.lr:.3g}" if isinstance(found, Suggestion) else f"  {name:<9} -")
    print(f"module.lr = {module.lr:.3g}; one cycle peaks there")
    print(f"trained {trainer.global_step} steps in {trainer.current_epoch} epochs")
    metrics = trainer.callback_metrics
    print(f"val_loss {float(metrics['val_loss']):.4f}   val_acc {float(metrics['val_acc']):.4f}")
    print(f"doctor: {len(doctor.findings)} finding(s) in {doctor.steps} steps")
    for finding in doctor.findings:
        print(f"  {finding}")


if __name__ == "__main__":
    main()
