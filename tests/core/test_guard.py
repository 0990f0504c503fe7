"""lrkit.guard.DivergenceGuard and its torch side, lrkit.torch.rollback.Rollback."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit import schedules
from lrkit.guard import DivergenceGuard
from lrkit.torch import fit
from lrkit.torch.rollback import Rollback
from lrkit.torch.scheduler import Scheduler


def signals(guard: DivergenceGuard, losses: list[float]) -> list[str]:
    return [guard.update(loss) for loss in losses]


def test_a_falling_loss_only_ever_sets_new_bests():
    guard = DivergenceGuard(smoothing=0.0)
    assert signals(guard, [2.0, 1.5, 1.6, 1.0, 1.2, 0.5]) == [
        "best",
        "best",
        "keep",
        "best",
        "keep",
        "best",
    ]
    assert guard.rollbacks == 0 and guard.factor == 1.0


def test_giving_back_half_of_the_fall_rolls_back():
    guard = DivergenceGuard(smoothing=0.0)
    # start 2.3, best 0.7: the fall is 1.6, so the line is 0.7 + 0.5 · 1.6 = 1.5
    assert signals(guard, [2.3, 1.2, 0.7, 1.0, 1.5, 1.51]) == [
        "best",
        "best",
        "best",
        "keep",
        "keep",
        "rollback",
    ]
    assert guard.rollbacks == 1
    assert guard.factor == pytest.approx(1 / 3)
    assert guard.smoothed == pytest.approx(0.7)  # back at the best point, like the weights


def test_the_smoothed_loss_is_what_is_judged():
    guard = DivergenceGuard(smoothing=0.5)
    # the line is 2/7 + 0.5 · (2 − 2/7) = 8/7; a raw 1.5 crosses it, the smoothed loss not yet
    assert signals(guard, [2.0, 0.0, 0.0, 1.5]) == ["best", "best", "best", "keep"]
    # s_n = a_n / (1 − 0.5^n), a_n = 0.5 a_{n−1} + 0.5 loss_n: a_4 = 0.875, s_4 = 0.875/0.9375
    assert guard.smoothed == pytest.approx(0.875 / 0.9375)
    assert guard.update(1.5) == "rollback"  # a_5 = 1.1875, s_5 = 1.1875/0.96875 ≈ 1.23


def test_noise_near_zero_and_in_the_first_steps_is_no_divergence():
    near_zero = DivergenceGuard(smoothing=0.0)
    losses = [1.0, 0.1, 0.01] + [0.01, 0.03, 0.02, 0.04, 0.01] * 5
    assert "rollback" not in signals(near_zero, losses)  # 0.04 is far below 0.01 + 0.5 · 0.99
    early = DivergenceGuard(smoothing=0.0)
    assert "rollback" not in signals(early, [2.30, 2.28, 2.31, 2.35])  # fell < 10 % of 2.3


def test_nothing_but_a_non_finite_loss_is_judged_during_warmup():
    guard = DivergenceGuard(smoothing=0.0, warmup=3)
    assert signals(guard, [2.0, 1.0, 1.9]) == ["best", "best", "keep"]  # a transient bump
    assert guard.update(math.nan) == "rollback"
    assert guard.update(1.9) == "rollback"  # the 4th finite loss: judged now


def test_a_non_finite_loss_rolls_back_once_there_is_somewhere_to_go():
    guard = DivergenceGuard()
    assert guard.update(math.nan) == "keep"  # nothing saved yet
    assert guard.update(1.0) == "best"
    assert guard.update(math.inf) == "rollback"
    assert guard.update(math.nan) == "rollback"
    assert guard.factor == pytest.approx(1 / 9)


def test_rollbacks_stop_at_max_rollbacks():
    guard = DivergenceGuard(max_rollbacks=2, divisor=2.0)
    guard.update(1.0)
    assert signals(guard, [math.nan] * 4) == ["rollback", "rollback", "keep", "keep"]
    assert guard.factor == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"smoothing": 1.0}, r"smoothing: must be in \[0, 1\)"),
        ({"give_back": 0.0}, r"give_back: must be in \(0, 1\]"),
        ({"min_fall": -0.1}, r"min_fall: must be in \[0, 1\)"),
        ({"divisor": 1.0}, "divisor: must be > 1"),
        ({"max_rollbacks": -1}, "max_rollbacks: must be >= 0"),
        ({"warmup": -1}, "warmup: must be >= 0"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DivergenceGuard(**kwargs)


def test_rollback_restores_the_saved_copy_and_lowers_the_rates():
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    scheduler = Scheduler(optimizer, lr=schedules.linear(start=0.3, end=0.0, total_steps=10))
    keeper = Rollback(model, optimizer, scheduler, DivergenceGuard(smoothing=0.0), every=1)

    def train_step(step: int, loss: float) -> float | None:
        optimizer.zero_grad()
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()
        scheduler.step()
        return keeper.update(step, loss)

    assert not train_step(0, 2.0)
    assert not train_step(1, 1.0)  # a new best: this state is saved
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    saved_momentum = optimizer.state[model.weight]["momentum_buffer"].clone()
    assert not train_step(2, 1.2)
    assert train_step(3, 1.6)  # 1.6 > 1.0 + 0.5 · 1.0
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key])
    assert torch.equal(optimizer.state[model.weight]["momentum_buffer"], saved_momentum)
    # the schedule is at step 4 (0.3 · 6/10 = 0.18) and now a third of itself
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.06)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.3 * 5 / 10 / 3)


def test_fit_rolls_back_a_run_that_blows_up_and_finishes_at_a_lower_rate():
    torch.manual_seed(0)
    x = 3 * torch.randn(256, 8)
    y = x @ torch.randn(8, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

    def run(guard: bool):
        torch.manual_seed(1)
        model = nn.Linear(8, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        history = fit(
            model,
            optimizer,
            nn.MSELoss(),
            loader,
            6,
            policy="constant",
            lr=0.2,  # too high for these inputs: the loss overflows within a few epochs
            guard=guard,
            progress=False,
        )
        return history

    unguarded = run(guard=False)
    assert not math.isfinite(unguarded.column("loss")[-1])
    guarded = run(guard=True)
    factors = guarded.column("rollback")
    rolled = factors[~torch.isnan(torch.tensor(factors)).numpy()]
    assert list(rolled) == pytest.approx([3.0**-k for k in range(1, len(rolled) + 1)])
    assert len(rolled) >= 1
    assert guarded.column("lr")[-1] == pytest.approx(0.2 * rolled[-1])
    assert guarded.column("loss")[-1] < 0.01 * guarded.column("loss")[0]
