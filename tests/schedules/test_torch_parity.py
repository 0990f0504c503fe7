"""lrkit schedules against torch.optim.lr_scheduler, step by step over >= 10,000 steps.

A torch scheduler is stepped ``scheduler.step()`` after ``scheduler.step()`` and the learning
rate (and momentum) in use at each step is compared with ``schedule(step)``:
the largest relative error must be <= 1e-9.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.optim import lr_scheduler as tls  # noqa: E402

from lrkit import schedules as S  # noqa: E402

N = 10_000
RTOL = 1e-9


def _optimizer(kind: str = "sgd", lr: float = 0.1) -> Any:
    params = [torch.nn.Parameter(torch.zeros(1))]
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def run_torch(
    make: Callable[[Any], Any], steps: int = N, kind: str = "sgd", lr: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Learning rate and momentum (beta1 for Adam) in use at steps 0 .. steps - 1."""
    optimizer = _optimizer(kind, lr)
    scheduler = make(optimizer)
    group = optimizer.param_groups[0]
    lrs, moms = [], []
    with warnings.catch_warnings():
        # no gradients here, so optimizer.step() is skipped; torch warns about the order
        warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()`"))
        for _ in range(steps):
            lrs.append(group["lr"])
            moms.append(group["betas"][0] if kind == "adam" else group["momentum"])
            scheduler.step()
    return np.array(lrs), np.array(moms)


def max_rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def assert_parity(schedule: S.Schedule, theirs: np.ndarray) -> None:
    assert len(theirs) >= N
    ours = schedule(np.arange(len(theirs)))
    assert max_rel_err(ours, theirs) <= RTOL
    # the per-step scalar path the torch adapter uses agrees with the vectorised one
    for t in (0, 1, len(theirs) // 3, len(theirs) - 1):
        assert schedule(t) == pytest.approx(ours[t], rel=1e-15, abs=0)


def test_step_lr() -> None:
    theirs, _ = run_torch(lambda o: tls.StepLR(o, step_size=700, gamma=0.5))
    assert_parity(S.step_decay(0.1, decay_steps=700, gamma=0.5), theirs)


def test_multistep_lr() -> None:
    milestones = [1000, 2500, 2501, 7000]
    theirs, _ = run_torch(lambda o: tls.MultiStepLR(o, milestones, gamma=0.3))
    assert_parity(S.multistep(0.1, milestones, gamma=0.3), theirs)


def test_exponential_lr() -> None:
    theirs, _ = run_torch(lambda o: tls.ExponentialLR(o, gamma=0.9995))
    assert_parity(S.exponential(0.1, gamma=0.9995), theirs)


def test_constant_lr_is_a_sequence_of_constants() -> None:
    theirs, _ = run_torch(lambda o: tls.ConstantLR(o, factor=0.25, total_iters=1500))
    assert_parity(S.sequence([S.constant(0.025), S.constant(0.1)], boundaries=[1500]), theirs)


@pytest.mark.parametrize(("start", "end"), [(0.01, 1.0), (1.0, 0.2)])
def test_linear_lr(start: float, end: float) -> None:
    theirs, _ = run_torch(
        lambda o: tls.LinearLR(o, start_factor=start, end_factor=end, total_iters=6000)
    )
    assert_parity(S.linear(0.1 * start, 0.1 * end, total_steps=6000), theirs)


def test_polynomial_lr() -> None:
    # the value reaches 0 at total_iters, where a relative error is undefined: compare before
    theirs, _ = run_torch(lambda o: tls.PolynomialLR(o, total_iters=N + 1, power=2.0), N)
    assert_parity(S.polynomial(0.1, total_steps=N + 1, power=2.0), theirs)


def test_cosine_annealing_lr() -> None:
    theirs, _ = run_torch(lambda o: tls.CosineAnnealingLR(o, T_max=N, eta_min=1e-4), N + 1)
    assert_parity(S.cosine(0.1, total_steps=N, floor=1e-4), theirs)


def test_cosine_annealing_lr_past_the_end_differs_on_purpose() -> None:
    # torch climbs back up the cosine after T_max; lrkit holds the floor
    theirs, _ = run_torch(lambda o: tls.CosineAnnealingLR(o, T_max=100, eta_min=1e-4), 200)
    ours = S.cosine(0.1, total_steps=100, floor=1e-4)(np.arange(200))
    np.testing.assert_allclose(ours[:101], theirs[:101], rtol=RTOL)
    assert np.all(ours[101:] == 1e-4)
    assert theirs[199] > 0.09


@pytest.mark.parametrize(("t0", "mult"), [(700, 1), (50, 2), (37, 3)])
def test_cosine_annealing_warm_restarts(t0: int, mult: int) -> None:
    theirs, _ = run_torch(
        lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=1e-3)
    )
    assert_parity(S.cosine_restarts(0.1, cycle_steps=t0, cycle_mult=mult, floor=1e-3), theirs)


@pytest.mark.parametrize(
    ("mode", "down", "make"),
    [
        ("triangular", None, lambda: S.triangular(0.01, 0.1, 500)),
        ("triangular2", 300, lambda: S.triangular2(0.01, 0.1, 500, down_steps=300)),
        ("exp_range", None, lambda: S.exp_range(0.01, 0.1, 500, gamma=0.9998)),
    ],
)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_cyclic_lr_with_momentum(mode: str, down: int | None, make: Any, kind: str) -> None:
    theirs, their_momentum = run_torch(
        lambda o: tls.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=500,
            step_size_down=down,
            mode=mode,
            gamma=0.9998,
            base_momentum=0.8,
            max_momentum=0.9,
        ),
        kind=kind,
    )
    schedule = make()
    assert_parity(schedule, theirs)
    assert_parity(schedule.momentum(low=0.8, high=0.9), their_momentum)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_one_cycle_lr(anneal: str, three_phase: bool, kind: str) -> None:
    total = N + 7  # makes pct_start * total fractional, as it often is
    theirs, their_momentum = run_torch(
        lambda o: tls.OneCycleLR(
            o,
            max_lr=0.1,
            total_steps=total,
            pct_start=0.25,
            anneal_strategy=anneal,
            three_phase=three_phase,
            div_factor=20.0,
            final_div_factor=50.0,
        ),
        total,
        kind=kind,
    )
    schedule = S.one_cycle(
        0.1,
        total,
        pct_start=0.25,
        anneal=anneal,
        three_phase=three_phase,
        div_factor=20.0,
        final_div_factor=50.0,
    )
    assert_parity(schedule, theirs)
    assert_parity(schedule.momentum(low=0.85, high=0.95), their_momentum)


def test_one_cycle_does_not_crash_past_the_end() -> None:
    # torch raises "Tried to step X times"; lrkit holds the final value
    optimizer = _optimizer()
    scheduler = tls.OneCycleLR(optimizer, max_lr=0.1, total_steps=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(100):
            scheduler.step()
        with pytest.raises(ValueError, match="Tried to step"):
            scheduler.step()
    schedule = S.one_cycle(0.1, 100)
    assert schedule(101) == schedule(10_000) == schedule(99) == pytest.approx(0.1 / 25 / 1e4)


def test_sequential_lr_warmup_then_cosine() -> None:
    def make(o: Any) -> Any:
        warm = tls.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=500)
        cos = tls.CosineAnnealingLR(o, T_max=N, eta_min=1e-4)
        return tls.SequentialLR(o, [warm, cos], milestones=[500])

    theirs, _ = run_torch(make, N + 500)
    ours = S.sequence([S.linear(0.001, 0.1, 500), S.cosine(0.1, N, floor=1e-4)], [500])
    assert_parity(ours, theirs)
    # and the same thing written as a warm-up
    assert_parity(S.warmup(S.cosine(0.1, N, floor=1e-4), warmup_steps=500, start=0.001), theirs)


def test_sequential_lr_three_parts() -> None:
    def make(o: Any) -> Any:
        return tls.SequentialLR(
            o,
            [
                tls.ConstantLR(o, factor=0.1, total_iters=300),
                tls.ExponentialLR(o, gamma=0.9999),
                tls.StepLR(o, step_size=1000, gamma=0.5),
            ],
            milestones=[300, 4000],
        )

    theirs, _ = run_torch(make)
    ours = S.sequence(
        [S.constant(0.01), S.exponential(0.1, gamma=0.9999), S.step_decay(0.1, 1000, 0.5)],
        boundaries=[300, 4000],
    )
    assert_parity(ours, theirs)
