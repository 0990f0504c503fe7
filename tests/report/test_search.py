"""``lrkit report`` on a search directory: best learning rate, every trial, inlined plots."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from html import escape
from pathlib import Path

import pytest

from lrkit import search
from lrkit.cli import main
from lrkit.report import write_report
from lrkit.search import SearchResult, SearchTrial

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def searched(
    tmp_path_factory: pytest.TempPathFactory, build_search: Callable[[Path], Path]
) -> Path:
    return build_search(tmp_path_factory.mktemp("search"))


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end, page.index(start))]


def test_cli_report_renders_best_lr_every_trial_and_both_plots(
    searched: Path,
    capsys: pytest.CaptureFixture[str],
    hostile_study: str,
    hostile_optimizer: str,
) -> None:
    assert main(["report", str(searched)]) == 0
    printed = capsys.readouterr().out
    assert "best learning rate: 0.01 with {'optimizer': '<b>adam</b>'} → score 0.5" in printed
    page = (searched / "report.html").read_text(encoding="utf-8")
    result = SearchResult.from_json(searched / "search.json")
    assert result.best_lr == pytest.approx(1e-2)
    best = _section(page, '<div class="verdict" id="best">', "</div>")
    assert "Best learning rate <b>0.01</b> with optimizer &lt;b&gt;adam&lt;/b&gt;" in best
    assert "score <b>0.5</b>" in best

    table = _section(page, '<table id="trials-table">', "</table>")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    assert len(rows) == 1 + 6
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:]]
    assert sorted(int(c[0]) for c in cells) == list(range(6))
    by_number = {t.number: t for t in result.trials}
    for cell in cells:
        trial = by_number[int(cell[0])]
        assert cell[1] == trial.state
        assert cell[2] == f"{trial.params['lr']:.4g}"
        assert cell[3] == escape(trial.params["optimizer"])
        assert cell[4] == ("—" if trial.score is None else f"{trial.score:.4g}")
    assert [c[1] for c in cells] == ["complete"] * 4 + ["fail"] * 2  # best first
    assert cells[0][2:5] == ["0.01", escape(hostile_optimizer), "0.5"]
    assert re.search(r'<tr class="winner"><td>\d+</td><td class="text state-complete">', table)
    assert all("&lt;script&gt;boom&lt;/script&gt; at lr 1" in c[-1] for c in cells[-2:])

    images = re.findall(r'<figure id="([^"]+)"><img src="data:image/png;base64,([^"]+)"', page)
    assert [ident for ident, _ in images] == ["plot-search_score_vs_lr", "plot-search_parallel"]
    assert all(base64.b64decode(data).startswith(PNG) for _, data in images)
    for name in ("search_score_vs_lr.png", "search_parallel.png"):
        assert (searched / name).read_bytes().startswith(PNG)

    importances = _section(page, '<div id="importances">', "</div>")
    assert "Not enough trials: importances need at least 5 complete trials, this search has 4." in (
        importances
    )
    assert hostile_study not in page and hostile_optimizer not in page
    assert f"<title>lrkit search: {escape(hostile_study)}</title>" in page
    assert "<script" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere


def test_one_parameter_search_has_only_the_score_plot(tmp_path: Path) -> None:
    result = search.run(
        "search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=5
    )
    result.to_json(tmp_path / "search.json")
    paths = write_report(tmp_path)
    assert sorted(paths) == ["report.html", "search_score_vs_lr.png"]
    page = paths["report.html"].read_text(encoding="utf-8")
    assert re.findall(r'<figure id="([^"]+)"', page) == ["plot-search_score_vs_lr"]
    assert "Best learning rate <b>0.01</b>: score <b>0</b> (trial 2)" in page
    assert page.count("<tr") == 1 + 5


def test_search_without_a_complete_trial_says_so(tmp_path: Path) -> None:
    result = search.run(
        "search_objectives:fragile", space={"lr": (0.2, 1.0)}, sampler="log", n_trials=2
    )
    result.to_json(tmp_path / "search.json")
    page = write_report(tmp_path)["report.html"].read_text(encoding="utf-8")
    assert "No trial completed" in page
    assert "<figure" not in page
    assert page.count('class="text state-fail"') == 2
    assert page.count("RuntimeError: exploded at lr") >= 2  # in the errors section


def test_lrkit_search_writes_the_report_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    command = ["search", "--task", "search_objectives:peak", "--no-progress", "--sampler"]
    command += ["log", "--n-trials", "3", "--lr", "1e-4", "1", "--storage", "memory"]
    assert main([*command, "--out", str(out)]) == 0
    assert f"{out / 'report.html'}" in capsys.readouterr().out
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Best learning rate <b>0.01</b>" in page and page.count("<tr") == 1 + 3


def test_report_refuses_a_directory_without_results_or_with_both(
    searched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "missing compare.sqlite" in err and "missing search.json" in err
    assert main(["report", str(searched), "--target", "0.9"]) == 2
    assert "--target: applies to comparisons only" in capsys.readouterr().err
    both = tmp_path / "both"
    both.mkdir()
    (both / "search.json").write_bytes((searched / "search.json").read_bytes())
    (both / "compare.sqlite").touch()
    assert main(["report", str(both)]) == 2
    assert "holds both a comparison" in capsys.readouterr().err


def test_a_tampered_search_json_is_refused_not_rendered(
    searched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    data = json.loads((searched / "search.json").read_text())
    for field, value in (("number", "<script>alert(1)</script>"), ("params", "<b>x</b>")):
        tampered = json.loads(json.dumps(data))
        tampered["trials"][0][field] = value
        folder = tmp_path / field
        folder.mkdir()
        (folder / "search.json").write_text(json.dumps(tampered))
        assert main(["report", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lrkit: error:") and "search result" in err[0]
        assert not (folder / "report.html").exists()
    missing = json.loads(json.dumps(data))
    del missing["trials"][0]["state"]
    with pytest.raises(ValueError, match="search result: missing field 'state'"):
        SearchResult.from_dict(missing)


HOSTILE_KNOB = "<i>knob</i>"


def knob(trial: SearchTrial) -> float:
    """Set by lr, ``-(log10 lr + 2)^2``; the knob moves it by at most 1e-3."""
    return -((math.log10(trial.params["lr"]) + 2.0) ** 2) + 1e-3 * trial.params[HOSTILE_KNOB]


def test_report_ranks_the_varied_parameters_by_optunas_importances(tmp_path: Path) -> None:
    result = search.run(
        knob,
        space={"lr": (1e-4, 1.0), HOSTILE_KNOB: "float:0:1"},
        sampler="random",
        n_trials=20,
        progress=False,
    )
    result.to_json(tmp_path / "search.json")
    page = write_report(tmp_path)["report.html"].read_text(encoding="utf-8")
    found = SearchResult.from_json(tmp_path / "search.json").importances()
    assert list(found.values) == ["lr", HOSTILE_KNOB] and found.values["lr"] > 0.8
    table = _section(page, '<table id="importances-table">', "</table>")
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", table)
    ]
    assert [row[:2] for row in rows] == [
        [escape(name), f"{value:.3f}"] for name, value in found.values.items()
    ]
    assert "from\n20 complete trials by Optuna's default importance evaluator" in page
    assert HOSTILE_KNOB not in page


def test_a_one_parameter_search_has_no_importances(tmp_path: Path) -> None:
    result = search.run(
        "search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=6
    )
    result.to_json(tmp_path / "search.json")
    page = write_report(tmp_path)["report.html"].read_text(encoding="utf-8")
    assert "importances" not in page
