"""Objectives for the search tests: cheap, deterministic functions of the learning rate.

Worker processes import them as ``search_objectives:NAME``, with ``tests/helpers/`` on the
path (pytest's ``pythonpath`` in pyproject.toml; the tests put it on subprocesses' PYTHONPATH).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from lrkit.search import SearchTrial


def peak(trial: SearchTrial) -> float:
    """Best at lr = 1e-2: ``-(log10 lr + 2)^2``, approached over three reported steps."""
    target = 0.0 - (math.log10(trial.params["lr"]) + 2.0) ** 2
    score = target
    for step in (1, 2, 3):
        score = target - 1.0 / step
        trial.report(score, step)
    return target


def paired(trial: SearchTrial) -> float:
    """:func:`peak` once two processes have each started a trial (``pid-PID`` files under
    ``LRKIT_TEST_MARKS``; gives up waiting after 120 s), so that a test of two workers sees
    both at work however long the second one takes to start. Leaves ``done-N-PID`` behind."""
    marks = Path(os.environ["LRKIT_TEST_MARKS"])
    (marks / f"pid-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(marks.glob("pid-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    value = peak(trial)
    (marks / f"done-{trial.number}-{os.getpid()}").touch()
    return value


def slow(trial: SearchTrial) -> float:
    """:func:`peak` taking ~0.3 s, leaving ``start-N-PID`` / ``done-N-PID`` files behind.

    With ``LRKIT_TEST_HANG_AFTER=k`` a process hangs in its (k+1)-th trial, so a test can
    kill it mid-trial.
    """
    marks = Path(os.environ["LRKIT_TEST_MARKS"])
    pid = os.getpid()
    started = len(list(marks.glob(f"start-*-{pid}")))
    (marks / f"start-{trial.number}-{pid}").touch()
    hang_after = os.environ.get("LRKIT_TEST_HANG_AFTER")
    if hang_after is not None and started >= int(hang_after):
        time.sleep(600)
    for step in (1, 2, 3):
        time.sleep(0.1)
        trial.report(-float(step), step)
    (marks / f"done-{trial.number}-{pid}").touch()
    return -((math.log10(trial.params["lr"]) + 2.0) ** 2)


def fragile(trial: SearchTrial) -> float:
    """Raises for lr > 0.1 (a bug in the user's code), returns NaN for lr < 1e-4."""
    lr = trial.params["lr"]
    if lr > 0.1:
        raise RuntimeError(f"exploded at lr {lr:g}")
    if lr < 1e-4:
        return math.nan
    return -((math.log10(lr) + 2.0) ** 2)


def two_knobs(trial: SearchTrial) -> float:
    """Best at lr = 1e-2 and ``width`` = 3, which the objective asks Optuna for itself:
    ``-(log10 lr + 2)^2 - (width - 3)^2 / 100``; ``weight_decay`` (from the space, if there)
    hardly matters: ``- weight_decay``."""
    width = trial.suggest_int("width", 1, 5)
    lr = trial.params["lr"]
    return (
        -((math.log10(lr) + 2.0) ** 2)
        - (width - 3) ** 2 / 100
        - trial.params.get("weight_decay", 0.0)
    )


two_knobs.metric = "val_accuracy"  # type: ignore[attr-defined]


def steady(trial: SearchTrial) -> float:
    """:func:`slow` taking ~1 s in four reported steps, so that a test can take the storage
    away while trials are running."""
    marks = Path(os.environ["LRKIT_TEST_MARKS"])
    pid = os.getpid()
    (marks / f"start-{trial.number}-{pid}").touch()
    for step in (1, 2, 3, 4):
        time.sleep(0.25)
        trial.report(-float(step), step)
    (marks / f"done-{trial.number}-{pid}").touch()
    return -((math.log10(trial.params["lr"]) + 2.0) ** 2)


def exits_at_1e_2(trial: SearchTrial) -> float:
    """:func:`peak`, except that it calls ``sys.exit(3)`` at lr = 1e-2."""
    if abs(math.log10(trial.params["lr"]) + 2) < 1e-9:
        sys.exit(3)
    return peak(trial)
