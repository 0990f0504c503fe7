"""Searches in one process: samplers, pruners, failures, results and bad inputs."""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path

import pytest

import search_objectives
from lrkit import search
from lrkit.search import SearchResult, SearchTrial

SPACE = {"lr": (1e-5, 1.0)}


def test_tpe_finds_the_peak_and_the_seed_repeats_it() -> None:
    runs = [
        search.run(
            search_objectives.peak, space=SPACE, sampler="tpe", n_trials=25, seed=3, progress=False
        )
        for _ in range(2)
    ]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    best = runs[0].best_lr
    assert best is not None and abs(math.log10(best) + 2) < 0.35  # within ~2x of 1e-2
    assert runs[0].best_score == pytest.approx(-((math.log10(best) + 2) ** 2))


def test_random_sampler_stays_in_range_on_a_log_scale() -> None:
    result = search.run(
        search_objectives.peak, space=SPACE, sampler="random", n_trials=40, progress=False
    )
    exponents = [math.log10(t.params["lr"]) for t in result.trials]
    assert all(-5 <= e <= 0 for e in exponents)
    # Log-uniform: about half of the draws fall below 10^-2.5.
    assert 10 <= sum(e < -2.5 for e in exponents) <= 30


def test_grid_runs_every_point_once_in_order() -> None:
    result = search.run(
        search_objectives.peak,
        space={"lr": (1e-4, 1.0), "batch_size": [16, 64]},
        sampler="grid",
        n_trials=10,
        progress=False,
    )
    got = [(t.params["lr"], t.params["batch_size"]) for t in result.trials]
    want = [(lr, bs) for lr in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) for bs in (16, 64)]
    assert got == [(pytest.approx(lr), bs) for lr, bs in want]
    assert result.best_params["lr"] == pytest.approx(1e-2)


def _bad_late(trial: SearchTrial) -> float:
    """Scores rise per step; the further lr is from 1e-2, the lower every step's score."""
    distance = abs(math.log10(trial.params["lr"]) + 2)
    score = 0.0
    for step in range(1, 10):
        score = step - 3 * distance
        trial.report(score, step)
    return score


@pytest.mark.parametrize("pruner", ["median", "hyperband", "asha"])
def test_pruners_stop_poor_trials_early(pruner: str) -> None:
    result = search.run(
        _bad_late, space=SPACE, sampler="random", pruner=pruner, n_trials=30, progress=False
    )
    assert result.counts()["done"] == 30
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert sum(len(t.intermediate) < 9 for t in pruned) >= 5
    assert result.best is not None and result.best.state == "complete"
    assert len(result.best.intermediate) == 9
    # The best complete trial beats the median pruned trial's last score.
    worst_half = sorted(t.score or 0 for t in pruned)[len(pruned) // 2]
    assert (result.best_score or 0) > worst_half


def test_failing_trials_are_recorded_and_still_count() -> None:
    result = search.run(
        search_objectives.fragile, space=SPACE, sampler="log", n_trials=6, progress=False
    )
    by_lr = {round(math.log10(t.params["lr"])): t for t in result.trials}
    assert by_lr[0].state == "fail" and "RuntimeError: exploded at lr 1" in str(by_lr[0].error)
    assert by_lr[-5].state == "fail" and "not a finite number" in str(by_lr[-5].error)
    assert result.counts() == {"complete": 4, "fail": 2, "done": 6}
    assert result.best_lr == pytest.approx(1e-2)


def _exits_at_1e_2(trial: SearchTrial) -> float:
    if trial.params["lr"] == pytest.approx(1e-2):
        sys.exit(3)
    return search_objectives.peak(trial)


def test_an_objective_calling_sys_exit_fails_its_trial_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    result = search.run(
        _exits_at_1e_2, space=SPACE, sampler="log", n_trials=6,
        storage=str(tmp_path / "s.journal"), progress=False,
    )  # fmt: skip
    (failed,) = [t for t in result.trials if t.state == "fail"]
    assert failed.params["lr"] == pytest.approx(1e-2) and failed.error == "SystemExit: 3"
    assert result.counts() == {"complete": 5, "fail": 1, "done": 6}
    assert len({t.worker for t in result.trials}) == 1  # the same worker ran the trials after


def test_result_json_round_trip_and_table(tmp_path: Path) -> None:
    result = search.run(
        search_objectives.peak, space=SPACE, sampler="log", n_trials=6, progress=False
    )
    path = tmp_path / "search.json"
    result.to_json(path)
    data = json.loads(path.read_text())
    assert data["kind"] == "lrkit.search" and data["version"] == 1
    assert data["best"]["trial"] == 3 and data["best"]["params"]["lr"] == pytest.approx(1e-2)
    assert data["config"]["sampler"] == "log" and data["config"]["space"] == {"lr": [1e-5, 1.0]}
    again = SearchResult.from_json(path)
    assert again.best_lr == result.best_lr and again.trials == result.trials
    rows = again.table()
    assert [row["trial"] for row in rows[:3]] == [3, 2, 4]  # 1e-2, then 1e-3 / 1e-1 tie
    assert rows[0]["score"] == 0.0 and rows[0]["epochs"] == 3
    with pytest.raises(FileExistsError):
        result.to_json(path)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sampler": "bayes"}, ValueError, "sampler: unknown sampler 'bayes'"),
        ({"pruner": "early"}, ValueError, "pruner: unknown pruner 'early'"),
        ({"space": {}}, ValueError, "space: is empty"),
        ({"n_trials": 0}, ValueError, "n_trials: must be >= 1, got 0"),
        ({"workers": 2}, ValueError, "workers: 2 processes need shared storage"),
        ({"workers": 0}, ValueError, "workers: must be an integer >= 1"),
        ({"direction": "up"}, ValueError, "direction: must be one of"),
        ({"backend": "dask"}, ValueError, "backend: must be 'optuna' or 'ray'"),
        ({"storage": "sqlite:///s.db"}, ValueError, "SQLite .* is not used"),
        (
            {"storage": "mysql://u:hunter22@db/x"},
            ValueError,
            "unsupported URL mysql://u:\\*\\*\\*@",
        ),
    ],
)
def test_bad_inputs_are_clear_errors(kwargs: dict, error: type, message: str) -> None:  # type: ignore[type-arg]
    arguments = {"space": SPACE, "n_trials": 2, "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        search.run(search_objectives.peak, **arguments)


def test_unreachable_storage_names_it_without_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"postgresql://lrkit:s3cret-Pa55@127.0.0.1:{port}/lrkit"
    with pytest.raises(ValueError) as caught:
        search.run(search_objectives.peak, space=SPACE, n_trials=1, storage=url)
    message = str(caught.value)
    assert message.startswith(f"storage: cannot use postgresql://lrkit:***@127.0.0.1:{port}/lrkit")
    assert "refused" in message.lower()
    assert "s3cret-Pa55" not in message and caught.value.__cause__ is None


def test_redact_hides_passwords_in_authority_and_query() -> None:
    assert search.redact("postgresql://me:pw@h:5432/db") == "postgresql://me:***@h:5432/db"
    assert search.redact("postgresql://h/db?user=me&password=pw") == (
        "postgresql://h/db?user=me&password=%2A%2A%2A"
    )
    assert search.redact("runs/search.journal") == "runs/search.journal"
    assert search.redact(None) == "memory"


def test_a_worker_cannot_rebuild_a_lambda_objective(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="objective: this study was started with an objective"):
        search.create(
            lambda trial: 0.0,
            space=SPACE,
            storage=str(tmp_path / "s.journal"),
            study_name="lambda",
        )
