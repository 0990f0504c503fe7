"""Rerunning a command in the same --out: an interrupted run runs again, a finished one is
kept unless --overwrite, a search resumes, and one kind of results never replaces another's
report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lrkit.cli import main

FIND = ["find", "--task", "tabular-mlp", "--num-steps", "40", "--no-progress"]


def test_an_interrupted_find_probe_leaves_nothing_and_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import lrkit.torch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "out"
    argv = [*FIND, "--probe", "--epochs", "1", "--out", str(out)]
    with monkeypatch.context() as patch:
        patch.setattr(lrkit.torch, "probe_lr", interrupted)
        assert main(argv) == 130
    assert list(out.iterdir()) == []  # nothing written before everything was computed
    (out / "lr_find.json").write_text("{}")  # what an older, interrupted run left
    assert main(argv) == 0
    assert json.loads((out / "probe.json").read_text())["lrs"]
    assert json.loads((out / "lr_find.json").read_text())["lrs"]
    capsys.readouterr()
    assert main(argv) == 2  # finished: kept
    assert "probe.json already exists; pass --overwrite" in capsys.readouterr().err


def test_auto_reruns_over_what_an_interrupted_run_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "history.csv").write_text("step,loss\n")
    argv = ["auto", "--task", "tabular-mlp", "--epochs", "1", "--no-probe", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    summary = json.loads((out / "auto.json").read_text())
    assert summary["epochs"] == 1 and len((out / "history.csv").read_text().splitlines()) > 2
    assert main([*argv, "--out", str(out)]) == 2


def test_a_search_in_memory_keeps_no_file(tmp_path: Path, monkeypatch) -> None:
    from lrkit import search

    monkeypatch.chdir(tmp_path)
    result = search.run(
        "search_objectives:peak",
        space={"lr": (1e-4, 1.0)},
        sampler="log",
        n_trials=2,
        storage="memory",
        progress=False,
    )
    assert result.storage == "memory" and len(result.complete) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_comparison_and_a_search_never_share_a_report(tmp_path: Path, capsys) -> None:
    search = tmp_path / "search"
    argv = ["search", "--task", "search_objectives:peak", "--n-trials", "2", "--sampler", "log"]
    assert main([*argv, "--storage", "memory", "--out", str(search), "--no-progress"]) == 0
    report = (search / "report.html").read_bytes()
    capsys.readouterr()
    compare = ["compare", "--preset", "fixed-lrs", "--task", "tabular-mlp", "--no-progress"]
    for overwrite in ([], ["--overwrite"]):
        assert main([*compare, "--out", str(search), *overwrite]) == 2
        assert "holds a search (search.json)" in capsys.readouterr().err
    assert (search / "report.html").read_bytes() == report
    assert not (search / "compare.sqlite").exists()


def test_the_report_of_a_comparison_is_not_written_over_a_searchs(tmp_path: Path) -> None:
    from lrkit.compare import Results
    from lrkit.compare.store import Store
    from lrkit.report import write_report

    with Store(tmp_path) as store:
        store.check_settings({"task": "t", "epochs": 1}, ())
        store.add_strategy({"name": "s"}, None)
    results = Results.load(tmp_path)
    (tmp_path / "search.json").write_text("{}")
    with pytest.raises(ValueError, match="holds both a comparison"):
        write_report(results)
    assert not (tmp_path / "report.html").exists()
