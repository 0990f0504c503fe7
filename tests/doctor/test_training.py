"""The doctor on real training runs of the built-in tasks, through lrkit.torch.DoctorCallback."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from lrkit import tasks
from lrkit.doctor import Doctor, Finding
from lrkit.torch import DoctorCallback


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train several times faster on one thread than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Run:
    findings: list[Finding]
    losses: list[float]
    accuracy: float
    stopped: bool


def train(
    task_name: str,
    optimizer_name: str,
    lr: float,
    steps: int,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    change_at: int | None = None,
    factor: float = 1.0,
    on_critical: str = "stop",
) -> Run:
    """Train for ``steps`` optimizer steps, multiplying the LR by ``factor`` at ``change_at``;
    validate after each epoch; stop early when the doctor asks."""
    task = tasks.get(task_name, seed=seed, batch_size=batch_size)
    optimizer = task.make_optimizer(optimizer_name, lr)
    callback = DoctorCallback(task.model, optimizer, Doctor(on_critical=on_critical, verbose=False))
    losses: list[float] = []
    accuracy = math.nan
    while callback.steps < steps and not callback.should_stop:
        task.model.train()
        for inputs, targets in task.train_loader:
            if callback.steps == change_at:
                for group in optimizer.param_groups:
                    group["lr"] *= factor
            optimizer.zero_grad()
            loss = task.loss_fn(task.model(inputs), targets)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            callback.step(loss)
            if callback.steps >= steps or callback.should_stop:
                break
        scores = task.evaluate()
        accuracy = scores["accuracy"]
        callback.validate(scores["loss"], accuracy)
    callback.close()
    return Run(callback.findings, losses, accuracy, callback.should_stop)


def kinds(run: Run) -> list[tuple[int, str, str]]:
    return [(f.step, f.severity, f.kind) for f in run.findings]


@pytest.mark.slow
def test_healthy_run_raises_at_most_one_warning_and_nothing_critical() -> None:
    # Adam at its usual 1e-3 on digits-cnn, batch 16 (90 steps per epoch), 2,000 steps
    run = train("digits-cnn", "adam", 1e-3, 2000, batch_size=16)
    assert len(run.losses) == 2000
    assert run.accuracy > 0.95  # it really is a good run
    severities = [f.severity for f in run.findings]
    assert "critical" not in severities, kinds(run)
    assert severities.count("warning") <= 1, kinds(run)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("optimizer_name", "lr", "factor"), [("adam", 1e-3, 100.0), ("momentum", 0.05, 10.0)]
)
def test_learning_rate_jump_midway_is_flagged_as_divergence_within_50_steps(
    optimizer_name: str, lr: float, factor: float
) -> None:
    run = train("digits-cnn", optimizer_name, lr, 900, batch_size=32, change_at=600, factor=factor)
    # the loss climbs back to chance level (its start): first a warning while the smoothed
    # loss has given back half of its fall, then critical once the recent losses are back
    # near the start, which stops the run
    divergence = [f for f in run.findings if f.kind == "divergence"]
    assert divergence, kinds(run)
    assert 600 <= divergence[0].step <= 650
    critical = [f for f in run.findings if f.severity == "critical"]
    assert [f.kind for f in critical] == ["divergence"], kinds(run)
    assert 600 <= critical[0].step <= 650
    assert run.stopped and len(run.losses) == critical[0].step + 1


def test_learning_rate_jump_on_the_cnn_lstm_task() -> None:
    run = train("series-cnn-lstm", "adam", 1e-3, 500, change_at=300, factor=100.0)
    divergence = [f for f in run.findings if f.kind == "divergence"]
    assert divergence and 300 <= divergence[0].step <= 350, kinds(run)


def test_tiny_learning_rate_is_flagged_as_too_low() -> None:
    run = train("digits-cnn", "adam", 1e-6, 250, batch_size=32)
    assert ("lr_too_low", 199) in [(f.kind, f.step) for f in run.findings], kinds(run)
    assert "1e-06" in run.findings[0].message
    assert not [f for f in run.findings if f.kind == "dead_start"]


def test_good_learning_rate_is_not_flagged_as_too_low() -> None:
    run = train("digits-cnn", "adam", 1e-3, 250, batch_size=32)
    assert not [f for f in run.findings if f.kind in ("lr_too_low", "dead_start")], kinds(run)


def test_nan_is_caught_at_the_step_it_happens() -> None:
    # plain SGD at lr 1e4: within a few steps the gradient norm stops being finite
    task = tasks.get("digits-cnn", seed=0, batch_size=32)
    optimizer = task.make_optimizer("sgd", 1e4)
    callback = DoctorCallback(task.model, optimizer, Doctor(on_critical="stop", verbose=False))
    values: list[tuple[float, float]] = []
    for inputs, targets in task.train_loader:
        optimizer.zero_grad()
        loss = task.loss_fn(task.model(inputs), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(task.model.parameters(), math.inf)
        values.append((float(loss.detach()), float(norm)))
        optimizer.step()
        callback.step(loss)
        if callback.should_stop:
            break
    first_bad = next(i for i, pair in enumerate(values) if not all(map(math.isfinite, pair)))
    assert [(f.step, f.kind) for f in callback.findings] == [(first_bad, "non_finite")]
    assert callback.steps == first_bad + 1


def test_a_corrupt_batch_is_caught_at_its_step() -> None:
    task = tasks.get("digits-cnn", seed=0, batch_size=32)
    optimizer = task.make_optimizer("adam", 1e-3)
    callback = DoctorCallback(task.model, optimizer, Doctor(on_critical="stop", verbose=False))
    for step, (inputs, targets) in enumerate(task.train_loader):
        if step == 17:
            inputs = inputs.clone()
            inputs[0, 0, 0, 0] = math.nan
        optimizer.zero_grad()
        loss = task.loss_fn(task.model(inputs), targets)
        loss.backward()
        optimizer.step()
        callback.step(loss)
        if callback.should_stop:
            break
    assert [(f.step, f.kind) for f in callback.findings] == [(17, "non_finite")]
    assert callback.steps == 18
