"""``lrkit doctor LOG``: findings printed, doctor.json and doctor.png written, mistakes exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lrkit.cli import main
from lrkit.cli.doctor import parse_thresholds
from lrkit.history import History


def diverging_log(path: Path) -> Path:
    rng = np.random.default_rng(0)
    history = History()
    for step in range(400):
        lr = 1e-3 if step < 300 else 1e-1
        loss = 2.3 * np.exp(-step / 80) + 0.05 if step < 300 else 2.3 + 3 * (step - 300)
        history.append(step, lr=lr, loss=float(loss * np.exp(rng.normal(0, 0.05))))
        if step % 50 == 49:
            history.append(step, val_loss=float(loss), val_metric=0.9)
    return history.save(path)


def test_diagnoses_an_lrkit_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = diverging_log(tmp_path / "run.csv")
    assert main(["doctor", str(log), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "lrkit doctor: 400 steps watched" in printed
    assert "CRITICAL divergence" in printed
    assert "The learning rate rose from 0.001 (at the best loss) to 0.1." in printed
    report = json.loads((tmp_path / "out" / "doctor.json").read_text())
    assert report["log"] == str(log)
    assert report["unit"] == "step"
    divergence = [f for f in report["findings"] if f["kind"] == "divergence"]
    assert divergence and 300 <= divergence[0]["step"] <= 320
    png = (tmp_path / "out" / "doctor.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_fail_on_critical_exits_1(tmp_path: Path) -> None:
    log = diverging_log(tmp_path / "run.jsonl")
    args = ["doctor", str(log), "--out", str(tmp_path / "out"), "--fail-on", "critical"]
    assert main(args) == 1


def test_keras_csvlogger_file_is_read_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "training.csv"
    rows = ["epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"]
    rows += [f"{e},0.1,1e-06,{2.30 - 0.001 * e},0.1,2.30" for e in range(6)]
    log.write_text("\n".join(rows) + "\n")
    assert main(["doctor", str(log), "--out", str(tmp_path / "out"), "--rules", "lr_too_low"]) == 0
    assert "lrkit doctor: 6 epochs watched" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "doctor.json").read_text())
    assert report["metric"] == "accuracy"
    assert [(f["kind"], f["step"]) for f in report["findings"]] == [("lr_too_low", 3)]


def test_thresholds_and_unit_can_be_set(tmp_path: Path) -> None:
    log = diverging_log(tmp_path / "run.csv")
    out = tmp_path / "out"
    assert main(["doctor", str(log), "--out", str(out), "--set", "diverge_noise=1e9"]) == 0
    report = json.loads((out / "doctor.json").read_text())
    assert report["thresholds"]["diverge_noise"] == 1e9
    assert "divergence" not in [f["kind"] for f in report["findings"]]
    args = ["doctor", str(log), "--out", str(out), "--overwrite", "--unit", "epoch"]
    assert main(args) == 0
    assert json.loads((out / "doctor.json").read_text())["unit"] == "epoch"


def test_parse_thresholds_keeps_integers() -> None:
    assert parse_thresholds(["spike_window=64", "grad_z=3.5"]) == {
        "spike_window": 64,
        "grad_z": 3.5,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "diverge_noise"], "--set: expected NAME=VALUE, got 'diverge_noise'"),
        (["--set", "grad_z=high"], "--set: grad_z must be a number, got 'high'"),
        (["--set", "diverge_give_back=1.5"], "diverge_give_back: must be in (0, 1], got 1.5"),
        (["--set", "spike_window=1.5"], "spike_window: must be an integer >= 2, got 1.5"),
        (["--set", "nope=1"], "unknown threshold 'nope'"),
        (["--rules", "slow"], "rules: unknown rule 'slow'"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    log = diverging_log(tmp_path / "run.csv")
    assert main(["doctor", str(log), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrkit: error: ") and message in err
    assert err.count("\n") == 1


def test_missing_log_and_existing_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", str(tmp_path / "none.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "history: no such file" in capsys.readouterr().err
    log = diverging_log(tmp_path / "run.csv")
    out = str(tmp_path / "out")
    assert main(["doctor", str(log), "--out", out]) == 0
    assert main(["doctor", str(log), "--out", out]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
