"""``lrkit search`` and ``lrkit search worker`` from the command line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from lrkit import search
from lrkit.cli import main
from lrkit.rangetest import RangeTestResult

PEAK = ["--task", "search_objectives:peak", "--no-progress"]


def test_search_writes_results_plots_and_resumes_from_its_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    command = ["search", *PEAK, "--sampler", "log", "--n-trials", "5", "--lr", "1e-4", "1"]
    assert main([*command, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best learning rate: 0.01 → score 0 (trial 2)" in printed
    assert "trials done: 5 of 5 (5 complete)" in printed
    data = json.loads((out / "search.json").read_text())
    assert data["best"]["params"]["lr"] == pytest.approx(1e-2)
    assert (out / "search_score_vs_lr.png").stat().st_size > 10_000
    assert not (out / "search_parallel.png").exists()  # one parameter: no parallel plot
    assert (out / "search.journal").exists()

    assert "rerun the command to resume" in printed
    assert main([*command, "--out", str(out)]) == 0  # a finished search reruns: resumed
    again = json.loads((out / "search.json").read_text())
    assert [t["number"] for t in again["trials"]] == [0, 1, 2, 3, 4]  # nothing re-run
    assert again["study"] == data["study"]

    import optuna

    fewer = [*command[:-5], "--n-trials", "3", *command[-3:]]
    assert main([*fewer, "--out", str(out), "--overwrite"]) == 0  # starts afresh
    journal = search.storage.open_storage(str(out / "search.journal"))
    assert len(optuna.get_all_study_names(journal)) == 1  # the earlier study was discarded
    assert len(json.loads((out / "search.json").read_text())["trials"]) == 3


def test_search_around_a_range_test_result(tmp_path: Path) -> None:
    lrs = list(np.geomspace(1e-6, 1.0, 80))
    losses = [2.0 - np.tanh(2 * (np.log10(lr) + 3)) for lr in lrs]
    losses[-6:] = [5.0, 8.0, 12.0, 20.0, 40.0, 80.0]
    found = RangeTestResult(lrs, losses, losses, "diverged", settings={"optimizer_name": "sgd"})
    found.to_json(tmp_path / "lr_find.json")
    out = tmp_path / "out"
    code = main(
        ["search", *PEAK, "--from-range-test", str(tmp_path / "lr_find.json"), "--width", "4",
         "--sampler", "log", "--n-trials", "3", "--storage", "memory", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    data = json.loads((out / "search.json").read_text())
    s = found.suggestion
    assert data["config"]["space"]["lr"] == pytest.approx([s / 4, s * 4])
    assert data["storage"] == "memory" and not (out / "search.journal").exists()


def test_worker_joins_a_study_and_runs_what_is_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = str(tmp_path / "s.journal")
    search.create(
        "search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=3,
        storage=journal, study_name="joined",
    )  # fmt: skip
    worker = ["search", "worker", "--storage", journal, "--study-name", "joined"]
    assert main([*worker, "--allow-objective", "search_objectives:peak"]) == 0
    printed = capsys.readouterr().out
    assert f"joining study 'joined' at {journal}" in printed
    assert "ran 3 trial(s) here; the study has 3 trial(s) done" in printed
    assert main(["search", "worker", "--storage", journal, "--study-name", "other"]) == 2
    assert "study: no study named 'other'" in capsys.readouterr().err


def test_a_worker_runs_only_objectives_its_own_command_line_allows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = str(tmp_path / "s.journal")
    search.create(
        "search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=2,
        storage=journal, study_name="guarded",
    )  # fmt: skip
    worker = ["search", "worker", "--storage", journal, "--study-name", "guarded", "--no-progress"]
    monkeypatch.delenv("LRKIT_ALLOW_OBJECTIVES", raising=False)
    for allowed in ([], ["--allow-objective", "search_objectives:fragile"]):
        assert main([*worker, *allowed]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("lrkit: error: objective: study")
        assert "runs search_objectives:peak, which this worker does not allow" in err
        assert "--allow-objective search_objectives:peak" in err
    assert search.load_results(journal, "guarded").counts()["done"] == 0  # nothing was run
    assert main([*worker, "--allow-objective", "not-a-ref"]) == 2
    assert "allow_objectives: 'not-a-ref' is not 'module:function'" in capsys.readouterr().err

    allow = "search_objectives:fragile, search_objectives:peak"
    monkeypatch.setenv("LRKIT_ALLOW_OBJECTIVES", allow)
    assert main(worker) == 0
    assert "ran 2 trial(s) here" in capsys.readouterr().out


def test_a_worker_always_runs_a_built_in_task(tmp_path: Path) -> None:
    from lrkit.search import trust

    task = search.TaskObjective(task="digits-cnn", epochs=1)
    trust.check(search.objective.describe(task), "any")  # no error: built-in tasks are safe


def test_bad_inputs_exit_2_with_one_line_and_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "hunter2-secret"
    cases = {
        "sampler: unknown sampler 'bayes'": ["--sampler", "bayes"],
        "pruner: unknown pruner 'early'": ["--pruner", "early"],
        "lr: needs finite low < high": ["--lr", "1", "1e-3"],
        f"storage: cannot use postgresql://me:***@127.0.0.1:{port}/db": [
            "--storage", f"postgresql://me:{secret}@127.0.0.1:{port}/db"
        ],
        "storage: SQLite (sqlite:///x.db) is not used": ["--storage", "sqlite:///x.db"],
    }  # fmt: skip
    for message, extra in cases.items():
        code = main(["search", *PEAK, "--out", str(tmp_path / "out"), *extra])
        captured = capsys.readouterr()
        assert code == 2, message
        assert captured.err.startswith("lrkit: error: ") and message in captured.err
        assert captured.err.count("\n") == 1
        assert secret not in captured.out + captured.err


@pytest.mark.slow
def test_digits_grid_over_two_optimizers_draws_parallel_coordinates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        ["search", "--task", "digits-cnn", "--epochs", "1", "--sampler", "grid",
         "--n-trials", "4", "--lr", "1e-3", "1e-2", "--optimizer", "sgd", "adam",
         "--no-progress", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    result = search.SearchResult.from_json(out / "search.json")
    assert result.metric == "accuracy" and result.counts()["complete"] == 4
    assert result.best_params["optimizer"] == "adam"  # SGD barely moves in one epoch
    assert (out / "search_parallel.png").stat().st_size > 10_000
