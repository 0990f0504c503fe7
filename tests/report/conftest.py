"""Fixtures for the report tests: a real comparison and a real search, stored as ``lrkit
compare`` and ``lrkit search`` store them, with hostile names a report must escape.

``build_comparison(directory, epochs=2)`` and ``build_search(directory)`` are the builders;
``hostile_strategy``, ``hostile_study`` and ``hostile_optimizer`` the names they store.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from lrkit import search
from lrkit.compare import Strategy
from lrkit.compare.resolve import Context
from lrkit.compare.store import FAILED, FINISHED, Store
from lrkit.compare.train import train_run
from lrkit.search import SearchTrial

HOSTILE = '<img src=x onerror="alert(1)"> & co'
HOSTILE_STUDY = '<img src=x onerror="alert(1)"> & study'
HOSTILE_OPTIMIZER = "<b>adam</b>"


def _build_comparison(directory: Path, epochs: int = 2) -> Path:
    """A small real comparison (trained in this process) stored the way ``compare`` does,
    with a hostile strategy name and a failed run."""
    strategies = [
        Strategy("adam 0.01", "adam", 0.01),
        Strategy(
            HOSTILE,
            "momentum",
            schedule={"name": "cosine", "lr": 0.05, "total_steps": "budget", "unit": "step"},
        ),
        Strategy("adam 1e-07", "adam", 1e-7),
    ]
    with Store(directory) as store:
        store.check_settings(
            {
                "task": "digits-cnn",
                "epochs": epochs,
                "batch_size": None,
                "metric": "accuracy",
                "steps_per_epoch": 23,
                "seeds": [0],
            },
            ("task", "epochs"),
        )
        for strategy in strategies:
            resolved = strategy.resolve(Context(epochs, 23))
            store.add_strategy(strategy.to_dict(), resolved)
            record = train_run(resolved, task="digits-cnn", seed=0, epochs=epochs)
            store.put_run(strategy.name, 0, FINISHED, record=record)
        store.add_strategy({"name": "broken", "optimizer": "adam", "lr": 0.1}, None)
        store.put_run("broken", 0, FAILED, error="Traceback\nRuntimeError: <script>boom</script>")
    return directory


def hostile(trial: SearchTrial) -> float:
    """``-(log10 lr + 2)^2`` (plus 0.5 for the hostile optimizer); raises above lr 0.5."""
    lr = trial.params["lr"]
    if lr > 0.5:
        raise RuntimeError(f"<script>boom</script> at lr {lr:g}")
    score = -((math.log10(lr) + 2.0) ** 2) + (0.5 if trial.params["optimizer"] != "sgd" else 0)
    for step in (1, 2):
        trial.report(score - 1.0 / step, step)
    return score


def _build_search(directory: Path) -> Path:
    """A real 6-trial grid search (3 learning rates × 2 optimizers, two trials failing) with
    a hostile study name, optimizer name and error message, stored as ``lrkit search`` does."""
    directory.mkdir(parents=True, exist_ok=True)
    result = search.run(
        hostile,
        space={"lr": (1e-4, 1.0), "optimizer": ["sgd", HOSTILE_OPTIMIZER]},
        sampler="grid",
        n_trials=6,
        study_name=HOSTILE_STUDY,
        progress=False,
    )
    result.to_json(directory / "search.json")
    return directory


@pytest.fixture(scope="session")
def build_comparison() -> Callable[..., Path]:
    """``build_comparison(directory, epochs=2)``: a small real comparison in ``directory``."""
    return _build_comparison


@pytest.fixture(scope="session")
def build_search() -> Callable[[Path], Path]:
    """``build_search(directory)``: a real 6-trial grid search in ``directory``."""
    return _build_search


@pytest.fixture(scope="session")
def hostile_strategy() -> str:
    """The strategy name :func:`build_comparison` stores, markup a report must escape."""
    return HOSTILE


@pytest.fixture(scope="session")
def hostile_study() -> str:
    """The study name :func:`build_search` stores."""
    return HOSTILE_STUDY


@pytest.fixture(scope="session")
def hostile_optimizer() -> str:
    """The optimizer name :func:`build_search` searches besides ``sgd``."""
    return HOSTILE_OPTIMIZER
