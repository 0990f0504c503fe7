"""ReduceOnPlateau: torch's rules by default (parity over 10,000 metrics), Keras's on request,
state that round-trips, and composition with schedules."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from lrkit import schedules as S
from lrkit.schedules.plateau import ReduceOnPlateau

N = 10_000


def metric_stream(seed: int, n: int = N) -> np.ndarray:
    """A noisy, mostly falling loss with long flat stretches, so reductions keep happening."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(np.where(rng.random(n) < 0.3, -rng.random(n) * 0.02, 0.0))
    return 5.0 + drift + rng.normal(0.0, 0.002, n)


def torch_lrs(metrics: np.ndarray, lr: float, **options: Any) -> np.ndarray:
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    out = []
    for metric in metrics:
        scheduler.step(float(metric))
        out.append(optimizer.param_groups[0]["lr"])
    return np.array(out)


def lrkit_lrs(metrics: np.ndarray, plateau: ReduceOnPlateau, start: int = 0) -> np.ndarray:
    out = []
    for step, metric in enumerate(metrics, start):
        plateau.update(float(metric), step)
        out.append(plateau(step + 1))
    return np.array(out)


TORCH_CONFIGS = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 3, "threshold": 1e-3},
    {"threshold_mode": "abs", "threshold": 1e-3, "patience": 2, "cooldown": 4},
    {"factor": 0.7, "patience": 0, "min_lr": 1e-5, "cooldown": 1},
    {"factor": 0.5, "patience": 1, "eps": 1e-3},  # eps stops reductions once steps get small
]


@pytest.mark.parametrize("options", TORCH_CONFIGS, ids=lambda o: ",".join(o) or "defaults")
def test_matches_torch_reduce_lr_on_plateau(options: dict[str, Any]) -> None:
    metrics = metric_stream(seed=len(options))
    if options.get("mode") == "max":
        metrics = -metrics
    theirs = torch_lrs(metrics, 0.1, **options)
    ours_options = {("floor" if key == "min_lr" else key): v for key, v in options.items()}
    ours = lrkit_lrs(metrics, ReduceOnPlateau(0.1, **ours_options))
    assert len(np.unique(theirs)) >= 4  # the stream does trigger reductions
    assert np.max(np.abs(ours - theirs) / theirs) <= 1e-9


def test_torch_rule_by_hand() -> None:
    plateau = ReduceOnPlateau(1.0, patience=2, factor=0.5)
    # 1 improves; then three metrics without improvement: the third exceeds patience
    reduced = [plateau.update(m, step) for step, m in enumerate([1.0, 1.0, 1.0, 1.0, 1.0])]
    assert reduced == [False, False, False, True, False]
    assert plateau(100) == 0.5 and plateau.num_reductions == 1


def test_keras_rule_by_hand() -> None:
    plateau = ReduceOnPlateau(1.0, patience=2, factor=0.5, rule="keras", cooldown=1)
    # Keras reduces once wait reaches patience (a metric earlier than torch would); the
    # cooldown metric resets wait and is then counted all the same
    metrics = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    reduced = [plateau.update(m, step) for step, m in enumerate(metrics)]
    assert reduced == [False, False, True, False, True, False, True]
    assert plateau.threshold_mode == "abs"


def test_keras_rule_needs_an_absolute_improvement() -> None:
    plateau = ReduceOnPlateau(1.0, patience=1, threshold=0.1, rule="keras")
    assert plateau.update(1.0, 0) is False
    assert plateau.update(0.95, 1) is True  # better, but by less than min_delta


def test_keras_rule_stops_at_the_floor_without_resetting_wait() -> None:
    plateau = ReduceOnPlateau(1.0, patience=1, factor=0.1, floor=0.05, rule="keras")
    reduced = [plateau.update(1.0, step) for step in range(5)]
    assert reduced == [False, True, True, False, False]
    assert plateau(5) == 0.05 and plateau.num_bad == 2  # still counting


def test_nan_metric_counts_as_no_improvement() -> None:
    plateau = ReduceOnPlateau(1.0, patience=0)
    plateau.update(1.0, 0)
    assert plateau.update(math.nan, 1) is True


def test_composes_with_a_warmup() -> None:
    base = S.warmup(S.constant(0.1), warmup_steps=5, start=0.01)
    plateau = ReduceOnPlateau(base, patience=1, factor=0.5, ignore_before=5)
    lrs = []
    for step in range(12):
        lrs.append(plateau(step))
        plateau.update(1.0, step)  # the metric never improves
    # no reductions while warming up; then every second metric after step 5
    expected = [0.01, 0.028, 0.046, 0.064, 0.082, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert lrs == pytest.approx(expected)


def test_floor_bounds_reductions_but_never_raises_the_base() -> None:
    plateau = ReduceOnPlateau(S.linear(0.0, 1.0, 10), patience=0, factor=0.1, floor=0.05)
    assert plateau(np.arange(3)).tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert plateau.update(1.0, 0) is False
    assert plateau.update(1.0, 1) is True  # 0.1 -> max(0.01, floor) = 0.05
    assert plateau.update(1.0, 2) is False  # already at the floor at step 2: nothing to reduce
    assert plateau.scale == pytest.approx(0.1)
    # the floor bounds reduced values, but never lifts the base (0.0 at step 0 stays 0.0)
    assert plateau(np.array([0, 2, 5, 10])).tolist() == pytest.approx([0.0, 0.05, 0.05, 0.1])
    assert plateau(10) == pytest.approx(0.1)


def test_state_dict_and_to_dict_resume_exactly() -> None:
    metrics = metric_stream(seed=7, n=600)
    whole = ReduceOnPlateau(0.1, patience=3, factor=0.5, cooldown=2)
    reference = lrkit_lrs(metrics, whole)
    first = ReduceOnPlateau(0.1, patience=3, factor=0.5, cooldown=2)
    head = lrkit_lrs(metrics[:250], first)
    restored = ReduceOnPlateau.from_dict(json.loads(json.dumps(first.to_dict())))
    again = ReduceOnPlateau(0.1, patience=3, factor=0.5, cooldown=2)
    again.load_state_dict(first.state_dict())
    for plateau in (restored, again):
        tail = lrkit_lrs(metrics[250:], plateau, start=250)
        assert np.concatenate([head, tail]).tolist() == reference.tolist()


def test_from_dict_rebuilds_the_base_schedule() -> None:
    plateau = ReduceOnPlateau(S.cosine(0.1, 50), mode="max", rule="keras", ignore_before=3)
    rebuilt = ReduceOnPlateau.from_dict(plateau.to_dict())
    assert rebuilt.schedule == S.cosine(0.1, 50)
    assert (rebuilt.mode, rebuilt.rule, rebuilt.ignore_before) == ("max", "keras", 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"factor": 1.5}, r"factor: must be in \(0, 1\), got 1.5"),
        ({"factor": 0.0}, r"factor: must be in \(0, 1\), got 0.0"),
        ({"patience": -1}, "patience: must be an integer >= 0, got -1"),
        ({"mode": "avg"}, "mode: must be one of 'min', 'max', got 'avg'"),
        ({"rule": "tf"}, "rule: must be one of 'torch', 'keras', got 'tf'"),
        ({"threshold_mode": "pct"}, "threshold_mode: must be one of 'rel', 'abs'"),
        ({"threshold": -1e-4}, "threshold: must be >= 0"),
        ({"floor": -1.0}, "floor: must be >= 0"),
        ({"eps": -1.0}, "eps: must be >= 0"),
        ({"ignore_before": -2}, "ignore_before: must be an integer >= 0"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReduceOnPlateau(0.1, **options)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="lr: must be > 0"):
        ReduceOnPlateau(-0.1)
    with pytest.raises(TypeError, match="cooldown: must be an integer, got 1.5"):
        ReduceOnPlateau(0.1, cooldown=1.5)
    with pytest.raises(ValueError, match="step: must be an integer >= 0"):
        ReduceOnPlateau(0.1).update(1.0, -1)
    with pytest.raises(ValueError, match=r"state: missing key\(s\) \['cooldown_counter', 'scale'"):
        ReduceOnPlateau(0.1).load_state_dict({"best": 1.0, "num_bad": 0})
    with pytest.raises(ValueError, match="data: expected the output of ReduceOnPlateau.to_dict"):
        ReduceOnPlateau.from_dict({"name": "cosine"})


def test_plateau_lives_with_the_schedules_and_the_old_module_warns_once() -> None:
    import importlib
    import sys
    import warnings

    assert S.ReduceOnPlateau is ReduceOnPlateau
    sys.modules.pop("lrkit.plateau", None)
    with pytest.warns(DeprecationWarning, match=r"lrkit\.plateau is now lrkit\.schedules\.plateau"):
        old = importlib.import_module("lrkit.plateau")
    assert old.ReduceOnPlateau is ReduceOnPlateau
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module("lrkit.plateau") is old
