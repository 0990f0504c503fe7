"""Script in any field of a stored comparison or search reaches report.html escaped, never as
markup."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pytest

from lrkit.compare import Strategy
from lrkit.compare.resolve import Context
from lrkit.compare.store import FAILED, FINISHED, Store
from lrkit.compare.train import train_run
from lrkit.report import write_report


def payload(field: str) -> str:
    return f"<script>alert('{field}')</script>"


def assert_escaped(page: str, fields: list[str]) -> None:
    assert "<script" not in page
    missing = [field for field in fields if escape(payload(field)) not in page]
    assert missing == [], f"not shown escaped: {missing}"


COMPARE_FIELDS = ["task", "batch_size", "metric", "name", "optimizer", "schedule", "param"]
COMPARE_FIELDS += ["error", "failed-name", "definition"]


@pytest.fixture(scope="module")
def trained() -> tuple[dict, dict]:
    """The resolved strategy and the record of one real, one-epoch run."""
    resolved = Strategy("adam", "adam", 0.01).resolve(Context(1, 12))
    return resolved, train_run(resolved, task="tabular-mlp", seed=0, epochs=1)


@pytest.fixture(scope="module")
def hostile_comparison(
    tmp_path_factory: pytest.TempPathFactory, trained: tuple[dict, dict]
) -> Path:
    """A comparison whose every stored string is a script."""
    directory = tmp_path_factory.mktemp("hostile-compare")
    resolved, record = trained
    shown = {
        **resolved,
        "optimizer": payload("optimizer"),
        "schedule": {
            "unit": "step",
            "schedule": {"name": payload("schedule"), "params": {"lr": payload("param")}},
        },
    }
    with Store(directory) as store:
        settings = {"task": payload("task"), "epochs": 1, "batch_size": payload("batch_size")}
        store.check_settings({**settings, "metric": payload("metric"), "seeds": [0]}, ())
        definition = {"name": payload("name"), "note": payload("definition")}
        store.add_strategy(definition, shown)
        store.put_run(payload("name"), 0, FINISHED, record=record)
        store.add_strategy({"name": payload("failed-name")}, None)
        store.put_run(payload("failed-name"), 0, FAILED, error=payload("error"))
    return directory


def test_every_field_of_a_comparison_report_is_escaped(hostile_comparison: Path) -> None:
    paths = write_report(hostile_comparison)
    assert_escaped(paths["report.html"].read_text(encoding="utf-8"), COMPARE_FIELDS)


SEARCH_FIELDS = ["study", "objective", "sampler", "pruner", "n_trials", "direction", "metric"]
SEARCH_FIELDS += ["backend", "storage", "param-name", "param-value", "state", "worker", "error"]
SEARCH_FIELDS += ["other-worker", "space"]


def hostile_search() -> dict:
    trial = {
        "number": 0,
        "state": "complete",
        "params": {"lr": 0.01, payload("param-name"): payload("param-value")},
        "score": 0.5,
        "worker": payload("worker"),
    }
    return {
        "kind": "lrkit.search",
        "study": payload("study"),
        "backend": payload("backend"),
        "storage": payload("storage"),
        "config": {
            "objective": {"kind": "ref", "ref": payload("objective")},
            "sampler": payload("sampler"),
            "pruner": payload("pruner"),
            "n_trials": payload("n_trials"),
            "direction": "maximize",
            "metric": payload("metric"),
            "space": {"lr": [1e-4, 1.0], "note": payload("space")},
        },
        "trials": [
            trial,
            {**trial, "number": 1, "state": payload("state"), "error": payload("error")},
            {**trial, "number": 2, "worker": payload("other-worker")},
        ],
    }


def test_every_field_of_a_search_report_is_escaped() -> None:
    from lrkit.report import search_page
    from lrkit.search import SearchResult

    data = hostile_search()
    page = search_page.render(SearchResult.from_dict(data), [])
    fields = [field for field in SEARCH_FIELDS if field != "direction"]
    assert_escaped(page, fields)
    data["config"]["direction"] = payload("direction")
    page = search_page.render(SearchResult.from_dict(data), [])
    assert_escaped(page, ["direction"])


def test_a_search_json_with_script_for_a_trial_number_is_refused(tmp_path: Path) -> None:
    from lrkit.cli import main

    data = hostile_search()
    data["trials"][0]["number"] = payload("number")
    (tmp_path / "search.json").write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 2
    assert not (tmp_path / "report.html").exists()


def test_rich_markup_in_a_strategy_name_is_printed_as_written(
    tmp_path: Path, trained: tuple[dict, dict], capsys: pytest.CaptureFixture
) -> None:
    from lrkit.cli import main

    resolved, record = trained
    name = "[/] [bold]adam[/bold] [link=x]"
    with Store(tmp_path) as store:
        store.check_settings({"task": "[red]t", "epochs": 1, "metric": "[/]m", "seeds": [0]}, ())
        store.add_strategy({"name": name}, resolved)
        store.put_run(name, 0, FINISHED, record=record)
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "[/] [bold]adam[/bold]" in printed and "[red]t" in printed


def test_rich_markup_in_a_search_is_printed_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from lrkit import search
    from lrkit.cli import main

    result = search.run(
        "search_objectives:peak",
        space={"lr": (1e-4, 1.0)},
        sampler="log",
        n_trials=2,
        storage="memory",
        study_name="[/] [bold]study",
        progress=False,
    )
    result.to_json(tmp_path / "search.json")
    assert main(["report", str(tmp_path)]) == 0
    assert "Search [/] [bold]study" in capsys.readouterr().out
