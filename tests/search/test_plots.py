"""Pictures of a search: score against learning rate, and parallel coordinates."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrkit.search import SearchResult, TrialRecord, plot_score_vs_lr, save_plots

CONFIG = {
    "space": {"lr": [1e-4, 1.0], "optimizer": ["sgd", "adam"]},
    "direction": "maximize",
    "metric": "accuracy",
    "n_trials": 4,
}


def _result() -> SearchResult:
    trials = [
        TrialRecord(0, "complete", {"lr": 1e-3, "optimizer": "sgd"}, 0.4, {1: 0.3, 2: 0.4}),
        TrialRecord(1, "complete", {"lr": 1e-2, "optimizer": "adam"}, 0.9, {1: 0.8, 2: 0.9}),
        TrialRecord(2, "pruned", {"lr": 0.5, "optimizer": "adam"}, None, {1: 0.1}),
        TrialRecord(3, "fail", {"lr": 1e-4, "optimizer": "sgd"}, None, {}, retried_as=4),
        TrialRecord(4, "complete", {"lr": 1e-4, "optimizer": "sgd"}, 0.2, {1: 0.1, 2: 0.2}),
    ]
    return SearchResult("plotted", CONFIG, trials)


def test_score_vs_lr_marks_best_and_draws_pruned_at_their_last_score() -> None:
    ax = plot_score_vs_lr(_result())
    assert ax.get_xscale() == "log"
    assert "best lr 0.01 (accuracy 0.9)" in ax.get_title()
    points = {
        label: [tuple(xy) for xy in collection.get_offsets()]
        for collection, label in zip(ax.collections, ax.get_legend_handles_labels()[1], strict=True)
    }
    assert points["adam (pruned)"] == [(0.5, 0.1)]
    assert points["best: lr 0.01"] == [(1e-2, 0.9)]
    assert sorted(points["sgd (complete)"]) == [(1e-4, 0.2), (1e-3, 0.4)]


def test_save_plots_adds_parallel_coordinates_for_several_parameters(tmp_path: Path) -> None:
    written = save_plots(_result(), tmp_path)
    assert [p.name for p in written] == ["search_score_vs_lr.png", "search_parallel.png"]
    assert all(p.stat().st_size > 10_000 for p in written)


def test_counts_leave_out_trials_that_were_rerun() -> None:
    result = _result()
    assert result.counts() == {"complete": 3, "pruned": 1, "fail": 1, "done": 4}
    assert result.best_lr == pytest.approx(1e-2)
    assert [row["trial"] for row in result.table()] == [1, 0, 4, 2, 3]
