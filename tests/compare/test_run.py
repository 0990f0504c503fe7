"""Real comparisons on digits-cnn: the seed's fixed-LR pattern, schedules driving the
optimizer, range-test values, and resuming after the comparison is killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from lrkit import schedules, tasks
from lrkit.compare import Results, Strategy, compare
from lrkit.compare.resolve import Context
from lrkit.compare.train import train_run
from lrkit.probe import ProbeResult, probe_candidates, probe_steps
from lrkit.rangetest import RangeTestResult

EPOCHS = 4
STEPS = 23  # digits-cnn: 1,437 training images in batches of 64


@pytest.fixture(scope="module")
def fixed_lrs(tmp_path_factory: pytest.TempPathFactory) -> Results:
    out = tmp_path_factory.mktemp("fixed-lrs")
    return compare("digits-cnn", ["fixed-lrs"], out=out, epochs=EPOCHS, jobs=2, progress=False)


def final(results: Results) -> dict[str, float]:
    return {r.name: r.final_score.mean for r in results.summary() if r.final_score is not None}


@pytest.mark.slow
def test_fixed_lrs_show_the_seeds_pattern(fixed_lrs: Results) -> None:
    scores = final(fixed_lrs)
    assert set(scores) == {"adam 0.5", "adam 0.01", "adam 0.001", "adam 1e-05", "adam 1e-07"}
    best = max(scores.values())
    assert scores["adam 0.5"] <= 0.2  # overshoots: chance accuracy is 0.1
    assert scores["adam 1e-07"] <= best - 0.5  # far behind
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    assert "adam 0.001" in ranked[:2]  # among the best
    found = fixed_lrs.verdict()
    assert found.winner in ("adam 0.01", "adam 0.001")
    assert "adam 0.5" in found.diverged
    assert "adam 1e-07" in found.too_slow


@pytest.mark.slow
def test_a_worker_run_equals_the_same_run_in_this_process(fixed_lrs: Results) -> None:
    stored = next(r for r in fixed_lrs.runs if r["strategy"] == "adam 0.01")["record"]
    resolved = next(
        s["resolved"] for s in fixed_lrs.strategies if s["definition"]["name"] == "adam 0.01"
    )
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // 2))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        here = train_run(resolved, task="digits-cnn", seed=0, epochs=EPOCHS)
    finally:
        torch.set_num_threads(before)
    assert here["val_score"] == stored["val_score"]
    assert here["val_loss"] == pytest.approx(stored["val_loss"], rel=1e-9)
    assert len(stored["lr"]["values"]) == EPOCHS * STEPS
    assert set(stored["lr"]["values"]) == {0.01}


def resolved_of(spec: dict[str, Any], optimizer: str = "adam", **kw: Any) -> dict[str, Any]:
    return Strategy("s", optimizer, schedule=spec, **kw).resolve(Context(2, STEPS))


def test_epoch_schedules_step_once_per_epoch_and_step_schedules_every_batch() -> None:
    by_epoch = resolved_of({"name": "step_decay", "lr": 0.01, "decay_steps": 1, "gamma": 0.5})
    record = train_run(by_epoch, task="digits-cnn", seed=0, epochs=2)
    assert record["lr"]["values"] == [0.01] * STEPS + [0.005] * STEPS
    spec = {"name": "triangular", "unit": "step", "floor": 1e-3, "lr": 1e-2, "up_steps": 10}
    record = train_run(
        resolved_of(spec, "momentum", cycle_momentum=(0.85, 0.95)),
        task="digits-cnn",
        seed=0,
        epochs=2,
    )
    expected = schedules.triangular(floor=1e-3, lr=1e-2, up_steps=10)
    assert record["lr"]["steps"] == list(range(2 * STEPS))
    assert record["lr"]["values"] == pytest.approx([expected(i) for i in range(2 * STEPS)])
    assert record["epochs"] == [0, 1, 2]
    assert record["val_score"][-1] > record["val_score"][0]


@pytest.mark.parametrize("optimizer", ["prodigy", "schedulefree_adamw"])
def test_optional_optimizers_train_when_installed(optimizer: str) -> None:
    from lrkit.torch import optimizers

    if not optimizers.installed(optimizer):
        pytest.skip(f"{optimizers.EXTERNAL[optimizer][2]} is not installed")
    lr = 1.0 if optimizer == "prodigy" else 0.0025
    resolved = Strategy("s", optimizer, lr).resolve(Context(2, STEPS))
    record = train_run(resolved, task="digits-cnn", seed=0, epochs=2)
    assert record["val_score"][-1] > 0.5 > record["val_score"][0]


@pytest.mark.slow
def test_found_comes_from_a_stored_range_test_and_reruns_add_only_new_seeds(
    tmp_path: Path,
) -> None:
    strategy = Strategy("adam found", "adam", "found")
    settings: dict[str, Any] = {
        "epochs": 1,
        "progress": False,
        "range_test_settings": {"num_steps": 60},
    }
    first = compare("digits-cnn", [strategy], out=tmp_path, **settings)
    (test,) = first.range_tests.values()
    suggestion = RangeTestResult.from_dict(test["result"]).suggestion
    assert first.strategies[0]["resolved"]["lr"] == suggestion
    assert first.runs[0]["record"]["lr"]["values"][0] == suggestion
    again = compare("digits-cnn", [strategy], out=tmp_path, seeds=2, **settings)
    assert again.range_tests == first.range_tests
    assert [r["seed"] for r in again.runs] == [0, 1]
    assert again.runs[0] == first.runs[0]  # seed 0 was not run again
    with pytest.raises(ValueError, match="holds a comparison with epochs=1, not 2"):
        compare("digits-cnn", [strategy], out=tmp_path, **{**settings, "epochs": 2})


@pytest.mark.slow
def test_found_probed_comes_from_a_stored_probe_run_once(tmp_path: Path) -> None:
    strategies = [
        Strategy("adam probed", "adam", "found.probed"),
        Strategy("adam found", "adam", "found"),
    ]
    settings: dict[str, Any] = {
        "epochs": 2,
        "progress": False,
        "range_test_settings": {"num_steps": 60},
    }
    first = compare("tabular-mlp", strategies, out=tmp_path, **settings)
    (test,) = first.range_tests.values()  # one range test for both strategies
    curve = RangeTestResult.from_dict(test["result"])
    probed = ProbeResult.from_dict(test["result"]["probe"])
    assert probed.lrs == pytest.approx(probe_candidates(curve))
    assert probed.steps == probe_steps(2 * len(tasks.get("tabular-mlp").train_loader))
    resolved_by_name = {s["definition"]["name"]: s["resolved"] for s in first.strategies}
    assert resolved_by_name["adam probed"]["lr"] == probed.suggestion
    assert resolved_by_name["adam found"]["lr"] == curve.suggestion
    again = compare("tabular-mlp", strategies, out=tmp_path, seeds=2, **settings)
    assert again.range_tests == first.range_tests  # the probe was not run again


@pytest.mark.slow
def test_a_run_that_raises_in_its_worker_is_stored_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRKIT_TEST_PARENT", str(os.getpid()))
    task = "compare_tasks:flaky_digits"  # imported in the worker through the parent's path
    results = compare(
        task, [Strategy("adam", "adam", 0.01)], out=tmp_path, epochs=1, progress=False
    )
    (run,) = results.runs
    assert run["status"] == "failed" and run["record"] is None
    assert "RuntimeError: no data in this process" in run["error"]
    assert results.verdict().failed == ["adam"]
    assert "Failed: adam (RuntimeError: no data in this process)" in results.verdict().text


# resume ----------------------------------------------------------------------------------------

COMMAND = [sys.executable, "-m", "lrkit.cli", "compare", "--task", "digits-cnn"]


def finished_runs(out: Path) -> dict[tuple[str, int], float]:
    path = out / "compare.sqlite"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute(
                "SELECT strategy, seed, finished_at FROM runs WHERE status = 'finished'"
            ).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {(name, seed): at for name, seed, at in rows}


def start(out: Path) -> subprocess.Popen[str]:
    args = [*COMMAND, "--preset", "fixed-lrs", "--epochs", "3", "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        args,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(out: Path, count: int, proc: subprocess.Popen[str]) -> dict[tuple[str, int], float]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = finished_runs(out)
        if len(done) >= count:
            return done
        if proc.poll() is not None:
            raise AssertionError(f"compare ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no run finished in time")


def group_gone(pgid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_interrupted_comparison_resumes_without_repeating_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Ctrl-C: the parent stops its workers and exits with 130; finished runs stay stored.
    proc = start(out)
    wait_for(out, 1, proc)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert group_gone(proc.pid), "a worker process outlived the interrupted comparison"
    first = finished_runs(out)
    assert 1 <= len(first) < 5
    # SIGKILL of the whole process group in the middle of the next run.
    proc = start(out)
    second = wait_for(out, len(first) + 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert len(second) < 5, "every run finished before the kill; nothing left to resume"
    assert all(second[key] == at for key, at in first.items())
    # The rerun trains only what is missing.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [*COMMAND, "--preset", "fixed-lrs", "--epochs", "3", "--out", str(out), "--no-progress"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final_runs = finished_runs(out)
    assert len(final_runs) == 5
    stored = len(second)
    assert all(final_runs[key] == at for key, at in second.items())
    assert f"{5 - stored} run(s) trained now, {stored} already stored" in " ".join(
        done.stdout.split()
    )
    report = json.loads((out / "results.json").read_text())
    assert len(report["runs"]) == 5 and all(r["status"] == "finished" for r in report["runs"])


def test_the_range_test_behind_found_sweeps_200_steps_unless_told_otherwise():
    from lrkit import RangeTestSettings
    from lrkit.compare.api import RANGE_TEST_STEPS, _range_settings, _split

    stored = _range_settings(None)
    assert stored == {"start_lr": 1e-7, "end_lr": 10.0, "num_steps": RANGE_TEST_STEPS}
    settings, keywords = _split(_range_settings({"num_steps": 50, "val_batches": 2}))
    assert settings == RangeTestSettings(num_steps=50) and keywords == {"val_batches": 2}
    given = RangeTestSettings(num_steps=60, mode="linear")
    assert _split(_range_settings(given)) == (given, {})
    with pytest.raises(ValueError, match="num_steps: must be >= 2"):
        _range_settings({"num_steps": 1})
    with pytest.raises(
        TypeError, match="range_test_settings: must be a RangeTestSettings, a mapping"
    ):
        _range_settings(200)  # type: ignore[arg-type]
