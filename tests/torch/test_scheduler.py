"""lrkit.torch.Scheduler: a real LRScheduler that follows lrkit schedules exactly."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrkit import schedules as S  # noqa: E402
from lrkit.schedules.plateau import ReduceOnPlateau  # noqa: E402
from lrkit.torch import Scheduler  # noqa: E402


def model_and_optimizer(kind: str = "sgd", groups: int = 1, lr: Any = 0.1) -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(groups)])
    params = [{"params": layer.parameters()} for layer in model]
    if kind == "adam":
        return model, torch.optim.Adam(params, lr=lr)
    if kind == "adagrad":
        return model, torch.optim.Adagrad(params, lr=lr)
    return model, torch.optim.SGD(params, lr=lr, momentum=0.9)


def train(model: Any, optimizer: Any, scheduler: Any, steps: int, metrics: Any = None) -> list:
    """Real training steps; records (lr, momentum) of group 0 as used by each update."""
    x, y = torch.randn(8, 3), torch.randn(8, 3)
    seen = []
    for step in range(steps):
        group = optimizer.param_groups[0]
        seen.append((float(group["lr"]), group.get("momentum", group.get("betas", [None])[0])))
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[step])
    return seen


def test_is_a_torch_lr_scheduler_and_follows_the_schedule() -> None:
    model, optimizer = model_and_optimizer()
    schedule = S.warmup(S.cosine(0.1, 80, floor=1e-3), warmup_steps=20, start=1e-3)
    scheduler = Scheduler(optimizer, lr=schedule)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no step-order or past-the-end warnings
        seen = train(model, optimizer, scheduler, 100)
    assert [lr for lr, _ in seen] == [schedule(t) for t in range(100)]
    assert scheduler.get_last_lr() == [schedule(100)] and scheduler.last_epoch == 100
    assert scheduler.get_lr() == [schedule(100)]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_momentum_or_beta1_follows_its_curve(kind: str) -> None:
    model, optimizer = model_and_optimizer(kind)
    lr = S.one_cycle(0.1, 60, three_phase=True)
    momentum = lr.momentum(0.85, 0.95)
    scheduler = Scheduler(optimizer, lr=lr, momentum=momentum)
    seen = train(model, optimizer, scheduler, 60)
    assert [m for _, m in seen] == [momentum(t) for t in range(60)]
    if kind == "adam":
        assert optimizer.param_groups[0]["betas"][1] == 0.999  # beta2 untouched


def test_one_schedule_per_param_group() -> None:
    model, optimizer = model_and_optimizer(groups=2)
    head, body = S.cosine(0.1, 30), S.scale(S.cosine(0.1, 30), 0.1)
    scheduler = Scheduler(optimizer, per_group=[head, body])
    train(model, optimizer, scheduler, 10)
    assert scheduler.get_last_lr() == [head(10), body(10)]
    assert [g["lr"] for g in optimizer.param_groups] == [head(10), body(10)]


def test_tensor_learning_rates_are_filled_in_place() -> None:
    model, optimizer = model_and_optimizer(lr=torch.tensor(0.1))
    tensor = optimizer.param_groups[0]["lr"]
    scheduler = Scheduler(optimizer, lr=S.linear(0.1, 0.05, 10))
    train(model, optimizer, scheduler, 5)
    assert optimizer.param_groups[0]["lr"] is tensor
    assert float(tensor) == pytest.approx(0.075)
    assert scheduler.get_last_lr()[0] is not tensor


def test_past_the_end_holds_the_value_and_warns_once() -> None:
    _, optimizer = model_and_optimizer()
    schedule = S.one_cycle(0.1, 20)
    scheduler = Scheduler(optimizer, lr=schedule, momentum=schedule.momentum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):
            scheduler.step()  # reaching the planned length is fine (OneCycleLR allows it too)
    with pytest.warns(UserWarning, match="step 21 is past the 20 steps") as caught:
        for _ in range(30):
            scheduler.step()
    assert len(caught) == 1
    assert scheduler.get_last_lr() == [schedule(19)]


def resume_run(make: Any, total: int, split: int, metrics: Any = None) -> tuple[list, list]:
    """(uninterrupted lrs, lrs of a run saved at ``split`` and resumed in new objects)."""
    model, optimizer = model_and_optimizer()
    reference = train(model, optimizer, make(optimizer), total, metrics)

    model, optimizer = model_and_optimizer()
    scheduler = make(optimizer)
    head = train(model, optimizer, scheduler, split, metrics)
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "opt": optimizer.state_dict(),
            "sched": scheduler.state_dict(),
        },
        buffer,
    )
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # plain data only

    model, optimizer = model_and_optimizer()
    resumed = Scheduler(optimizer, lr=S.constant(1.0))  # replaced by the checkpoint's schedules
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["opt"])
    resumed.load_state_dict(checkpoint["sched"])
    tail = train(
        model, optimizer, resumed, total - split, None if metrics is None else metrics[split:]
    )
    return reference, head + tail


def test_resume_continues_the_exact_sequence() -> None:
    schedule = S.one_cycle(0.1, 90)
    reference, resumed = resume_run(
        lambda o: Scheduler(o, lr=schedule, momentum=schedule.momentum()), 90, 37
    )
    assert resumed == reference
    assert len({lr for lr, _ in reference}) > 80


def test_a_checkpoint_saved_with_old_parameter_names_loads() -> None:
    schedule = S.warmup(S.triangular(0.01, 0.1, 5), 3)
    _, optimizer = model_and_optimizer()
    scheduler = Scheduler(optimizer, lr=schedule, momentum=schedule.schedule.momentum())
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    cycle = {"low": 0.01, "high": 0.1, "step_size_up": 5, "step_size_down": None}
    old = {"name": "triangular", "params": {**cycle, "inverted": False}}
    state["lr"] = [{"name": "warmup", "params": {"schedule": old, "steps": 3, "start": 0.0}}]
    _, fresh_optimizer = model_and_optimizer()
    resumed = Scheduler(fresh_optimizer, lr=S.constant(0.5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed.load_state_dict(state)
    told = " ".join(str(w.message) for w in caught if w.category is DeprecationWarning)
    assert "'step_size_up' is now called 'up_steps'" in told and "'steps' is now" in told
    assert resumed.lr_schedules == [schedule] and resumed.last_epoch == scheduler.last_epoch


def test_resume_with_a_plateau_controller() -> None:
    metrics = [1.0] * 3 + [0.5] * 20 + [0.4] * 40
    reference, resumed = resume_run(
        lambda o: Scheduler(o, lr=ReduceOnPlateau(S.warmup(S.constant(0.1), 3), patience=2)),
        len(metrics),
        11,
        metrics,
    )
    assert resumed == reference
    lrs = [lr for lr, _ in reference]
    assert lrs[3] == 0.1 and lrs[-1] < 1e-5  # warmed up, then reduced again and again


def test_plateau_parity_with_torch_over_10000_steps() -> None:
    rng = np.random.default_rng(3)
    metrics = (
        3.0
        + np.cumsum(np.where(rng.random(10_000) < 0.2, -0.01, 0.0))
        + rng.normal(0, 1e-3, 10_000)
    )
    _, theirs_opt = model_and_optimizer()
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
        theirs_opt, patience=4, cooldown=2, min_lr=1e-6
    )
    _, ours_opt = model_and_optimizer()
    ours = Scheduler(ours_opt, lr=ReduceOnPlateau(0.1, patience=4, cooldown=2, floor=1e-6))
    their_lrs, our_lrs = [], []
    for metric in metrics:
        theirs.step(metric)
        ours.step(metric)
        their_lrs.append(theirs_opt.param_groups[0]["lr"])
        our_lrs.append(ours.get_last_lr()[0])
    assert len(set(their_lrs)) >= 4
    np.testing.assert_allclose(our_lrs, their_lrs, rtol=1e-9, atol=0)


def test_plateau_after_warmup_which_sequential_lr_cannot_do() -> None:
    _, optimizer = model_and_optimizer()
    plateau = ReduceOnPlateau(
        S.warmup(S.constant(0.1), warmup_steps=4, start=0.02), patience=1, ignore_before=4
    )
    scheduler = Scheduler(optimizer, lr=plateau)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step(1.0)  # an epoch-level loop: one step per epoch, with its metric
    assert lrs == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "lr, per_group: give exactly one of them"),
        (
            {"lr": 0.1},
            TypeError,
            r"lr: must be a schedule or a list of them, got 0.1 \(for a fixed value use lrkit",
        ),
        (
            {"per_group": [S.constant(0.1)] * 2},
            ValueError,
            r"one schedule per param group \(1\), got 2",
        ),
        (
            {"lr": S.constant(0.1), "momentum": S.constant(1.0)},
            ValueError,
            r"momentum: values must lie in \[0, 1\)",
        ),
        (
            {"lr": S.constant(0.1), "momentum": 0.9},
            TypeError,
            "momentum: must be a schedule or a list",
        ),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    _, optimizer = model_and_optimizer()
    with pytest.raises(error, match=message):
        Scheduler(optimizer, **kwargs)


def test_momentum_needs_an_optimizer_with_momentum() -> None:
    _, optimizer = model_and_optimizer("adagrad")
    with pytest.raises(ValueError, match="momentum: Adagrad has neither momentum nor betas"):
        Scheduler(optimizer, lr=S.constant(0.1), momentum=S.constant(0.9))


def test_metrics_without_a_plateau_controller_are_refused() -> None:
    _, optimizer = model_and_optimizer()
    scheduler = Scheduler(optimizer, lr=S.constant(0.1))
    with pytest.raises(ValueError, match="metrics: only a ReduceOnPlateau"):
        scheduler.step(0.5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*is deprecated")  # inside Lightning
def test_lightning_trainer_accepts_it(tmp_path: Any) -> None:
    lightning = pytest.importorskip("lightning")
    schedule = S.one_cycle(0.05, 12)
    seen: list[float] = []

    class Module(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            seen.append(self.optimizers().param_groups[0]["lr"])
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=1.0, momentum=0.9)
            scheduler = Scheduler(optimizer, lr=schedule, momentum=schedule.momentum())
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }

    data = torch.utils.data.TensorDataset(torch.randn(24, 3), torch.randn(24, 1))
    trainer = lightning.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Module(), torch.utils.data.DataLoader(data, batch_size=4))
    assert seen == [schedule(t) for t in range(12)]


def test_scale_multiplies_every_group_from_now_on():
    _, optimizer = model_and_optimizer(groups=2)
    cosine, linear = S.cosine(0.1, 20), S.linear(0.2, 0.0, 20)
    scheduler = Scheduler(optimizer, per_group=[cosine, linear])
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    scheduler.scale(0.25)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [0.25 * cosine(5), 0.25 * linear(5)]
    )
    assert scheduler.get_last_lr() == pytest.approx([0.25 * cosine(5), 0.25 * linear(5)])
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [0.25 * cosine(6), 0.25 * linear(6)]
    )


def test_scale_rejects_a_bad_factor_and_a_plateau_source():
    _, optimizer = model_and_optimizer()
    with pytest.raises(ValueError, match="factor: must be a positive finite number"):
        Scheduler(optimizer, lr=S.constant(0.1)).scale(0.0)
    _, optimizer = model_and_optimizer()
    with pytest.raises(TypeError, match="ReduceOnPlateau learning rate cannot be scaled"):
        Scheduler(optimizer, lr=ReduceOnPlateau(0.1, patience=2)).scale(0.5)
