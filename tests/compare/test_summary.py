"""Summary, verdict and the SQLite store, on hand-made run records (no training)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lrkit.compare.results import Results
from lrkit.compare.store import FAILED, FINISHED, Store
from lrkit.compare.summary import (
    DIVERGED,
    OK,
    TOO_SLOW,
    default_target,
    epochs_to,
    run_diverged,
    summarize,
)


def record(scores: list[float], losses: list[float] | None = None, **extra: Any) -> dict[str, Any]:
    """A run record whose validation (and training) curves are ``scores`` / ``losses``."""
    losses = losses or [2.3 - 2 * s for s in scores]
    out = {
        "metric": "accuracy",
        "steps_per_epoch": 10,
        "epochs": list(range(len(scores))),
        "train_loss": list(losses),
        "train_score": list(scores),
        "val_loss": list(losses),
        "val_score": list(scores),
        "running_loss": [None, *losses[1:]],
        "train_seconds": [0.5 * i for i in range(len(scores))],
        "peak_loss": 2.3,
        "nonfinite": False,
        "lr": {
            "steps": list(range(10 * (len(scores) - 1))),
            "values": [0.01] * 10 * (len(scores) - 1),
        },
    }
    out.update(extra)
    return out


def run(strategy: str, seed: int, rec: dict[str, Any] | None, error: str | None = None) -> dict:
    return {
        "strategy": strategy,
        "seed": seed,
        "status": FINISHED if rec else FAILED,
        "record": rec,
        "error": error,
        "finished_at": 0.0,
    }


def test_divergence_rules() -> None:
    assert not run_diverged(record([0.1, 0.5, 0.9]))
    assert run_diverged(record([0.1, 0.5], nonfinite=True))
    # a batch loss above 4x the untrained training loss (2.3 - 0.2 = 2.1)
    assert run_diverged(record([0.1, 0.1, 0.1], peak_loss=8.5))
    assert not run_diverged(record([0.1, 0.1, 0.1], peak_loss=8.3))
    # ending with a higher validation loss than it started with
    assert run_diverged(record([0.1, 0.1], losses=[2.30, 2.31]))


def test_epochs_to_target_is_the_first_epoch_at_or_above_it() -> None:
    rec = record([0.1, 0.5, 0.8, 0.7, 0.9])
    assert epochs_to(rec, 0.8) == (2, 1.0)
    assert epochs_to(rec, 0.85) == (4, 2.0)
    assert epochs_to(rec, 0.95) is None


def test_default_target_is_90_percent_of_the_way_to_the_best_mean() -> None:
    runs = [
        run("a", 0, record([0.1, 0.6, 0.9])),
        run("a", 1, record([0.1, 0.7, 0.7])),  # best 0.7: mean best of a = 0.8
        run("b", 0, record([0.1, 0.2, 0.3])),
    ]
    assert default_target(runs) == pytest.approx(0.1 + 0.9 * (0.8 - 0.1))


def test_summary_spreads_statuses_and_failures() -> None:
    runs = [
        run("good", 0, record([0.1, 0.8, 0.9])),
        run("good", 1, record([0.1, 0.7, 0.95])),
        run("slow", 0, record([0.1, 0.15, 0.2])),
        run("wild", 0, record([0.1, 0.1, 0.1], peak_loss=500.0)),
        run("broken", 0, None, error="Traceback ...\nRuntimeError: out of memory\n"),
    ]
    rows = {r.name: r for r in summarize(["good", "slow", "wild", "broken"], runs, {}, 0.75)}
    good = rows["good"]
    assert good.status == OK
    assert good.final_score is not None and good.final_score.n == 2
    assert good.final_score.mean == pytest.approx(0.925)
    assert good.final_score.std == pytest.approx(0.025)  # population std of 0.9 and 0.95
    assert good.epochs_to_target is not None
    assert good.epochs_to_target.mean == pytest.approx(1.5)  # epochs 1 and 2
    assert good.seconds_to_target is not None and good.seconds_to_target.mean == pytest.approx(0.75)
    assert rows["slow"].status == TOO_SLOW and rows["slow"].reached == 0
    assert rows["wild"].status == DIVERGED and rows["wild"].peak_loss == 500.0
    assert rows["broken"].status == "failed"
    assert rows["broken"].error == "RuntimeError: out of memory"


def make_store(directory: Path, runs: list[dict[str, Any]], names: list[str]) -> None:
    with Store(directory) as store:
        store.check_settings(
            {"task": "toy", "epochs": 2, "batch_size": None, "metric": "accuracy", "seeds": [0, 1]},
            ("task", "epochs"),
        )
        for name in names:
            store.add_strategy(
                {"name": name, "optimizer": "adam", "lr": 0.01},
                {
                    "name": name,
                    "optimizer": "adam",
                    "lr": 0.01,
                    "optimizer_params": {},
                    "schedule": None,
                    "cycle_momentum": None,
                },
            )
        for item in runs:
            store.put_run(
                item["strategy"], item["seed"], item["status"], item["record"], item["error"]
            )


def test_verdict_names_winner_diverged_slow_and_failed(tmp_path: Path) -> None:
    runs = [
        run("good", 0, record([0.1, 0.8, 0.9])),
        run("good", 1, record([0.1, 0.7, 0.95])),
        run("close", 0, record([0.1, 0.85, 0.91])),
        run("close", 1, record([0.1, 0.8, 0.92])),
        run("slow", 0, record([0.1, 0.15, 0.2])),
        run("wild", 0, record([0.1, 0.1, 0.1], peak_loss=math.inf, nonfinite=True)),
        run("broken", 0, None, error="ValueError: bad\n"),
    ]
    make_store(tmp_path, runs, ["good", "close", "slow", "wild", "broken"])
    results = Results.load(tmp_path)
    found = results.verdict()
    assert found.winner == "good"
    assert found.diverged == ["wild"]
    assert found.too_slow == ["slow"]
    assert found.failed == ["broken"]
    assert found.sentences[0].startswith(
        "good won with a final validation accuracy of 0.925 ± 0.025"
    )
    # 0.925 - 0.915 = 0.01 < 0.025 + 0.005: within the spread over seeds
    assert "lead over close (0.915 ± 0.005) is within the spread" in found.text
    assert "Diverged: wild" in found.text
    assert "Too slow" in found.text and "slow (accuracy 0.200)" in found.text
    assert "Failed: broken (ValueError: bad)" in found.text
    data = results.to_dict()
    assert data["verdict"]["winner"] == "good"
    assert [row["name"] for row in data["summary"]] == ["good", "close", "slow", "wild", "broken"]


def test_store_keeps_runs_and_refuses_other_settings(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.check_settings({"task": "toy", "epochs": 3}, ("task", "epochs"))
        store.put_run("a", 0, FAILED, error="boom")
        assert store.finished() == set()  # a failed run runs again
        store.put_run("a", 0, FINISHED, record={"x": [1.0, math.nan]})
        store.put_run("a", 1, FINISHED, record={"x": [2.0]})
        assert store.finished() == {("a", 0), ("a", 1)}
        assert store.runs()[0]["record"] == {"x": [1.0, None]}  # NaN stored as null
        with pytest.raises(ValueError, match="holds a comparison with epochs=3, not 5"):
            store.check_settings({"task": "toy", "epochs": 5}, ("task", "epochs"))
        store.add_strategy({"name": "a", "lr": 0.1}, None)
        store.add_strategy({"name": "a", "lr": 0.1}, {"lr": 0.1})
        with pytest.raises(ValueError, match="'a' is stored .* with another definition"):
            store.add_strategy({"name": "a", "lr": 0.2}, None)
    rows = sqlite3.connect(tmp_path / "compare.sqlite").execute("SELECT COUNT(*) FROM runs")
    assert rows.fetchone() == (2,)


def test_loading_a_directory_without_a_comparison_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no comparison here"):
        Results.load(tmp_path)
