"""Comparisons saved before two renames still work: a strategy's ``plan`` is now its
``resolved`` (the strategy with its values resolved to numbers), and ``compare``'s
``range_test=`` (range-test settings) is now ``range_test_settings=``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lrkit.compare import Results, Strategy, compare
from lrkit.compare.api import RANGE_TEST_DEFAULTS
from lrkit.compare.store import FILENAME, Store

#: The schema of a store written before the rename, as it was.
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE strategies (
    name TEXT PRIMARY KEY, position INTEGER NOT NULL, definition TEXT NOT NULL, plan TEXT
);
CREATE TABLE range_tests (key TEXT PRIMARY KEY, result TEXT, error TEXT);
CREATE TABLE runs (
    strategy TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
    record TEXT, error TEXT, finished_at REAL NOT NULL, PRIMARY KEY (strategy, seed)
);
"""

STRATEGY = Strategy("adam 0.01", "adam", 0.01)
RESOLVED = {
    "name": "adam 0.01",
    "optimizer": "adam",
    "optimizer_params": {},
    "lr": 0.01,
    "schedule": None,
    "cycle_momentum": None,
}
SWEEP = dict(RANGE_TEST_DEFAULTS)
OLD_SETTINGS = {
    "task": "tabular-mlp",
    "epochs": 1,
    "batch_size": None,
    "range_test": SWEEP,
    "metric": "accuracy",
    "steps_per_epoch": 15,
    "seeds": [0],
    "lrkit_version": "0.1.0",
}
#: A finished run of seed 0 (made by hand: a resumed comparison must not train it again).
RECORD = {
    "metric": "accuracy",
    "steps_per_epoch": 15,
    "epochs": [0, 1],
    "train_loss": [2.0, 1.0],
    "train_score": [0.2, 0.7],
    "val_loss": [2.0, 1.1],
    "val_score": [0.2, 0.6],
    "running_loss": [None, 1.2],
    "train_seconds": [0.0, 0.5],
    "peak_loss": 2.1,
    "nonfinite": False,
    "lr": {"steps": list(range(15)), "values": [0.01] * 15},
}


def old_store(directory: Path) -> Path:
    """A comparison directory whose store has the old ``plan`` column and ``range_test`` key."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAME
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [(key, json.dumps(value)) for key, value in OLD_SETTINGS.items()],
        )
        db.execute(
            "INSERT INTO strategies (name, position, definition, plan) VALUES (?, 0, ?, ?)",
            (STRATEGY.name, json.dumps(STRATEGY.to_dict()), json.dumps(RESOLVED)),
        )
        db.execute(
            "INSERT INTO runs (strategy, seed, status, record, error, finished_at)"
            " VALUES (?, 0, 'finished', ?, NULL, 0.0)",
            (STRATEGY.name, json.dumps(RECORD)),
        )
    db.close()
    return path


def columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        found = [row[1] for row in db.execute("PRAGMA table_info(strategies)")]
    db.close()
    return found


def meta_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        found = {key for (key,) in db.execute("SELECT key FROM meta")}
    db.close()
    return found


def test_a_new_store_has_the_resolved_column(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_strategy(STRATEGY.to_dict(), RESOLVED)
        assert store.strategies() == [{"definition": STRATEGY.to_dict(), "resolved": RESOLVED}]
    assert columns(tmp_path / FILENAME) == ["name", "position", "definition", "resolved"]


def test_an_old_store_reads_in_the_new_names_without_being_changed(tmp_path: Path) -> None:
    path = old_store(tmp_path)
    results = Results.load(tmp_path)  # read only: a reader never writes
    assert results.strategies == [{"definition": STRATEGY.to_dict(), "resolved": RESOLVED}]
    assert results.settings["range_test_settings"] == SWEEP
    assert "range_test" not in results.settings
    (row,) = results.summary()
    assert row.lr == 0.01 and row.final_score is not None and row.final_score.mean == 0.6
    assert results.to_dict()["strategies"][0]["resolved"] == RESOLVED
    assert "plan" in columns(path) and "range_test" in meta_keys(path)


def test_opening_an_old_store_renames_its_column_and_setting_in_place(tmp_path: Path) -> None:
    path = old_store(tmp_path)
    with Store(tmp_path) as store:
        assert store.strategies() == [{"definition": STRATEGY.to_dict(), "resolved": RESOLVED}]
        assert store.settings()["range_test_settings"] == SWEEP
    assert columns(path) == ["name", "position", "definition", "resolved"]
    assert "range_test_settings" in meta_keys(path) and "range_test" not in meta_keys(path)
    with Store(tmp_path) as store:  # a second open finds nothing to rename
        assert store.strategies()[0]["resolved"] == RESOLVED
        assert [run["record"] for run in store.runs()] == [RECORD]


def test_the_renames_are_one_transaction(tmp_path: Path) -> None:
    """A store whose ``meta`` cannot be changed keeps its old column too."""
    path = old_store(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER frozen BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'frozen'); END"
        )
    db.close()
    with pytest.raises(ValueError, match="frozen"):
        Store(tmp_path)
    assert "plan" in columns(path) and "resolved" not in columns(path)
    assert "range_test" in meta_keys(path)


def test_an_old_comparison_resumes_and_trains_only_the_new_seed(tmp_path: Path) -> None:
    path = old_store(tmp_path)
    other = {**SWEEP, "num_steps": 50}
    with pytest.raises(
        ValueError, match=r"with range_test_settings=\{.*\}, not \{.*'num_steps': 50"
    ):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, epochs=1, range_test_settings=other)
    with (
        pytest.warns(DeprecationWarning, match="'range_test_settings'"),
        pytest.raises(ValueError, match=r"with range_test=\{"),
    ):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, epochs=1, range_test=other)
    results = compare("tabular-mlp", [STRATEGY], out=tmp_path, epochs=1, seeds=2, progress=False)
    assert [run["seed"] for run in results.runs] == [0, 1]
    assert results.runs[0]["record"] == RECORD  # seed 0 was not trained again
    assert results.runs[1]["status"] == "finished"
    assert results.strategies == [{"definition": STRATEGY.to_dict(), "resolved": RESOLVED}]
    assert results.settings["range_test_settings"] == SWEEP
    assert results.settings["seeds"] == [0, 1]
    assert "plan" not in columns(path) and "range_test" not in meta_keys(path)


def test_an_old_results_json_loads(tmp_path: Path) -> None:
    """``results.json`` saved before the rename: its strategies' ``plan`` and its settings'
    ``range_test`` read as ``resolved`` and ``range_test_settings``."""
    saved: dict[str, Any] = json.loads(
        json.dumps(
            {
                "settings": OLD_SETTINGS,
                "strategies": [{"definition": STRATEGY.to_dict(), "plan": RESOLVED}],
                "range_tests": {},
                "runs": [
                    {
                        "strategy": STRATEGY.name,
                        "seed": 0,
                        "status": "finished",
                        "record": RECORD,
                        "error": None,
                        "finished_at": 0.0,
                    }
                ],
            }
        )
    )
    keys = ("settings", "strategies", "range_tests", "runs")
    results = Results(tmp_path, **{key: saved[key] for key in keys})
    assert results.strategies == [{"definition": STRATEGY.to_dict(), "resolved": RESOLVED}]
    assert results.settings["range_test_settings"] == SWEEP and "range_test" not in results.settings
    assert results.summary()[0].lr == 0.01
    again = results.to_dict()
    assert again["strategies"][0]["resolved"] == RESOLVED and "plan" not in again["strategies"][0]


def test_range_test_keyword_warns_and_errors_name_the_argument_passed(tmp_path: Path) -> None:
    with (
        pytest.warns(
            DeprecationWarning, match="'range_test' is now called 'range_test_settings'"
        ) as caught,
        pytest.raises(ValueError, match=r"^range_test\.num_steps: must be >= 2"),
    ):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, range_test={"num_steps": 1})
    assert caught[0].filename == __file__
    with pytest.raises(ValueError, match=r"^range_test_settings\.num_steps: must be >= 2"):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, range_test_settings={"num_steps": 1})
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match=r"^range_test: must be"):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, range_test=200)
    with pytest.raises(TypeError, match="give only range_test_settings"):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, range_test={}, range_test_settings={})
    with pytest.raises(TypeError, match="unexpected keyword argument 'range_tests'"):
        compare("tabular-mlp", [STRATEGY], out=tmp_path, range_tests={})
