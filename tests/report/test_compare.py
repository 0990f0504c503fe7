"""report.html, results.json and the plots, rendered from a stored comparison."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from lrkit.cli import main
from lrkit.report import write_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def comparison(
    tmp_path_factory: pytest.TempPathFactory, build_comparison: Callable[[Path], Path]
) -> Path:
    return build_comparison(tmp_path_factory.mktemp("report"))


def test_report_is_self_contained_and_escapes_user_strings(
    comparison: Path, hostile_strategy: str
) -> None:
    paths = write_report(comparison)
    page = paths["report.html"].read_text(encoding="utf-8")
    assert hostile_strategy not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co" in page
    assert "<script" not in page
    assert "&lt;script&gt;boom&lt;/script&gt;" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3  # curves, learning rates, final scores
    assert all(base64.b64decode(data).startswith(PNG) for data in images)
    assert page.count("<tr") == 1 + 4  # header + one row per strategy
    for name in ("curves.png", "lr.png", "scores.png"):
        assert (comparison / "plots" / name).read_bytes().startswith(PNG)


def test_results_json_holds_summary_verdict_and_every_run(
    comparison: Path, hostile_strategy: str
) -> None:
    write_report(comparison, target=0.5)
    data = json.loads((comparison / "results.json").read_text())
    assert data["target"] == 0.5
    rows = {row["name"]: row for row in data["summary"]}
    assert rows["adam 0.01"]["status"] == "ok"
    assert rows["adam 1e-07"]["status"] == "too slow"
    assert rows["broken"]["status"] == "failed"
    assert data["verdict"]["winner"] in ("adam 0.01", hostile_strategy)
    assert len(data["runs"]) == 4
    run = next(r for r in data["runs"] if r["strategy"] == "adam 0.01")["record"]
    assert rows["adam 0.01"]["final_score"]["mean"] == run["val_score"][-1]
    assert len(run["epochs"]) == len(run["val_loss"]) == len(run["train_score"]) == 3


def test_cli_report_re_renders_and_reports_a_missing_comparison(
    comparison: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (comparison / "report.html").unlink(missing_ok=True)
    assert main(["report", str(comparison), "--target", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "target validation accuracy 0.900" in out
    assert (comparison / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no comparison here" in capsys.readouterr().err
