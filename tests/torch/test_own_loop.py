"""The range test inside the user's own loop (``LRFinder``), and what real training steps need:
grad scaling, autocast, clipping, dict batches, one-shot iterators."""

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from lrkit.torch import LRFinder, LRProbe, find_lr, fit, probe_lr
from lrkit.torch.rangetest import global_batch_size


def problem(seed: int = 0, n: int = 256, batch: int = 32):
    torch.manual_seed(seed)
    x = torch.randn(n, 8)
    y = (x[:, :2].sum(dim=1) > 0).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]
    return model, batches


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def plain_loop(session, model, optimizer, loss_fn, batches, before_step=lambda: None) -> None:
    """The loop of the ``LRFinder`` docs, for a finder or a probe: epochs over ``batches``,
    each step recorded, until ``session`` is done; ``before_step()`` runs before each step."""
    while not session.done:
        for inputs, targets in batches:
            before_step()
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            if not session.record(loss):
                break


def test_a_plain_loop_over_lrfinder_measures_what_find_lr_measures():
    model, batches = problem()
    same = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    settings = {"start_lr": 1e-4, "end_lr": 10.0, "num_steps": 30, "progress": False}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = find_lr(model, optimizer, loss_fn, batches, **settings)

    optimizer = torch.optim.SGD(same.parameters(), lr=0.1)
    before = params(same)
    finder = LRFinder(same, optimizer, **settings)
    plain_loop(finder, same, optimizer, loss_fn, batches)
    result = finder.result()
    assert result.lrs == pytest.approx(expected.lrs)
    assert result.losses == pytest.approx(expected.losses, rel=1e-6)
    assert result.stop_reason == expected.stop_reason
    assert all(torch.equal(a, b) for a, b in zip(before, params(same), strict=True))
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_lrfinder_sets_each_rate_before_the_step_and_restores_on_early_exit():
    model, batches = problem()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    before = params(model)
    seen = []
    with LRFinder(model, optimizer, start_lr=1e-5, end_lr=1.0, num_steps=50) as finder:
        for inputs, targets in batches[:5]:
            seen.append(optimizer.param_groups[0]["lr"])
            assert seen[-1] == finder.lr
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            finder.record(loss)
    assert seen == pytest.approx(list(torch.logspace(-5, 0, 50).tolist()[:5]), rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))
    result = finder.result()
    assert result.stop_reason == "stopped" and len(result.lrs) == 5


def test_a_step_the_scaler_skipped_is_not_recorded():
    model, batches = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    finder = LRFinder(model, optimizer, start_lr=1e-4, end_lr=1.0, num_steps=10, progress=False)
    first = finder.lr
    assert finder.record(0.7, skipped=True)
    assert finder.lr == first and finder.result().lrs == []


def test_grad_scaler_records_the_unscaled_loss_and_is_restored():
    model, batches = problem()
    plain = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    settings = {"start_lr": 1e-4, "end_lr": 1.0, "num_steps": 24, "progress": False}
    reference = find_lr(
        plain, torch.optim.SGD(plain.parameters(), lr=0.1), loss_fn, batches, **settings
    )
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    saved = scaler.state_dict()
    scaled = find_lr(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn,
        batches,
        grad_scaler=scaler,
        **settings,
    )
    assert max(scaled.losses) < 10  # not scaler.scale(loss), which is ~65,000 times larger
    assert scaled.losses == pytest.approx(reference.losses, rel=1e-4)
    assert scaler.state_dict() == saved


def test_overflowing_steps_are_retried_at_the_same_rate():
    model, batches = problem()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127)  # the first steps overflow
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    taken, forwards = [], []
    optimizer.register_step_pre_hook(lambda *_: taken.append(1))
    model.register_forward_hook(lambda *_: forwards.append(1))
    result = find_lr(
        model,
        optimizer,
        None,
        batches,
        step_fn=lambda m, b: 1000 * nn.functional.cross_entropy(m(b[0]), b[1]),
        grad_scaler=scaler,
        start_lr=1e-6,
        end_lr=1e-3,
        num_steps=12,
        retry=False,
        progress=False,
    )
    assert len(result.lrs) == 12 and all(math.isfinite(v) for v in result.losses)
    assert len(taken) == 12 < len(forwards)  # the skipped steps never reached the optimizer
    assert scaler.get_scale() == 2.0**127  # restored


def test_bfloat16_autocast_runs_the_sweep_close_to_float32():
    model, batches = problem()
    plain = copy.deepcopy(model)
    settings = {"start_lr": 1e-4, "end_lr": 1.0, "num_steps": 20, "progress": False}
    loss_fn = nn.CrossEntropyLoss()
    reference = find_lr(
        plain, torch.optim.SGD(plain.parameters(), lr=0.1), loss_fn, batches, **settings
    )
    seen = []
    model.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    amp = find_lr(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn,
        batches,
        amp_dtype=torch.bfloat16,
        **settings,
    )
    assert set(seen) == {torch.bfloat16}
    assert amp.losses == pytest.approx(reference.losses, rel=0.05)


def test_clip_grad_norm_bounds_every_step():
    model, batches = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    norms = []

    def record_norm(*_):
        grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack(grads))))

    optimizer.register_step_pre_hook(record_norm)
    find_lr(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        batches,
        clip_grad_norm=0.05,
        num_steps=15,
        retry=False,
        progress=False,
    )
    assert len(norms) == 15 and max(norms) <= 0.05 * (1 + 1e-5)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("clip_grad_norm", 0.0, "clip_grad_norm: must be a finite number > 0"),
        ("amp_dtype", torch.float64, "amp_dtype: must be torch.float16 or torch.bfloat16"),
        ("grad_scaler", object(), "grad_scaler: must be a torch.amp.GradScaler"),
    ],
)
def test_bad_precision_settings_name_the_argument(argument, value, message):
    model, batches = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises((TypeError, ValueError), match=message):
        find_lr(
            model, optimizer, nn.CrossEntropyLoss(), batches, progress=False, **{argument: value}
        )


class KeywordModel(nn.Module):
    """A model in the Hugging Face shape: keyword inputs, an output with ``.loss``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 2)

    def forward(self, input_ids, labels):
        logits = self.net(input_ids)
        return SimpleNamespace(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def test_dict_batches_go_to_the_model_as_keywords_and_its_loss_is_used():
    _, batches = problem()
    dict_batches = [{"input_ids": x, "labels": y} for x, y in batches]
    model = KeywordModel()
    result = find_lr(
        model,
        torch.optim.Adam(model.parameters()),
        None,
        dict_batches,
        num_steps=20,
        progress=False,
    )
    assert len(result.lrs) > 5 and math.isfinite(result.losses[0])
    history = fit(
        model, torch.optim.Adam(model.parameters()), None, dict_batches, 20, progress=False
    )
    assert len(history.steps) == 20 * len(dict_batches)


def test_a_step_fn_may_return_the_model_output():
    _, batches = problem()
    model = KeywordModel()
    result = find_lr(
        model,
        torch.optim.Adam(model.parameters()),
        None,
        batches,
        step_fn=lambda m, b: m(input_ids=b[0], labels=b[1]),
        num_steps=10,
        retry=False,
        progress=False,
    )
    assert len(result.lrs) == 10 or result.stop_reason != "completed"


@pytest.mark.timeout(60)
def test_a_one_shot_iterator_shorter_than_the_sweep_is_an_error_not_a_hang():
    model, batches = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = params(model)
    with pytest.raises(ValueError, match="train_loader: ran out after 8 batches"):
        find_lr(
            model, optimizer, nn.CrossEntropyLoss(), iter(batches), num_steps=20, progress=False
        )
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))
    with pytest.raises(ValueError, match="train_loader: ran out after 8 batches"):
        probe_lr(
            model,
            optimizer,
            nn.CrossEntropyLoss(),
            iter(batches),
            candidates=[0.1],
            steps=20,
            progress=False,
        )


def test_the_batch_size_comes_from_an_accelerate_loader_or_the_error_says_how_to_give_it():
    assert global_batch_size(SimpleNamespace(total_batch_size=256, batch_size=32)) == 256
    assert global_batch_size(SimpleNamespace(batch_size=32)) == 32
    model, batches = problem()
    result = find_lr(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        batches,
        num_steps=30,
        progress=False,
    )
    assert result.settings["batch_size"] is None
    with pytest.raises(ValueError, match=r"did not record the batch size.*batch_size=N"):
        result.for_batch_size(128)


def test_fit_trains_with_the_scaler_and_clipping():
    model, batches = problem()
    scaler = torch.amp.GradScaler("cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    norms = []
    optimizer.register_step_pre_hook(
        lambda *_: norms.append(
            float(nn.utils.get_total_norm([p.grad for p in model.parameters()]))
        )
    )
    history = fit(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        batches,
        40,
        grad_scaler=scaler,
        clip_grad_norm=0.5,
        progress=False,
    )
    losses = history.column("loss")
    assert len(losses) == 40 * len(batches) and losses[-20:].mean() < losses[:20].mean()
    assert len(norms) >= 40 * len(batches) and max(norms) <= 0.5 * (1 + 1e-5)


def test_a_plain_loop_over_lrprobe_scores_what_probe_lr_scores():
    from torch.utils.data import DataLoader, TensorDataset

    model, batches = problem()
    same = copy.deepcopy(model)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    loader = DataLoader(
        TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(3)
    )
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters())
    expected = probe_lr(
        model, optimizer, loss_fn, loader, candidates=[0.05, 0.005], steps=12, progress=False
    )

    optimizer = torch.optim.Adam(same.parameters())
    before = params(same)
    probe = LRProbe(
        same, optimizer, candidates=[0.05, 0.005], steps=12, loader=loader, progress=False
    )
    seen = []
    plain_loop(
        probe,
        same,
        optimizer,
        loss_fn,
        loader,
        before_step=lambda: seen.append((probe.candidate, optimizer.param_groups[0]["lr"])),
    )
    result = probe.result()
    for got, want in zip(result.losses, expected.losses, strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    assert result.best == expected.best
    assert seen[0] == (0, 0.05) and seen[12] == (1, 0.005) and len(seen) == 24
    assert all(torch.equal(a, b) for a, b in zip(before, params(same), strict=True))


class Stream(torch.utils.data.IterableDataset):
    """A stream of batches without a length."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_fit_reads_a_loader_without_a_length_for_steps_per_epoch():
    model, batches = problem()
    loader = torch.utils.data.DataLoader(Stream(batches), batch_size=None)
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="steps_per_epoch: train_loader has no length"):
        fit(model, optimizer, nn.CrossEntropyLoss(), loader, 20, progress=False)
    history = fit(
        model, optimizer, nn.CrossEntropyLoss(), loader, 20, steps_per_epoch=12, progress=False
    )
    assert len(history.steps) == 20 * 12 and history.plan.total_steps == 240


def test_fit_validates_with_the_evaluate_hook_or_on_dict_batches():
    _, batches = problem()
    dict_batches = [{"input_ids": x, "labels": y} for x, y in batches]
    model = KeywordModel()
    calls = []

    def evaluate_fn(m):
        calls.append(m.training)
        m.eval()
        with torch.no_grad():
            out = m(**dict_batches[0])
        return {
            "loss": float(out.loss),
            "accuracy": float((out.logits.argmax(1) == dict_batches[0]["labels"]).float().mean()),
        }

    history = fit(
        model,
        torch.optim.Adam(model.parameters()),
        None,
        dict_batches,
        20,
        evaluate_fn=evaluate_fn,
        progress=False,
    )
    assert calls == [True] * 20 and model.training
    assert np.isfinite(history.column("val_accuracy")).sum() == 20
    history = fit(
        model,
        torch.optim.Adam(model.parameters()),
        None,
        dict_batches,
        20,
        val_loader=dict_batches[:2],
        lr=1e-3,
        progress=False,
    )
    assert np.isfinite(history.column("val_loss")).sum() == 20


def test_the_guard_rolls_back_inside_a_plain_loop():
    from lrkit import schedules
    from lrkit.guard import DivergenceGuard
    from lrkit.torch import Rollback, Scheduler

    model, batches = problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # a good rate for 60 steps, then one 300 times too high
    schedule = schedules.sequence([schedules.constant(0.1), schedules.constant(30.0)], [60])
    scheduler = Scheduler(optimizer, lr=schedule)
    rollback = Rollback(model, optimizer, scheduler, DivergenceGuard(warmup=10), every=5)
    factors = []
    for step in range(100):
        inputs, targets = batches[step % len(batches)]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        factor = rollback.update(step, float(loss))
        if factor is not None:
            factors.append((step, factor))
    assert factors and factors[0][0] > 60 and factors[0][1] == pytest.approx(1 / 3)
    assert optimizer.param_groups[0]["lr"] < 30.0


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"optimizer": "adam"}, TypeError, "optimizer: must be a torch.optim.Optimizer"),
        ({"frozen": True}, ValueError, "model: has no trainable parameters"),
        ({"device": "cuda"}, ValueError, "device: 'cuda' asked for, but CUDA is not available"),
        (
            {"loss_fn": nn.CrossEntropyLoss(reduction="none")},
            TypeError,
            "loss_fn: must give a scalar loss",
        ),
        ({"step_fn": lambda m, b: 0.5}, TypeError, "step_fn: must give a scalar loss tensor"),
        ({"groups": True}, ValueError, "optimizer: its first param group has lr 0"),
    ],
)
def test_what_cannot_be_trained_is_named(change, error, message):
    if change.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model, batches = problem()
    if change.pop("frozen", False):
        model.requires_grad_(False)
    if change.pop("groups", False):
        first, second = list(model.children())[0], list(model.children())[2]
        optimizer = torch.optim.SGD(
            [{"params": first.parameters(), "lr": 0.0}, {"params": second.parameters(), "lr": 0.1}]
        )
    else:
        optimizer = change.pop("optimizer", None) or torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = change.pop("loss_fn", nn.CrossEntropyLoss())
    before = params(model)
    with pytest.raises(error, match=message):
        find_lr(model, optimizer, loss_fn, batches, num_steps=10, progress=False, **change)
    assert all(torch.equal(a, b) for a, b in zip(before, params(model), strict=True))
