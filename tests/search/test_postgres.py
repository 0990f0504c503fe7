"""Searches on a real PostgreSQL server: several workers, one killed, nothing lost or doubled."""

from __future__ import annotations

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
from search_postgres import PostgresServer

HELPERS = Path(search_objectives.__file__).parent  # on the workers' PYTHONPATH
SPACE = {"lr": (1e-4, 1.0), "optimizer": ["sgd", "adam"]}
OBJECTIVES = ("slow", "steady", "peak")


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _worker_env(url: str, marks: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HELPERS), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "LRKIT_STORAGE": url,
        "LRKIT_TEST_MARKS": str(marks),
        "LRKIT_ALLOW_OBJECTIVES": ",".join(f"search_objectives:{f}" for f in OBJECTIVES),
        **extra,
    }


@pytest.mark.slow
def test_three_workers_one_killed_mid_trial(postgres_url: str, tmp_path: Path) -> None:
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
    command += ["--study-name", "three-workers", "--no-progress"]
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
    postgres_url: str,
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


def test_wrong_password_is_a_clear_error_without_the_password(postgres_url: str) -> None:
    wrong = "wrong-" + "x" * 12
    url = postgres_url.replace(postgres_url.split(":")[2].split("@")[0], wrong)
    with pytest.raises(ValueError, match="password authentication failed") as caught:
        search.run("search_objectives:peak", space={"lr": (1e-3, 1e-1)}, n_trials=1, storage=url)
    assert wrong not in str(caught.value)
    assert "lrkit:***@127.0.0.1" in str(caught.value)


def test_rerun_with_other_settings_is_refused(postgres_url: str) -> None:
    kwargs = {"space": {"lr": (1e-3, 1e-1)}, "storage": postgres_url, "study_name": "settled"}
    search.create("search_objectives:peak", n_trials=2, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="other settings \\(n_trials\\)"):
        search.create("search_objectives:peak", n_trials=3, **kwargs)  # type: ignore[arg-type]


def _start_workers(url: str, study: str, marks: Path, logs: Path, n: int, *extra: str) -> list:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "lrkit.cli", "search", "worker", "--study-name", study]
    command += ["--no-progress", *extra]
    return [
        subprocess.Popen(
            command,
            env=_worker_env(url, marks),
            stdout=(logs / f"worker{index}.out").open("w"),
            stderr=(logs / f"worker{index}.err").open("w"),
        )
        for index in range(n)
    ]


def _marks(marks: Path, kind: str) -> list[int]:
    return sorted(int(path.name.split("-")[1]) for path in marks.glob(f"{kind}-*"))


@pytest.mark.slow
@pytest.mark.parametrize("outage", [5.0, 1.9])
def test_workers_ride_out_the_server_going_away(
    postgres_server: PostgresServer,
    tmp_path: Path,
    outage: float,
) -> None:
    marks, logs = tmp_path / "marks", tmp_path / "logs"
    marks.mkdir()
    logs.mkdir()
    n_trials, study = 12, f"outage-{outage:g}"
    search.create(
        "search_objectives:steady", space=SPACE, sampler="grid", n_trials=n_trials,
        storage=postgres_server.url, study_name=study, heartbeat_interval=1,
    )  # fmt: skip
    workers = _start_workers(postgres_server.url, study, marks, logs, 3)
    _wait_for(lambda: len(_marks(marks, "done")) >= 2, 120, "two trials to finish")
    postgres_server.stop()
    stopped = time.monotonic()
    assert len(_marks(marks, "done")) < n_trials - 3  # trials were running, more were waiting
    time.sleep(outage)
    postgres_server.start()
    assert time.monotonic() - stopped >= outage
    codes = [worker.wait(timeout=240) for worker in workers]
    errors = "".join(path.read_text() for path in sorted(logs.glob("*.err")))
    assert codes == [0, 0, 0], errors
    assert "Traceback" not in errors and "Exception in thread" not in errors

    result = search.load_results(postgres_server.url, study)
    counts = result.counts()
    assert counts["complete"] == n_trials and counts["done"] == n_trials
    assert counts.get("waiting", 0) == counts.get("running", 0) == 0
    grid = Space.from_dict(SPACE).grid(n_trials)
    completed = sorted((t.params["lr"], t.params["optimizer"]) for t in result.complete)
    assert completed == sorted((p["lr"], p["optimizer"]) for p in grid)
    # Every result a worker computed was kept: no trial was finished twice or thrown away.
    assert _marks(marks, "done") == sorted(t.number for t in result.complete)
    if outage < 3:  # within the grace period (3 heartbeats): not a single trial was retried
        assert counts.get("fail", 0) == 0
        assert _marks(marks, "start") == list(range(n_trials))
    for trial in result.trials:
        if trial.state == "fail":  # a take whose answer was lost: retried, never run twice
            assert trial.retried_as is not None and trial.number not in _marks(marks, "done")


@pytest.mark.slow
def test_a_longer_outage_stops_the_worker_with_one_line_and_a_rerun_resumes(
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    marks, logs = tmp_path / "marks", tmp_path / "logs"
    marks.mkdir()
    logs.mkdir()
    search.create(
        "search_objectives:steady", space=SPACE, sampler="grid", n_trials=6,
        storage=postgres_server.url, study_name="long-outage", heartbeat_interval=1,
    )  # fmt: skip
    (worker,) = _start_workers(
        postgres_server.url, "long-outage", marks, logs, 1, "--storage-patience", "3"
    )
    _wait_for(lambda: len(_marks(marks, "done")) >= 1, 120, "a trial to finish")
    postgres_server.stop()
    try:
        assert worker.wait(timeout=60) == search.UNREACHABLE_STATUS
    finally:
        postgres_server.start()
    error = (logs / "worker0.err").read_text()
    assert error.count("\n") == 1, error
    assert error.startswith("lrkit: error: the storage postgresql+psycopg2://lrkit:***@127.0.0.1")
    assert "was unreachable for 3 s" in error
    assert "rerunning the same command resumes the search" in error
    password = postgres_server.url.split(":")[2].split("@")[0]
    assert password not in error

    (again,) = _start_workers(postgres_server.url, "long-outage", marks, logs, 1)
    assert again.wait(timeout=180) == 0, (logs / "worker0.err").read_text()
    counts = search.load_results(postgres_server.url, "long-outage").counts()
    assert counts["complete"] == 6 and counts.get("running", 0) == 0


def _die_in(storage: str, study: str, marks: Path, patch: str) -> None:
    """Run a worker process on ``study`` that kills itself where ``patch`` says."""
    script = (
        "import os, signal, sys\n"
        "import optuna\n"
        "from lrkit import search\n"
        "from lrkit.search import worker\n"
        "def killed(*args): os.kill(os.getpid(), signal.SIGKILL)\n"
        f"{patch} = killed\n"
        "search.work(sys.argv[1], sys.argv[2])\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, storage, study],
        env=_worker_env(storage, marks),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr


def _peak_study(
    request: pytest.FixtureRequest, tmp_path: Path, where: str, name: str
) -> tuple[str, str]:
    """A three-trial log-scale study ``NAME-WHERE`` of ``search_objectives:peak``, in a journal
    file or on the PostgreSQL server; returns its storage and name."""
    storage = (
        str(tmp_path / "s.journal")
        if where == "journal"
        else request.getfixturevalue("postgres_url")
    )
    study = f"{name}-{where}"
    search.create(
        "search_objectives:peak", space={"lr": (1e-3, 1e-1)}, sampler="log", n_trials=3,
        storage=storage, study_name=study, heartbeat_interval=1,
    )  # fmt: skip
    return storage, study


@pytest.mark.parametrize("where", ["journal", "postgresql"])
def test_a_trial_taken_by_a_worker_killed_before_claiming_it_is_retried_quickly(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    import optuna
    from optuna.trial import TrialState

    from lrkit.search.worker import owner

    storage, study = _peak_study(request, tmp_path, where, "unclaimed")
    _die_in(storage, study, tmp_path, "worker._Worker.run")  # took a trial, before claiming it
    opened = search.open_storage(storage, heartbeat_interval=1)
    (taken,) = optuna.load_study(study_name=study, storage=opened).get_trials(
        states=(TrialState.RUNNING,)
    )
    assert owner(taken) is None

    began = time.monotonic()
    assert search.work(storage, study, objective=search_objectives.peak) == 3
    elapsed = time.monotonic() - began
    assert elapsed < 15, f"the unclaimed trial waited {elapsed:.0f} s"  # 3 heartbeats, not 120 s
    result = search.load_results(storage, study)
    assert result.counts() == {"complete": 3, "fail": 1, "done": 3}
    lost = result.trials[taken.number]
    assert lost.state == "fail" and lost.retried_as is not None
    # The retry ran the point the lost trial was given (it never got to suggest it).
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx([1e-3, 1e-2, 1e-1])


@pytest.mark.parametrize("where", ["journal", "postgresql"])
def test_a_lost_trial_failed_but_never_queued_again_is_still_retried(
    request: pytest.FixtureRequest, tmp_path: Path, where: str
) -> None:
    storage, study = _peak_study(request, tmp_path, where, "unqueued")
    _die_in(storage, study, tmp_path, "worker._Worker._evaluate")  # leaves its trial running
    # The next worker fails that trial as lost, and dies (or loses the storage) before its copy
    # is queued: the retry callback is where Optuna queues it.
    _die_in(storage, study, tmp_path, "optuna.storages.RetryHeartbeatStaleTrialCallback.__call__")
    lost = [t for t in search.load_results(storage, study).trials if t.state == "fail"]
    assert len(lost) == 1 and lost[0].retried_as is None

    assert search.work(storage, study, objective=search_objectives.peak) >= 1
    result = search.load_results(storage, study)
    assert result.counts() == {"complete": 3, "fail": 1, "done": 3}
    assert result.trials[lost[0].number].retried_as is not None
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx([1e-3, 1e-2, 1e-1])


def test_workers_of_a_study_fail_and_requeue_trials_one_at_a_time(postgres_url: str) -> None:
    import sqlalchemy

    from lrkit.search.outage import Patience
    from lrkit.search.storage import exclusive

    lock = exclusive(postgres_url, "one-at-a-time", Patience("postgres"))
    other = exclusive(postgres_url, "another-study", Patience("postgres"))
    key = lock.key  # type: ignore[attr-defined]
    engine = sqlalchemy.create_engine(postgres_url, poolclass=sqlalchemy.pool.NullPool)

    def free() -> bool:
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT pg_try_advisory_lock(:key)")
            return bool(connection.execute(query, {"key": key}).scalar())  # released on close

    with lock():
        assert not free()
        with other():  # another study's workers are not held up
            pass
    assert free()
