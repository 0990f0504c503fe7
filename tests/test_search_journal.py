"""Searches in a journal file: several processes on one machine, interrupted and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import search_objectives
from lrkit import search
from lrkit.search import Space

TESTS = Path(__file__).parent
LOG_POINTS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def test_two_processes_share_a_journal_and_run_each_point_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRKIT_TEST_MARKS", str(tmp_path))
    result = search.run(
        "search_objectives:paired",
        space={"lr": (1e-4, 1.0), "optimizer": ["sgd", "adam"]},
        sampler="grid",
        n_trials=10,
        storage=str(tmp_path / "search.journal"),
        study_name="shared",
        workers=2,
        progress=False,
    )
    points = sorted((t.params["lr"], t.params["optimizer"]) for t in result.complete)
    assert points == sorted((lr, opt) for lr in LOG_POINTS for opt in ("sgd", "adam"))
    assert result.counts() == {"complete": 10, "done": 10}
    assert len({t.worker for t in result.trials}) == 2
    assert result.best_lr == pytest.approx(1e-2)
    assert len(list(tmp_path.glob("done-*"))) == 10
    assert result.storage == str(tmp_path / "search.journal")


def test_rerun_of_a_finished_study_runs_nothing_new(tmp_path: Path) -> None:
    kwargs = {
        "space": {"lr": (1e-4, 1.0)},
        "sampler": "tpe",
        "n_trials": 4,
        "storage": str(tmp_path / "search.journal"),
        "progress": False,
    }
    first = search.run("search_objectives:peak", **kwargs)  # type: ignore[arg-type]
    again = search.run("search_objectives:peak", **kwargs)  # type: ignore[arg-type]
    assert again.study_name == first.study_name
    assert [t.params for t in again.trials] == [t.params for t in first.trials]
    assert again.counts()["done"] == 4


def test_changed_settings_need_a_new_study_name(tmp_path: Path) -> None:
    kwargs = {"storage": str(tmp_path / "s.journal"), "study_name": "fixed", "progress": False}
    search.run("search_objectives:peak", space={"lr": (1e-3, 1e-1)}, n_trials=1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already exists .* other settings \\(space\\)"):
        search.run("search_objectives:peak", space={"lr": (1e-4, 1e-1)}, n_trials=1, **kwargs)  # type: ignore[arg-type]


def _command(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "lrkit.cli", "search",
        "--task", "search_objectives:slow", "--sampler", "log", "--n-trials", "8",
        "--lr", "1e-4", "1", "--workers", "2", "--study", "resumable",
        "--out", str(out), "--no-progress", "--no-plots",
    ]  # fmt: skip


def _env(marks: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "LRKIT_TEST_MARKS": str(marks)}


def _interrupt_then_resume(tmp_path: Path, sig: signal.Signals) -> tuple[set[int], dict]:  # type: ignore[type-arg]
    """Run the command, send ``sig`` to its process group mid-search, rerun it; returns the
    trials finished before the interruption and the final search.json."""
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    first = subprocess.Popen(
        _command(out), env=_env(marks), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(marks.glob("done-*"))) < 3:
        assert first.poll() is None and time.monotonic() < deadline, first.stdout
        time.sleep(0.05)
    os.killpg(first.pid, sig)
    first.wait(timeout=60)
    assert first.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    finished = {int(path.name.split("-")[1]) for path in marks.glob("done-*")}
    assert not (out / "search.json").exists()

    interrupted = search.load_results(str(out / "search.journal"), "resumable")
    assert 3 <= interrupted.counts()["complete"] < 8

    second = subprocess.run(
        _command(out), env=_env(marks), capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    return finished, json.loads((out / "search.json").read_text())


def _check_resumed(finished: set[int], data: dict) -> None:  # type: ignore[type-arg]
    complete = [t for t in data["trials"] if t["state"] == "complete"]
    assert data["counts"]["done"] == 8 and len(complete) == 8
    expected = Space(lr=(1e-4, 1.0)).log_sweep(8)
    assert sorted(t["params"]["lr"] for t in complete) == [p["lr"] for p in expected]
    # Trials finished before the interruption were kept, not re-run.
    assert finished <= {t["number"] for t in complete}
    for trial in data["trials"]:
        if trial["state"] == "fail":
            assert trial["retried_as"] is not None


@pytest.mark.slow
def test_interrupted_search_resumes_when_the_command_is_rerun(tmp_path: Path) -> None:
    finished, data = _interrupt_then_resume(tmp_path, signal.SIGINT)
    _check_resumed(finished, data)


@pytest.mark.slow
def test_killed_search_resumes_and_reruns_the_lost_trials(tmp_path: Path) -> None:
    finished, data = _interrupt_then_resume(tmp_path, signal.SIGKILL)
    _check_resumed(finished, data)
    lost = [t for t in data["trials"] if t["state"] == "fail"]
    assert lost, "both workers were mid-trial when killed, so their trials were re-run"


def test_an_interrupted_trial_is_requeued_with_its_point_and_no_owner(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    from lrkit.search.storage import open_storage
    from lrkit.search.study import join
    from lrkit.search.worker import owner, work_loop, worker_id

    storage = str(tmp_path / "s.journal")
    search.create(
        "search_objectives:peak", space={"lr": (1e-3, 1e-1)}, sampler="log", n_trials=2,
        storage=storage, study_name="interrupted",
    )  # fmt: skip
    study, config = join(open_storage(storage), "interrupted")

    def interrupt(trial: search.SearchTrial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work_loop(study, interrupt, config)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and owner(failed[0]) == worker_id()
    (copy,) = [t for t in study.get_trials() if t.system_attrs.get("retry_history")]
    assert copy.state == TrialState.WAITING and copy.params == failed[0].params
    assert owner(copy) is None  # the claim it inherited names the failed trial, not this one

    assert work_loop(study, search_objectives.peak, config) == 2
    result = search.load_results(storage, "interrupted")
    assert result.counts() == {"fail": 1, "complete": 2, "done": 2}
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx([1e-3, 1e-1])
    assert result.trials[failed[0].number].retried_as == copy.number
