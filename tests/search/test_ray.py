"""The Ray backend on a local Ray instance: Optuna's sampler, ASHA, the same results."""

from __future__ import annotations

import math

import pytest

import search_objectives
from lrkit import search

pytest.importorskip("ray.tune", reason="the ray extra is not installed")


@pytest.mark.slow
def test_ray_runs_tpe_with_asha_and_returns_a_search_result() -> None:
    result = search.run(
        search_objectives.peak,
        space={"lr": (1e-5, 1.0)},
        sampler="tpe",
        pruner="asha",
        n_trials=8,
        workers=2,
        backend="ray",
        progress=False,
    )
    assert result.backend == "ray" and result.storage == "ray:local"
    assert len(result.trials) == 8
    assert all(t.state in ("complete", "pruned") for t in result.trials)
    assert all(1e-5 <= t.params["lr"] <= 1.0 for t in result.trials)
    for trial in result.complete:
        assert sorted(trial.intermediate) == [1, 2, 3]
        assert trial.score == pytest.approx(-((math.log10(trial.params["lr"]) + 2) ** 2))
    assert result.best is not None


@pytest.mark.slow
def test_ray_runs_each_grid_point_once() -> None:
    result = search.run(
        search_objectives.peak,
        space={"lr": (1e-4, 1.0)},
        sampler="log",
        n_trials=5,
        workers=2,
        backend="ray",
        progress=False,
    )
    assert sorted(t.params["lr"] for t in result.trials) == pytest.approx(
        [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    )
    assert result.counts() == {"complete": 5, "done": 5}
    assert result.best_lr == pytest.approx(1e-2)


def test_ray_backend_refuses_an_optuna_storage() -> None:
    with pytest.raises(ValueError, match="storage: the ray backend keeps its trials in Ray"):
        search.run(
            search_objectives.peak, space={"lr": (1e-4, 1.0)}, n_trials=2,
            storage="postgresql://me:pw@db/x", backend="ray",
        )  # fmt: skip


@pytest.mark.slow
def test_an_objective_calling_sys_exit_fails_its_ray_trial_only() -> None:
    result = search.run(
        search_objectives.exits_at_1e_2,
        space={"lr": (1e-3, 1e-1)},
        sampler="log",
        n_trials=3,
        workers=1,
        backend="ray",
        progress=False,
    )
    (failed,) = [t for t in result.trials if t.state == "fail"]
    assert failed.params["lr"] == pytest.approx(1e-2)
    assert failed.error == "RuntimeError: the objective called sys.exit(3)"
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx([1e-3, 1e-1])
