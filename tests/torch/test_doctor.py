"""lrkit.torch.DoctorCallback: what it records from a torch loop and does on critical findings."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from lrkit.doctor import Doctor
from lrkit.history import History
from lrkit.torch import DoctorCallback, Watch
from lrkit.torch.doctor import global_grad_norm, scale_lr


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def setup(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, torch.randn(32, 4), torch.randn(32, 1)


def backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss


def test_records_loss_lr_and_the_global_gradient_norm() -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False))
    expected = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = backward(model, x, y)
        norm = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf))
        expected.append((float(loss.detach()), scheduler.get_last_lr()[0], norm))
        optimizer.step()
        scheduler.step()
        callback.step(loss)
    callback.close()
    history = callback.doctor.history
    assert history.steps.tolist() == list(range(8))
    for row, (loss, lr, norm) in zip(history, expected, strict=True):
        assert row["loss"] == pytest.approx(loss)
        assert row["lr"] == pytest.approx(lr)
        assert row["grad_norm"] == pytest.approx(norm, rel=1e-6)
    assert [row["lr"] for row in history][:4] == [0.1, 0.1, 0.1, 0.05]


def test_global_grad_norm_matches_torch() -> None:
    model, x, y = setup(1)
    assert global_grad_norm(model.parameters()) is None
    backward(model, x, y)
    reference = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf))
    assert global_grad_norm(model.parameters()) == pytest.approx(reference, rel=1e-6)


def test_a_given_grad_norm_wins_and_a_missing_step_is_measured_on_the_spot() -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False))
    optimizer.zero_grad()
    loss = backward(model, x, y)
    before_clip = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e-3))
    optimizer.step()
    callback.step(loss, grad_norm=before_clip)
    optimizer.zero_grad()
    loss = backward(model, x, y)
    callback.step(loss)  # no optimizer.step(): measured now, from the current gradients
    norm = global_grad_norm(model.parameters())
    rows = list(callback.doctor.history)
    assert rows[0]["grad_norm"] == pytest.approx(before_clip)
    assert rows[1]["grad_norm"] == pytest.approx(norm)


def test_layer_update_ratios() -> None:
    model, x, y = setup()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False), layer_ratios=True)
    optimizer.zero_grad()
    loss = backward(model, x, y)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer.step()
    callback.step(loss)
    row = callback.doctor.history[0]
    for name, p in model.named_parameters():
        expected = float((p.detach() - before[name]).norm() / before[name].norm())
        assert row[f"update_ratio/{name}"] == pytest.approx(expected, rel=1e-5)
    assert len([c for c in row if c.startswith("update_ratio/")]) == 4


def test_validate_joins_the_latest_step() -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False))
    for _ in range(3):
        optimizer.zero_grad()
        loss = backward(model, x, y)
        optimizer.step()
        callback.step(loss)
    callback.validate(0.5, 0.9)
    assert callback.doctor.history[2]["val_loss"] == 0.5
    assert callback.doctor.history[2]["val_metric"] == 0.9


def _diverging(
    callback: DoctorCallback, model: nn.Module, optimizer: torch.optim.Optimizer
) -> None:
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    for step in range(80):
        optimizer.zero_grad()
        backward(model, x, y)
        optimizer.step()
        callback.step(1.0 if step < 60 else 50.0)  # the loss the doctor judges
        if callback.should_stop:
            break


def test_reduce_multiplies_the_learning_rate_and_the_schedule_base() -> None:
    model, _, _ = setup()
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.2}, {"params": model[2].parameters()}],
        lr=0.1,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    callback = DoctorCallback(
        model, optimizer, Doctor(on_critical="reduce", verbose=False), scheduler=scheduler
    )
    _diverging(callback, model, optimizer)
    assert [f.kind for f in callback.findings] == ["divergence"]
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.02, 0.01])
    assert scheduler.base_lrs == pytest.approx([0.02, 0.01])
    scheduler.step()  # the schedule continues from the reduced rates
    assert scheduler.get_last_lr() == pytest.approx([0.02, 0.01])


def test_reduce_scales_an_lrkit_scheduler_for_the_rest_of_the_run() -> None:
    from lrkit import schedules
    from lrkit.torch import Scheduler

    model, _, _ = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    decay = schedules.linear(start=0.1, end=0.0, total_steps=200)
    scheduler = Scheduler(optimizer, lr=decay)
    callback = DoctorCallback(
        model, optimizer, Doctor(on_critical="reduce", verbose=False), scheduler=scheduler
    )
    _diverging(callback, model, optimizer)  # the loop does not step the scheduler
    assert [f.kind for f in callback.findings] == ["divergence"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * decay(0))
    for _ in range(10):
        scheduler.step()  # lrkit's Scheduler rewrites the rate each step: it stays reduced
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * decay(10))


def test_every_param_group_rate_is_recorded() -> None:
    model, _, _ = setup()
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.2}, {"params": model[2].parameters()}],
        lr=0.1,
    )
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False))
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    for _ in range(3):
        optimizer.zero_grad()
        backward(model, x, y)
        optimizer.step()
        callback.step(1.0)
        optimizer.param_groups[1]["lr"] *= 0.5  # what the next step trains with
    history = callback.doctor.history
    assert list(history.column("lr")) == pytest.approx([0.2, 0.2, 0.2])
    assert list(history.column("lr/1")) == pytest.approx([0.1, 0.05, 0.025])


def test_stop_on_critical() -> None:
    model, _, _ = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    callback = DoctorCallback(model, optimizer, Doctor(on_critical="stop", verbose=False))
    _diverging(callback, model, optimizer)
    assert callback.should_stop
    assert callback.steps == 61  # stopped at the divergence, step 60: 1.0 x 60, then 50


def test_scale_lr_without_scheduler() -> None:
    model, _, _ = setup()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scale_lr(optimizer, 0.5)
    assert optimizer.param_groups[0]["lr"] == 5e-4


def test_log_files_and_tensorboard(tmp_path: Path) -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with DoctorCallback(
        model,
        optimizer,
        Doctor(verbose=False),
        log=tmp_path / "run.csv",
        tensorboard=tmp_path / "tb",
    ) as callback:
        for _ in range(5):
            optimizer.zero_grad()
            loss = backward(model, x, y)
            optimizer.step()
            callback.step(loss)
        callback.validate(0.7)
    logged = History.read(tmp_path / "run.csv")
    assert logged.columns == ["step", "lr", "loss", "grad_norm", "val_loss"]
    assert logged.column("loss").tolist() == callback.doctor.history.column("loss").tolist()
    assert logged[4]["val_loss"] == 0.7
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_close_removes_the_optimizer_hooks() -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    callback = DoctorCallback(model, optimizer, Doctor(verbose=False))
    callback.close()
    optimizer.zero_grad()
    backward(model, x, y)
    optimizer.step()
    assert callback._pending is None


def test_rejects_what_is_not_torch() -> None:
    model, _, _ = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="model: must be a torch.nn.Module, got list"):
        DoctorCallback([], optimizer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer: must be a torch.optim.Optimizer, got str"):
        DoctorCallback(model, "adam")  # type: ignore[arg-type]


def test_the_earlier_names_watch_and_lrkit_torch_watch_warn_and_still_work() -> None:
    model, x, y = setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(DeprecationWarning, match="Watch is now lrkit.torch.DoctorCallback"):
        old = Watch(model, optimizer, Doctor(verbose=False))
    assert isinstance(old, DoctorCallback)
    loss = backward(model, x, y)
    optimizer.step()
    old.step(loss)
    old.close()
    assert len(old.doctor.history) == 1
    sys.modules.pop("lrkit.torch.watch", None)
    with pytest.warns(DeprecationWarning, match="lrkit.torch.watch is now lrkit.torch.doctor"):
        module = importlib.import_module("lrkit.torch.watch")
    assert module.DoctorCallback is DoctorCallback
    assert module.scale_lr is scale_lr
