"""lrkit.lightning.DoctorCallback on real ``Trainer.fit`` runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.doctor import Doctor
from lrkit.history import History
from lrkit.lightning import DoctorCallback


class Regression(lightning.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)
        self.lr = lr
        self.train_losses: list[float] = []
        self.val_losses: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.train_losses.append(float(loss.detach()))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("val_loss", loss)
        self.log("val_mae", (self.net(x) - y).abs().mean())
        if not self.trainer.sanity_checking:
            self.val_losses.append(float(loss))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.1 * torch.randn(
        120, 1, generator=generator
    )
    train = DataLoader(TensorDataset(x[:80], y[:80]), batch_size=20)
    val = DataLoader(TensorDataset(x[80:], y[80:]), batch_size=40)
    return train, val


class ReferenceNorm(lightning.Callback):
    """Torch's own total gradient norm, read in the same hook."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        norm = nn.utils.clip_grad_norm_(pl_module.parameters(), max_norm=math.inf)
        self.norms.append(float(norm))


def fit(module: Regression, *callbacks: lightning.Callback, epochs: int = 3) -> lightning.Trainer:
    torch.manual_seed(0)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )
    train, val = loaders()
    trainer.fit(module, train, val)
    return trainer


def test_records_loss_lr_gradient_norm_and_validation(tmp_path: Path) -> None:
    module = Regression(lr=0.05)
    reference = ReferenceNorm()
    callback = DoctorCallback(Doctor(verbose=False), val_metric="val_mae", log=tmp_path / "r.csv")
    fit(module, callback, reference)
    history = callback.doctor.history
    assert history.steps.tolist() == list(range(12))  # 4 batches x 3 epochs
    assert history.column("loss").tolist() == pytest.approx(module.train_losses)
    assert history.column("grad_norm").tolist() == pytest.approx(reference.norms, rel=1e-6)
    assert history.column("lr").tolist() == pytest.approx([0.05] * 4 + [0.025] * 4 + [0.0125] * 4)
    val = history.column("val_loss")
    assert [i for i in range(12) if math.isfinite(val[i])] == [3, 7, 11]
    assert val[[3, 7, 11]].tolist() == pytest.approx(module.val_losses)
    assert all(math.isfinite(v) for v in history.column("val_metric")[[3, 7, 11]])
    logged = History.read(tmp_path / "r.csv")
    assert logged.column("loss").tolist() == pytest.approx(module.train_losses)


def test_stop_on_critical_stops_the_trainer() -> None:
    module = Regression(lr=50.0)  # the loss explodes
    callback = DoctorCallback(Doctor(on_critical="stop", verbose=False))
    trainer = fit(module, callback, epochs=50)
    critical = [f for f in callback.findings if f.severity == "critical"]
    assert critical
    assert trainer.global_step < 200
    assert callback.steps == critical[0].step + 1


def test_reduce_scales_the_optimizer_and_its_scheduler() -> None:
    module = Regression(lr=50.0)
    callback = DoctorCallback(Doctor(on_critical="reduce", reduce_factor=0.01, verbose=False))
    trainer = fit(module, callback, epochs=8)
    reduced = [f for f in callback.findings if f.action]
    assert reduced and reduced[0].action == "multiplied the learning rate by 0.01"
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.base_lrs == pytest.approx([50.0 * 0.01 ** len(reduced)])
