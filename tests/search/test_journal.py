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

HELPERS = Path(search_objectives.__file__).parent  # on the workers' PYTHONPATH
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
        "--lr", "1e-4", "1", "--workers", "2", "--study-name", "resumable",
        "--out", str(out), "--no-progress", "--no-plots",
    ]  # fmt: skip


def _env(marks: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HELPERS), os.environ.get("PYTHONPATH", "")) if p)
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
    from lrkit.search.worker import owner, work_loop

    storage = str(tmp_path / "s.journal")
    search.create(
        "search_objectives:peak", space={"lr": (1e-3, 1e-1)}, sampler="log", n_trials=2,
        storage=storage, study_name="interrupted",
    )  # fmt: skip
    opened = open_storage(storage)
    study, config = join(opened, "interrupted")

    def interrupt(trial: search.SearchTrial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work_loop(study, interrupt, config, storage=opened)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and str(owner(failed[0])).split(":")[1] == str(os.getpid())
    (copy,) = [t for t in study.get_trials() if t.system_attrs.get("retry_history")]
    assert copy.state == TrialState.WAITING and copy.params == failed[0].params
    assert owner(copy) is None  # the claim it inherited names the failed trial, not this one

    assert work_loop(study, search_objectives.peak, config, storage=opened) == 2
    result = search.load_results(storage, "interrupted")
    assert result.counts() == {"fail": 1, "complete": 2, "done": 2}
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx([1e-3, 1e-1])
    assert result.trials[failed[0].number].retried_as == copy.number


def interruptible(trial: search.SearchTrial) -> float:
    """``search_objectives.peak``, interrupted at trial 3 while ``LRKIT_TEST_INTERRUPT`` is set."""
    if trial.number == 3 and os.environ.get("LRKIT_TEST_INTERRUPT"):
        raise KeyboardInterrupt
    return search_objectives.peak(trial)


def _journal_with_finished_trials(tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A journal of a 5-trial sweep interrupted after 3 trials; returns it and the settings."""
    journal = tmp_path / "search.journal"
    kwargs = {
        "space": {"lr": (1e-4, 1.0)}, "sampler": "log", "n_trials": 5,
        "storage": str(journal), "study_name": "torn", "progress": False,
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setenv("LRKIT_TEST_INTERRUPT", "1")
        search.run(interruptible, **kwargs)  # type: ignore[arg-type]
    return journal, kwargs


def test_a_torn_last_record_is_cut_with_a_backup_and_the_search_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, kwargs = _journal_with_finished_trials(tmp_path)
    before = search.load_results(str(journal), "torn")
    assert before.counts()["complete"] == 3
    whole = journal.read_bytes()
    record = whole[whole.rstrip(b"\n").rfind(b"\n") + 1 :]
    torn = whole + record[: len(record) // 2]  # the next record half written
    journal.write_bytes(torn)
    capsys.readouterr()

    result = search.run(interruptible, **kwargs)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    (backup,) = tmp_path.glob("search.journal.torn-*")
    assert backup.read_bytes() == torn
    assert err == (
        f"lrkit: {journal}: cut a torn last record ({len(record) // 2} bytes, left by a full "
        f"disk or a process killed mid-write); the original is kept as {backup}\n"
    )
    assert journal.read_bytes().startswith(whole)
    assert result.counts() == {"complete": 5, "fail": 1, "done": 5}
    kept = {t.number: t.score for t in before.complete}
    assert {t.number: t.score for t in result.complete if t.number in kept} == kept
    search.load_results(str(journal), "torn")
    assert len(list(tmp_path.glob("search.journal.torn-*"))) == 1  # nothing more to cut


def test_a_torn_requeue_is_cut_and_the_lost_trial_is_still_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, kwargs = _journal_with_finished_trials(tmp_path)
    whole = journal.read_bytes()
    start = whole.rstrip(b"\n").rfind(b"\n") + 1
    record = json.loads(whole[start:])
    assert record["op_code"] == 4  # CREATE_TRIAL: the copy of the interrupted trial
    assert record["system_attrs"]["retry_history"] == [3]
    journal.write_bytes(whole[: start + (len(whole) - start) // 2])  # torn mid-line
    capsys.readouterr()

    result = search.run(interruptible, **kwargs)  # type: ignore[arg-type]
    assert "cut a torn last record" in capsys.readouterr().err
    assert result.counts() == {"complete": 5, "fail": 1, "done": 5}
    (lost,) = [t for t in result.trials if t.state == "fail"]
    assert lost.number == 3 and lost.retried_as is not None
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx(LOG_POINTS)
    again = search.run(interruptible, **kwargs)  # type: ignore[arg-type]
    assert len(again.trials) == len(result.trials)  # queued once, not at every run


@pytest.mark.skipif(os.name != "posix", reason="flock")
@pytest.mark.timeout(60)
def test_the_journal_lock_keeps_other_processes_out_and_lets_its_holder_write(
    tmp_path: Path,
) -> None:
    import optuna

    from lrkit.search.journal import held
    from lrkit.search.storage import open_storage

    path = tmp_path / "s.journal"
    study = optuna.create_study(storage=open_storage(str(path)), study_name="locked")
    probe = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'a') as f:\n"
        "    try:\n"
        "        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        sys.exit(1)\n"
    )

    def free() -> bool:
        lock = f"{path}.flock"
        return subprocess.run([sys.executable, "-c", probe, lock], check=False).returncode == 0

    with held(path):
        study.set_user_attr("written", "under the lock")  # re-enters it: no deadlock
        with held(path):
            pass
        assert not free()
    assert free()
    assert optuna.load_study(study_name="locked", storage=open_storage(str(path))).user_attrs == {
        "written": "under the lock"
    }


def test_a_backup_never_overwrites_and_is_copied_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.search import journal as journals
    from lrkit.search.storage import open_storage

    path, _ = _journal_with_finished_trials(tmp_path)
    torn = path.read_bytes() + b'{"op_code":6,"worker_id":"w","tri'
    path.write_bytes(torn)
    taken = tmp_path / "search.journal.torn-STAMP"
    taken.write_text("someone else's file")
    monkeypatch.setattr(journals.time, "strftime", lambda *_: "STAMP")

    def no_links(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(journals.os, "link", no_links)
    open_storage(str(path))
    assert taken.read_text() == "someone else's file"
    assert (tmp_path / "search.journal.torn-STAMP-1").read_bytes() == torn
    assert path.read_bytes() == torn[: -len(b'{"op_code":6,"worker_id":"w","tri')]
    assert "cut a torn last record (33 bytes" in capsys.readouterr().err


def test_a_damaged_record_before_the_last_is_refused_naming_its_line(tmp_path: Path) -> None:
    from lrkit.search.storage import open_storage

    path, _ = _journal_with_finished_trials(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:40] + b"\n"
    damaged = b"".join(lines)
    path.write_bytes(damaged)
    with pytest.raises(ValueError) as caught:
        open_storage(str(path))
    message = str(caught.value)
    assert message.startswith(f"storage: {path}: line 3 is not a journal record (")
    assert f"head -n 2 {path} > {path}.kept && mv {path}.kept {path}" in message
    assert "\n" not in message
    assert path.read_bytes() == damaged and not list(tmp_path.glob("*.torn-*"))


def _peak_search(out: Path, n_trials: int) -> list[str]:
    """``lrkit search`` arguments: ``n_trials`` log-scale trials of ``search_objectives:peak``
    into ``out``, without progress bars or plots."""
    return [
        "search", "--task", "search_objectives:peak", "--no-progress", "--no-plots",
        "--sampler", "log", "--n-trials", str(n_trials), "--lr", "1e-4", "1", "--out", str(out),
    ]  # fmt: skip


def test_the_cli_repairs_a_torn_journal_and_refuses_a_damaged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import main

    out = tmp_path / "out"
    command = _peak_search(out, n_trials=3)
    assert main(command) == 0
    journal = out / "search.journal"
    journal.write_bytes(journal.read_bytes() + b'{"op_code":4,"worker_id"')
    capsys.readouterr()
    assert main(command) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "cut a torn last record (24 bytes" in captured.err
    assert "trials done: 3 of 3 (3 complete)" in captured.out

    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:1], b'{"op_code":\n', *lines[1:]])
    journal.write_bytes(damaged)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrkit: error: storage: {journal}: line 2 is not a journal record")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert journal.read_bytes() == damaged


@pytest.mark.slow
def test_workers_finish_the_study_when_one_is_killed_and_the_parent_says_so(
    tmp_path: Path,
) -> None:
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    command = [
        sys.executable, "-m", "lrkit.cli", "search",
        "--task", "search_objectives:steady", "--sampler", "log", "--n-trials", "6",
        "--lr", "1e-4", "1", "--workers", "2", "--heartbeat-interval", "1",
        "--out", str(out), "--no-progress", "--no-plots",
    ]  # fmt: skip
    parent = subprocess.Popen(
        command, env=_env(marks), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list(marks.glob("start-*")):
        assert parent.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    victim = int(next(marks.glob("start-*")).name.split("-")[2])
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = parent.communicate(timeout=180)

    assert parent.returncode == 3, stderr
    (line,) = stderr.strip().splitlines()
    assert (
        line.startswith("lrkit: warning: worker ")
        and f"(pid {victim}) was killed by SIGKILL" in line
    )
    assert "the other workers finished the study" in line
    data = json.loads((out / "search.json").read_text())
    complete = [t for t in data["trials"] if t["state"] == "complete"]
    assert sorted(t["params"]["lr"] for t in complete) == pytest.approx(
        [p["lr"] for p in Space(lr=(1e-4, 1.0)).log_sweep(6)]
    )
    (lost,) = [t for t in data["trials"] if t["state"] == "fail"]
    assert lost["retried_as"] is not None and lost["worker"].split(":")[1] == str(victim)
    assert not list(Path(f"{out / 'search.journal'}.workers").iterdir())  # locks cleaned up


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_overwrite_removes_the_workers_locks_with_the_journal_unless_one_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import main
    from lrkit.search.liveness import WorkerLocks

    out = tmp_path / "out"
    command = _peak_search(out, n_trials=2)
    assert main(command) == 0
    journal, folder = out / "search.journal", out / "search.journal.workers"
    assert folder.is_dir()
    (folder / "host_123_0123abcd").touch()  # the lock file of a worker killed long ago
    assert main([*command, "--overwrite"]) == 0
    assert not (folder / "host_123_0123abcd").exists()

    locks = WorkerLocks(journal)
    with locks.hold("host:456:89abcdef"):
        before = journal.read_bytes()
        capsys.readouterr()
        assert main([*command, "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"lrkit: error: a worker is still running on {journal} (it holds ")
        assert err.count("\n") == 1 and journal.read_bytes() == before

    (folder / "notes.txt").write_text("the user's")
    assert main([*command, "--overwrite"]) == 0
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.timeout(30)
def test_a_rerun_in_the_same_process_retries_a_trial_its_earlier_run_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lrkit.search import worker as workers

    kwargs = {
        "space": {"lr": (1e-4, 1.0)}, "sampler": "log", "n_trials": 4,
        "storage": str(tmp_path / "search.journal"), "study_name": "rerun", "progress": False,
    }  # fmt: skip
    tell = workers._Worker._tell
    told = []

    def interrupted_at_the_second(self: object, *args: object, **kw: object) -> object:
        told.append(args)
        if len(told) == 2:  # Ctrl-C lands while trial 1's outcome is recorded
            raise KeyboardInterrupt
        return tell(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(workers._Worker, "_tell", interrupted_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        search.run(search_objectives.peak, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(workers._Worker, "_tell", tell)
    assert search.load_results(kwargs["storage"], "rerun").counts()["running"] == 1  # type: ignore[arg-type]

    result = search.run(search_objectives.peak, **kwargs)  # type: ignore[arg-type]
    assert result.counts() == {"complete": 4, "fail": 1, "done": 4}
    assert sorted(t.params["lr"] for t in result.complete) == pytest.approx(
        [p["lr"] for p in Space(lr=(1e-4, 1.0)).log_sweep(4)]
    )
    assert search.run(search_objectives.peak, **kwargs).counts() == result.counts()


@pytest.mark.timeout(20)
def test_without_flock_a_journal_search_runs_on_optunas_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna.storages.journal import JournalFileOpenLock

    from lrkit.search import journal as journals

    monkeypatch.setattr(journals, "_journal_lock", JournalFileOpenLock)  # as on Windows
    path = tmp_path / "search.journal"
    result = search.run(
        "search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=3,
        storage=str(path), progress=False,
    )  # fmt: skip
    assert result.counts() == {"complete": 3, "done": 3}
    assert not Path(f"{path}.lock").exists()  # every lock taken was released


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_an_interrupted_trial_another_worker_already_requeued_is_not_queued_twice(
    tmp_path: Path,
) -> None:
    import optuna
    from optuna.trial import TrialState

    from lrkit.search.storage import open_storage
    from lrkit.search.study import join
    from lrkit.search.worker import work_loop

    storage = str(tmp_path / "s.journal")
    search.create(
        "search_objectives:peak", space={"lr": (1e-3, 1e-1)}, sampler="log", n_trials=2,
        storage=storage, study_name="twice",
    )  # fmt: skip
    opened = open_storage(storage)
    study, config = join(opened, "twice")
    other, _ = join(open_storage(storage), "twice")  # another worker's view

    def declared_lost_then_interrupted(trial: search.SearchTrial) -> float:
        (running,) = other.get_trials(states=(TrialState.RUNNING,))
        other.tell(running.number, state=TrialState.FAIL)  # the other worker fails it as lost
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        retry(other, other.get_trials()[running.number])  # and queues its copy
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work_loop(study, declared_lost_then_interrupted, config, storage=opened)
    copies = [t for t in study.get_trials() if t.system_attrs.get("retry_history")]
    assert len(copies) == 1 and copies[0].state == TrialState.WAITING
    assert work_loop(study, search_objectives.peak, config, storage=opened) == 2
    assert search.load_results(storage, "twice").counts() == {"fail": 1, "complete": 2, "done": 2}
