"""``lrkit schedule``: listing, values, pictures, JSON specs and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit import schedules as S
from lrkit.cli import main


def test_list_shows_every_schedule_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--list"]) == 0
    printed = capsys.readouterr().out
    for name in S.names():
        assert name in printed
    assert "floor, lr, up_steps," in printed and "pct_start=0.3" in printed
    assert "[kᵢ, kᵢ₊₁]" in printed  # formulas are printed as text, not read as markup


def test_values_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["schedule", "cosine", "--lr", "0.1", "--total-steps", "100", "--steps", "101"]) == 0
    )
    printed = capsys.readouterr().out
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in printed.splitlines()
        if line.count("│") == 3
    }
    assert rows["0"] == "0.1" and rows["50"] == "0.05" and rows["100"] == "0"
    assert "bounds [0, 0.1]; planned for 100 steps, then held" in printed


def test_momentum_column_for_cyclical_schedules(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schedule", "triangular", "--floor", "0.01", "--lr", "0.1", "--up-steps", "10"]
    assert main([*argv, "--steps", "21", "--momentum", "0.8", "0.9"]) == 0
    printed = capsys.readouterr().out
    assert "momentum" in printed
    row_10 = next(line for line in printed.splitlines() if line.startswith("│   10 "))
    assert "0.1 " in row_10 and "0.8 " in row_10


def test_parameter_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "multistep", "--lr", "1", "--milestones", "3", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == S.multistep(1.0, [3, 5]).to_dict()
    argv = ["schedule", "exponential", "--lr", "1", "--gamma", "0.5", "--decay_steps", "4"]
    assert main([*argv, "--staircase", "--json"]) == 0
    expected = S.exponential(1.0, gamma=0.5, decay_steps=4, staircase=True)
    assert json.loads(capsys.readouterr().out) == expected.to_dict()
    argv = ["schedule", "one_cycle", "--lr", "0.1", "--total-steps", "50", "--anneal", "linear"]
    assert main([*argv, "--three-phase", "--json"]) == 0
    expected = S.one_cycle(0.1, 50, anneal="linear", three_phase=True)
    assert json.loads(capsys.readouterr().out) == expected.to_dict()


def test_warmup_option(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schedule", "cosine", "--lr", "0.1", "--total-steps", "90", "--warmup", "10"]
    assert main([*argv, "--warmup-start", "0.01", "--json"]) == 0
    expected = S.warmup(S.cosine(0.1, 90), 10, start=0.01)
    assert json.loads(capsys.readouterr().out) == expected.to_dict()


def test_old_parameter_names_work_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["schedule", "one_cycle", "--max-lr=0.1", "--total-steps", "50", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == S.one_cycle(0.1, 50).to_dict()
    assert "lrkit: warning: --max-lr is now --lr" in captured.err
    argv = ["schedule", "triangular", "--low", "0.01", "--high", "0.1", "--step_size_up", "5"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == S.triangular(0.01, 0.1, 5).to_dict()
    assert "--step_size_up is now --up-steps" in captured.err
    old = {"name": "step_decay", "params": {"lr": 0.1, "step_size": 10, "gamma": 0.5}}
    spec = tmp_path / "old.json"
    spec.write_text(json.dumps(old))
    assert main(["schedule", str(spec), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == S.step_decay(0.1, 10, 0.5).to_dict()
    assert "parameter 'step_size' is now called 'decay_steps'" in captured.err


def test_json_file_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schedule = S.sequence([S.linear(0.0, 0.1, 10), S.step_decay(0.1, 10, 0.5)], [10])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(schedule.to_dict()))
    assert main(["schedule", str(spec), "--steps", "31"]) == 0
    printed = capsys.readouterr().out
    assert "goes on forever" in printed
    row_30 = next(line for line in printed.splitlines() if line.startswith("│   30 "))
    assert f"{schedule(30):.6g}" in row_30


def test_out_draws_a_png_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one_cycle.png"
    argv = ["schedule", "one_cycle", "--lr", "0.1", "--total-steps", "300", "--out", str(out)]
    assert main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    before = out.read_bytes()
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main([*argv, "--overwrite", "--log-y"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["schedule"], "name: give a schedule name"),
        (["schedule", "cosinus"], "name: unknown schedule 'cosinus'"),
        (
            ["schedule", "cosine", "--lr", "0.1"],
            "the following arguments are required: --total-steps",
        ),
        (["schedule", "cosine", "--lr", "-1", "--total-steps", "9"], "lr: must be > 0, got -1.0"),
        (
            ["schedule", "cosine", "--lr", "x", "--total-steps", "9"],
            "schedule cosine: argument --lr: invalid float value: 'x'",
        ),
        (
            ["schedule", "one_cycle", "--lr", "1", "--total-steps", "9", "--anneal", "cosine"],
            "invalid choice",
        ),
        (["schedule", "warmup"], "'warmup' is built from other schedules"),
        (
            ["schedule", "constant", "--lr", "1", "--momentum", "0.8", "0.9"],
            "--momentum: constant has no momentum curve",
        ),
        (["schedule", "constant", "--lr", "1", "--steps", "0"], "--steps: must be >= 1, got 0"),
        (["schedule", "missing.json"], "missing.json: no such file"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text("{not json")
    assert main(["schedule", str(spec)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lrkit.cli", "schedule", "--list"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "one_cycle" in done.stdout
