"""Searches on a real PostgreSQL server: several workers, one killed, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrkit import search
from lrkit.search import Space
from search_postgres import postgres_url  # noqa: F401  (session fixture)

TESTS = Path(__file__).parent
SPACE = {"lr": (1e-4, 1.0), "optimizer": ["sgd", "adam"]}


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _worker_env(url: str, marks: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "LRKIT_STORAGE": url,
        "LRKIT_TEST_MARKS": str(marks),
        **extra,
    }


@pytest.mark.slow
def test_three_workers_one_killed_mid_trial(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    marks = tmp_path / "marks"
    marks.mkdir()
    n_trials = 12  # 6 learning rates x 2 optimizers
    search.create(
        "search_objectives:slow",
        space=SPACE,
        sampler="grid",
        n_trials=n_trials,
        storage=postgres_url,
        study_name="three-workers",
        heartbeat_interval=1,
    )
    command = [sys.executable, "-m", "lrkit.cli", "search", "worker"]
    command += ["--study", "three-workers", "--no-progress"]
    workers = []
    for index in range(3):
        extra = {"LRKIT_TEST_HANG_AFTER": "1"} if index == 0 else {}
        log = (tmp_path / f"worker{index}.log").open("w")
        workers.append(
            subprocess.Popen(
                command,
                env=_worker_env(postgres_url, marks, **extra),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    victim = workers[0]
    _wait_for(
        lambda: len(list(marks.glob(f"start-*-{victim.pid}"))) == 2,
        120,
        "the first worker to start its second trial",
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for worker in workers[1:]:
        assert worker.wait(timeout=180) == 0

    result = search.load_results(postgres_url, "three-workers")
    by_number = {t.number: t for t in result.trials}
    counts = result.counts()
    assert counts["done"] == n_trials
    assert counts["complete"] == n_trials
    assert counts.get("waiting", 0) == counts.get("running", 0) == 0

    # Each grid point was evaluated to completion exactly once.
    grid = Space.from_dict(SPACE).grid(n_trials)
    completed = sorted((t.params["lr"], t.params["optimizer"]) for t in result.complete)
    assert completed == sorted((p["lr"], p["optimizer"]) for p in grid)

    # The trial the victim was running failed and was re-run, with the same point.
    first, second = sorted(
        int(path.name.split("-")[1]) for path in marks.glob(f"start-*-{victim.pid}")
    )
    lost = by_number[second]
    assert lost.state == "fail" and lost.retried_as is not None
    retry = by_number[lost.retried_as]
    assert retry.state == "complete" and retry.retry_of == second
    assert retry.params == lost.params
    assert counts["fail"] == 1

    # No finished trial was lost: every trial a worker finished is complete in the study,
    # including the one the victim finished before it was killed.
    finished = [int(path.name.split("-")[1]) for path in marks.glob("done-*")]
    assert first in finished
    assert sorted(finished) == sorted(t.number for t in result.complete)

    # Workers showed where they worked without the password.
    password = postgres_url.split(":")[2].split("@")[0]
    for index in range(3):
        text = (tmp_path / f"worker{index}.log").read_text()
        assert password not in text
        if index > 0:
            assert "lrkit:***@127.0.0.1" in text


def test_run_with_two_processes_on_postgres(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LRKIT_TEST_MARKS", str(tmp_path))
    result = search.run(
        "search_objectives:paired",
        space={"lr": (1e-4, 1.0)},
        sampler="log",
        n_trials=5,
        storage=postgres_url,
        study_name="two-processes",
        workers=2,
        progress=False,
    )
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx(
        [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    )
    assert result.best_lr == pytest.approx(1e-2)
    assert len({t.worker for t in result.trials}) == 2
    assert "***" in result.storage and postgres_url.split("@")[0] not in result.storage


def test_wrong_password_is_a_clear_error_without_the_password(postgres_url: str) -> None:  # noqa: F811
    wrong = "wrong-" + "x" * 12
    url = postgres_url.replace(postgres_url.split(":")[2].split("@")[0], wrong)
    with pytest.raises(ValueError, match="password authentication failed") as caught:
        search.run("search_objectives:peak", space={"lr": (1e-3, 1e-1)}, n_trials=1, storage=url)
    assert wrong not in str(caught.value)
    assert "lrkit:***@127.0.0.1" in str(caught.value)


def test_rerun_with_other_settings_is_refused(postgres_url: str) -> None:  # noqa: F811
    kwargs = {"space": {"lr": (1e-3, 1e-1)}, "storage": postgres_url, "study_name": "settled"}
    search.create("search_objectives:peak", n_trials=2, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="other settings \\(n_trials\\)"):
        search.create("search_objectives:peak", n_trials=3, **kwargs)  # type: ignore[arg-type]
