"""lrkit.torch.find_lr: the sweep on a real model, and the restore guarantee."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit import RangeTestSettings
from lrkit.torch import find_lr
from lrkit.torch.state import load_state, state_copy


def make_problem(seed: int = 0, n: int = 256):
    torch.manual_seed(seed)
    x = torch.randn(n, 8)
    y = (x[:, :2].sum(dim=1) > 0).long()
    model = nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2)
    )
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    return model, loader


def snapshot(model: nn.Module, optimizer: torch.optim.Optimizer):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        copy.deepcopy(optimizer.state_dict()),
        [(m.training) for m in model.modules()],
    )


def assert_identical(before, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    params, opt_state, modes = before
    after = model.state_dict()
    assert params.keys() == after.keys()
    for key, value in params.items():
        assert torch.equal(value, after[key]), key  # bit-identical, buffers included
    now = optimizer.state_dict()
    assert now["param_groups"] == opt_state["param_groups"]
    assert now["state"].keys() == opt_state["state"].keys()
    for index, state in opt_state["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(now["state"][index][name]))
    assert [m.training for m in model.modules()] == modes


def warmed_up_adam(model, loader):
    """An optimizer with real state in it, so the restore has something to restore."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return optimizer


def test_sweep_runs_and_restores_model_and_optimizer_bit_identically():
    model, loader = make_problem()
    optimizer = warmed_up_adam(model, loader)
    model.eval()  # the test switches to train mode; the user's mode must come back
    before = snapshot(model, optimizer)
    result = find_lr(
        model, optimizer, nn.CrossEntropyLoss(), loader, num_steps=30, end_lr=1.0, progress=False
    )
    assert len(result.lrs) == len(result.losses) >= 2
    assert result.lrs[0] == pytest.approx(1e-7)
    assert result.settings["optimizer"] == "Adam"
    assert_identical(before, model, optimizer)
    assert all(p.grad is None for p in model.parameters())


def test_training_after_the_sweep_is_what_it_would_have_been_without_it():
    def train_one_epoch(with_sweep: bool) -> list[float]:
        model, loader = make_problem()  # dropout and shuffling both draw random numbers
        loader.generator = torch.Generator().manual_seed(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        if with_sweep:
            find_lr(model, optimizer, nn.CrossEntropyLoss(), loader, num_steps=20, progress=False)
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss))
        return losses

    assert train_one_epoch(with_sweep=True) == train_one_epoch(with_sweep=False)


def test_restores_after_the_loss_goes_nan():
    model, loader = make_problem()
    optimizer = warmed_up_adam(model, loader)
    before = snapshot(model, optimizer)
    calls = {"n": 0}

    def nan_on_fifth(out, target):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, target)
        return loss * math.nan if calls["n"] == 5 else loss

    result = find_lr(
        model, optimizer, nan_on_fifth, loader, num_steps=20, retry=False, progress=False
    )
    assert result.stop_reason == "non-finite" and len(result.lrs) == 5
    assert_identical(before, model, optimizer)
    calls["n"] = 0  # with retries, the too-short curve is swept again, and restored after
    retried = find_lr(model, optimizer, nan_on_fifth, loader, num_steps=20, progress=False)
    assert [s["stop_reason"] for s in retried.sweeps][0] == "non-finite"
    assert len(retried.sweeps) > 1 and "finite points" in retried.sweeps[0]["unreadable"]
    assert_identical(before, model, optimizer)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_restores_when_a_step_raises_or_is_interrupted(error):
    model, loader = make_problem()
    optimizer = warmed_up_adam(model, loader)
    before = snapshot(model, optimizer)
    calls = {"n": 0}

    def failing(out, target):
        calls["n"] += 1
        if calls["n"] == 7:
            raise error
        return nn.functional.cross_entropy(out, target)

    with pytest.raises(type(error)):
        find_lr(model, optimizer, failing, loader, num_steps=20, progress=False)
    assert calls["n"] == 7
    assert_identical(before, model, optimizer)


def test_disk_snapshot_restores_too(tmp_path):
    model, loader = make_problem()
    optimizer = warmed_up_adam(model, loader)
    before = snapshot(model, optimizer)
    find_lr(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        loader,
        num_steps=10,
        snapshot="disk",
        progress=False,
    )
    assert_identical(before, model, optimizer)


def test_a_fresh_optimizer_comes_back_empty():
    model, loader = make_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    find_lr(model, optimizer, nn.CrossEntropyLoss(), loader, num_steps=10, progress=False)
    assert optimizer.state_dict()["state"] == {}
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_the_optimizer_sees_the_swept_learning_rates_and_group_ratios():
    model, loader = make_problem()
    head = list(model[-1].parameters())
    body = [p for p in model.parameters() if all(p is not h for h in head)]
    optimizer = torch.optim.SGD([{"params": body, "lr": 0.1}, {"params": head, "lr": 0.01}])
    seen = []
    original_step = optimizer.step

    def spy_step(*args, **kwargs):
        seen.append([group["lr"] for group in optimizer.param_groups])
        return original_step(*args, **kwargs)

    optimizer.step = spy_step  # type: ignore[method-assign]
    result = find_lr(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        loader,
        start_lr=1e-4,
        end_lr=1e-1,
        num_steps=4,
        progress=False,
    )
    assert [s[0] for s in seen] == pytest.approx(result.lrs)
    assert [s[1] for s in seen] == pytest.approx([lr / 10 for lr in result.lrs])
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.01]


def test_short_loader_is_cycled_and_accumulation_uses_more_batches():
    model, _ = make_problem()
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)  # 2 batches
    seen = {"n": 0}

    def counting(out, target):
        seen["n"] += 1
        return nn.functional.cross_entropy(out, target)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = find_lr(
        model,
        optimizer,
        counting,
        loader,
        num_steps=5,
        end_lr=1e-3,
        accumulation_steps=3,
        progress=False,
    )
    assert len(result.lrs) == 5
    assert seen["n"] == 15


def test_step_fn_handles_dict_batches():
    torch.manual_seed(0)
    data = [
        {"a": torch.randn(16, 4), "b": torch.randn(16, 4), "t": torch.randn(16, 1)}
        for _ in range(3)
    ]

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = nn.Linear(4, 1), nn.Linear(4, 1)

        def forward(self, a, b):
            return self.left(a) + self.right(b)

    model = TwoInputs()

    def step_fn(model, batch):
        return ((model(batch["a"], batch["b"]) - batch["t"]) ** 2).mean()

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = find_lr(
        model,
        optimizer,
        None,
        data,
        step_fn=step_fn,
        num_steps=12,
        start_lr=1e-4,
        end_lr=1.0,
        progress=False,
    )
    first = result.sweeps[0]
    assert first["steps"] == 12 or first["stop_reason"] != "completed"


def test_loss_fn_with_odd_batches_asks_for_step_fn():
    model, _ = make_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(TypeError, match="step_fn"):
        find_lr(model, optimizer, nn.CrossEntropyLoss(), [{"x": 1}], num_steps=3, progress=False)


def test_validation_curve_uses_the_validation_loader():
    _, loader = make_problem()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))  # no running stats
    val_x, val_y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    val_loader = DataLoader(TensorDataset(val_x, val_y), batch_size=16)
    optimizer = torch.optim.Adam(model.parameters())
    result = find_lr(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        loader,
        num_steps=6,
        end_lr=1e-5,
        val_loader=val_loader,
        val_batches=2,
        progress=False,
    )
    assert result.settings["curve"] == "validation"
    # at tiny learning rates the weights barely move: the first loss is the eval loss of the start
    model.eval()
    with torch.no_grad():
        expected = (
            sum(
                float(nn.functional.cross_entropy(model(val_x[i : i + 16]), val_y[i : i + 16]))
                for i in (0, 16)
            )
            / 2
        )
    assert result.losses[0] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_lr": 0}, "start_lr: must be > 0, got 0"),
        ({"end_lr": 1e-9}, "end_lr: must be greater than start_lr"),
        ({"start_lr": math.inf}, "start_lr: must be finite"),
        ({"num_steps": 1}, "num_steps: must be >= 2"),
        ({"mode": "cosine"}, "mode: must be one of exp, linear"),
        ({"smoothing": 1.5}, r"smoothing: must be in \[0, 1\)"),
        ({"accumulation_steps": 0}, "accumulation_steps: must be >= 1"),
        ({"snapshot": "gpu"}, "snapshot: must be one of cpu, disk"),
    ],
)
def test_bad_inputs_are_named(kwargs, message):
    model, loader = make_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=message):
        find_lr(model, optimizer, nn.CrossEntropyLoss(), loader, progress=False, **kwargs)


def test_empty_loader_is_rejected():
    model, _ = make_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    empty = DataLoader(TensorDataset(torch.empty(0, 8), torch.empty(0).long()), batch_size=4)
    with pytest.raises(ValueError, match="train_loader: the loader yields no batches"):
        find_lr(model, optimizer, nn.CrossEntropyLoss(), empty, progress=False)


def test_real_task_curve_falls_then_rises():
    from lrkit import tasks

    task = tasks.get("digits-cnn", seed=0)
    result = find_lr(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        num_steps=100,
        progress=False,
    )
    smoothed = result.smoothed_losses
    lowest = min(smoothed)
    assert lowest < 0.95 * smoothed[0]  # it learns somewhere in the sweep
    after = result.losses[smoothed.index(lowest) :]
    assert smoothed[-1] > lowest * 1.1 and max(after) > 1.5 * lowest  # and is hurt at the top
    assert 1e-7 <= result.suggestion <= 10


def test_a_state_copy_can_be_loaded_again_after_training_from_it():
    # a CPU optimizer keeps the tensors it loads and updates them in place; the copy must not
    # follow, or a second rollback (or a second sweep) starts from a corrupted state
    model, loader = make_problem()
    optimizer = warmed_up_adam(model, loader)
    before = snapshot(model, optimizer)
    saved = state_copy(model, optimizer)
    for _ in range(2):
        load_state(model, optimizer, saved)
        assert_identical(before, model, optimizer)
        for inputs, targets in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()


def test_a_settings_object_sweeps_as_its_keywords_do():
    settings = RangeTestSettings(num_steps=15, end_lr=1.0, retry=False)
    curves = []
    for kwargs in ({"settings": settings}, {"num_steps": 15, "end_lr": 1.0, "retry": False}):
        model, loader = make_problem()
        loader.generator = torch.Generator().manual_seed(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        curves.append(
            find_lr(model, optimizer, nn.CrossEntropyLoss(), loader, progress=False, **kwargs)
        )
    assert curves[0].lrs == curves[1].lrs and len(curves[0].lrs) <= 15
    assert curves[0].losses == curves[1].losses
    assert curves[0].settings == curves[1].settings
    with pytest.raises(ValueError, match="num_steps: must be >= 2"):
        model, loader = make_problem()
        find_lr(
            model,
            torch.optim.SGD(model.parameters()),
            nn.CrossEntropyLoss(),
            loader,
            settings=settings,
            num_steps=1,
        )
