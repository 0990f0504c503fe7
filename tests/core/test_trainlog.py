"""Bad training logs: one line naming the file and the problem, from the API and from the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lrkit.cli import main
from lrkit.doctor import diagnose
from lrkit.history import History
from lrkit.trainlog import TrainingLog

NESTED = '{"step": 0, "loss": 1.0}\n' + "[" * 100_000 + "]" * 100_000 + "\n"
BAD_LOGS = [
    (
        "duplicate.csv",
        "step,loss\n0,1.0\n1,0.9\n1,0.8\n",
        "line 4 repeats step 1 with a 'loss' that line 3 already gives; each step must appear once",
    ),
    ("infinite.csv", "step,loss\n0,1.0\ninf,0.9\n", "line 3: step inf is not a whole number"),
    (
        "infinite.jsonl",
        '{"step": 0, "loss": 1}\n{"step": Infinity, "loss": 1}\n',
        "line 2: step inf is not a whole number",
    ),
    (
        "huge.csv",
        "step,loss\n0,1.0\n1e30,0.9\n",
        "line 3: step 1e+30 is out of range (allowed: |step| < 2**63)",
    ),
    ("fraction.jsonl", '{"step": 0.5, "loss": 1}\n', "line 1: step 0.5 is not a whole number"),
    ("nested.jsonl", NESTED, "line 2 is nested too deeply to be a log row"),
    (
        "negative.csv",
        "step,lr,loss\n0,0.1,1.0\n1,-0.1,0.9\n",
        "line 3: lr is -0.1; a learning rate cannot be negative",
    ),
    (
        "negative.jsonl",
        '{"step": 0, "loss": 1, "grad_norm": -2}\n',
        "line 1: grad_norm is -2.0; a gradient norm cannot be negative",
    ),
]


@pytest.mark.parametrize(("name", "text", "problem"), BAD_LOGS, ids=[b[0] for b in BAD_LOGS])
def test_a_bad_log_is_one_error_naming_the_file_and_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    for read in (TrainingLog.read, History.read):
        with pytest.raises(ValueError, match=re.escape(f"{path}: {problem}")):
            read(path)
    assert main(["doctor", str(path), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"lrkit: error: {path}: {problem}\n"
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "out").exists()


def test_rows_of_one_step_with_different_columns_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"step": 0, "loss": 1}\n{"step": 0, "val_loss": 2}\n{"step": 1, "loss": 3}\n')
    log = TrainingLog.read(path)
    assert log.steps.tolist() == [0, 1]
    assert log.values["loss"].tolist() == [1.0, 3.0]
    assert np.isnan(log.values["val_loss"][1]) and log.values["val_loss"][0] == 2.0


@pytest.mark.parametrize("rows", [1, 20])
def test_a_log_too_short_to_judge_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int
) -> None:
    path = tmp_path / "short.csv"
    path.write_text("step,loss\n" + "".join(f"{i},{1 + 0.1 * i}\n" for i in range(rows)))
    diagnosis = diagnose(TrainingLog.read(path))
    assert diagnosis.too_short
    watched = f"{rows} step{'s' if rows > 1 else ''} watched"
    assert diagnosis.summary() == (
        f"lrkit doctor: {watched}: too short to judge (the rules need more than 20 steps)."
    )
    assert main(["doctor", str(path), "--out", str(tmp_path / "out")]) == 2
    unit = "step" if rows == 1 else "steps"
    assert capsys.readouterr().err == (
        f"lrkit: error: {path}: {rows} training {unit}, too short to judge "
        "(the doctor needs more than 20)\n"
    )


def test_a_log_of_21_steps_is_judged(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("step,loss\n" + "".join(f"{i},1.0\n" for i in range(21)))
    assert not diagnose(TrainingLog.read(path)).too_short
    assert main(["doctor", str(path), "--out", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("excel.csv", "step,loss\n10,1.0\n15,0.9\n"),
        ("excel.jsonl", '{"step": 10, "loss": 1.0}\n{"step": 15, "loss": 0.9}\n'),
    ],
)
def test_a_byte_order_mark_does_not_hide_the_first_column(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    log = TrainingLog.read(path)
    assert log.columns == ["step", "loss"]
    assert log.steps.tolist() == [10, 15]
    assert log.values["loss"].tolist() == [1.0, 0.9]
