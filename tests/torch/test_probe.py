"""lrkit.torch.probe_lr: same start and batches for every candidate, state restored after."""

import copy
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit import range_test
from lrkit.probe import candidate_schedule, probe_candidates
from lrkit.torch import LRProbe, probe_lr


def regression(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 8, generator=generator)
    y = x @ torch.randn(8, 1, generator=generator) + 0.1 * torch.randn(256, 1, generator=generator)
    loader = DataLoader(
        TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1)
    )
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.Linear(16, 1))
    return model, loader


def state(model, optimizer):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        copy.deepcopy(optimizer.state_dict()),
    )


def test_every_candidate_starts_from_the_same_state_and_batches():
    model, loader = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    runs: list[list[torch.Tensor]] = []

    def step_fn(model, batch):
        inputs, targets = batch
        if optimizer.param_groups[0]["lr"] != getattr(step_fn, "lr", None):  # a new candidate
            step_fn.lr = optimizer.param_groups[0]["lr"]
            runs.append([next(model.parameters()).detach().clone()])
        runs[-1].append(inputs.clone())
        return nn.functional.mse_loss(model(inputs), targets)

    result = probe_lr(
        model,
        optimizer,
        None,
        loader,
        candidates=[0.005, 0.001],
        steps=30,
        step_fn=step_fn,
        progress=False,
    )
    assert result.lrs == [0.005, 0.001]
    first, second = runs
    assert len(first) == len(second) == 31  # start weights + 30 batches (two epochs' worth)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_model_optimizer_and_random_state_are_restored():
    model, loader = regression()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()  # the optimizer has state worth keeping
    model.eval()
    params, opt_state = state(model, optimizer)
    rng = torch.get_rng_state()
    loader_rng = loader.generator.get_state()
    numpy_rng = np.random.get_state()[1].copy()  # noqa: NPY002
    python_rng = random.getstate()

    def step_fn(model, batch):  # draws from every global generator, as augmentation might
        inputs, targets = batch
        noise = np.random.rand() + random.random()  # noqa: NPY002
        return nn.functional.mse_loss(model(inputs), targets) + 0 * noise

    probe_lr(
        model,
        optimizer,
        None,
        loader,
        candidates=[1e-2, 1e3],
        steps=20,
        step_fn=step_fn,
        progress=False,
    )

    for key, value in model.state_dict().items():
        assert torch.equal(value, params[key])
    assert optimizer.param_groups[0]["lr"] == 1e-3
    for key, value in optimizer.state_dict()["state"][0].items():
        assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_state["state"][0][key]))
    assert not model.training
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(loader.generator.get_state(), loader_rng)
    assert np.array_equal(np.random.get_state()[1], numpy_rng)  # noqa: NPY002
    assert random.getstate() == python_rng


def test_param_groups_keep_their_ratio():
    model, loader = regression()
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters()}],
        lr=0.01,
    )
    seen = []

    def step_fn(model, batch):
        seen.append([group["lr"] for group in optimizer.param_groups])
        inputs, targets = batch
        return nn.functional.mse_loss(model(inputs), targets)

    probe_lr(
        model, optimizer, None, loader, candidates=[0.5], steps=2, step_fn=step_fn, progress=False
    )
    assert seen[0] == pytest.approx([0.5, 0.05])
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.01]


def test_a_rate_that_blows_up_loses_to_one_that_learns():
    model, loader = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = probe_lr(
        model,
        optimizer,
        nn.MSELoss(),
        loader,
        candidates=[50.0, 0.05, 1e-6],
        steps=40,
        progress=False,
    )
    assert result.best == 0.05
    assert result.scores[1] < result.scores[2]


def test_candidates_come_from_a_range_test():
    model, loader = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    curve = range_test(
        lambda lr: 1 + (torch.log10(torch.tensor(lr)).item() + 1) ** 2,
        start_lr=1e-4,
        end_lr=1.0,
        num_steps=60,
        smoothing=0.0,
    )
    result = probe_lr(
        model, optimizer, nn.MSELoss(), loader, candidates=curve, steps=5, progress=False
    )
    assert result.lrs == pytest.approx(probe_candidates(curve))


def test_accumulation_and_a_sampler_generator():
    model, loader = regression()
    sampled = DataLoader(
        loader.dataset,
        batch_size=16,
        sampler=torch.utils.data.RandomSampler(
            loader.dataset, generator=torch.Generator().manual_seed(3)
        ),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    firsts = []

    def step_fn(model, batch):
        inputs, targets = batch
        firsts.append(inputs[0].clone())
        return nn.functional.mse_loss(model(inputs), targets)

    result = probe_lr(
        model,
        optimizer,
        None,
        sampled,
        candidates=[0.01, 0.001],
        steps=5,
        accumulation_steps=2,
        step_fn=step_fn,
        progress=False,
    )
    assert [len(run) for run in result.losses] == [5, 5]
    assert len(firsts) == 20  # 2 candidates × 5 steps × 2 batches
    for a, b in zip(firsts[:10], firsts[10:], strict=True):  # the sampler was rewound
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="accumulation_steps: must be >= 1"):
        probe_lr(
            model,
            optimizer,
            None,
            sampled,
            candidates=[0.01],
            steps=5,
            accumulation_steps=0,
            step_fn=step_fn,
        )


def test_with_a_cooldown_each_candidate_trains_at_its_decaying_rate():
    model, loader = regression()
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.5}], lr=1.0
    )
    seen = []

    def step_fn(model, batch):
        seen.append([group["lr"] for group in optimizer.param_groups])
        inputs, targets = batch
        return nn.functional.mse_loss(model(inputs), targets)

    result = probe_lr(
        model,
        optimizer,
        None,
        loader,
        candidates=[0.02, 0.01],
        steps=10,
        step_fn=step_fn,
        cooldown=0.4,
        progress=False,
    )
    assert result.cooldown == 0.4
    for lr, run in zip([0.02, 0.01], [seen[:10], seen[10:]], strict=True):
        expected = [candidate_schedule(lr, 10, 0.4)(t) for t in range(10)]
        assert [rates[0] for rates in run] == pytest.approx(expected)
        assert [rates[1] for rates in run] == pytest.approx([0.5 * v for v in expected])
    assert [group["lr"] for group in optimizer.param_groups] == [1.0, 0.5]  # restored


def test_candidates_and_steps_by_position_as_before_still_work_and_warn():
    model, loader = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    expected = probe_lr(
        model, optimizer, nn.MSELoss(), loader, candidates=[0.05, 0.01], steps=4, progress=False
    )
    with pytest.warns(DeprecationWarning, match="probe_lr: pass candidates and steps by keyword"):
        old = probe_lr(model, optimizer, nn.MSELoss(), loader, [0.05, 0.01], 4, progress=False)
    assert old.losses == expected.losses
    with pytest.warns(DeprecationWarning, match="LRProbe: pass candidates by keyword"):
        probe = LRProbe(model, optimizer, [0.05], steps=2, progress=False)
    assert probe.lr == 0.05
    probe.result()
    with pytest.raises(TypeError, match="probe_lr: takes model, optimizer, loss_fn, train_loader"):
        probe_lr(model, optimizer, None, loader, [0.05], 4, 1)
    with pytest.raises(TypeError, match="LRProbe: takes model, optimizer and then keywords"):
        LRProbe(model, optimizer, [0.05], candidates=[0.05], steps=2)
