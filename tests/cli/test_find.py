"""``lrkit find`` end to end: exit codes, files written, one-line errors."""

import json
import re
import subprocess
import sys

import pytest

from lrkit import RangeTestResult, tasks
from lrkit.cli import main
from lrkit.cli.output import print_probe
from lrkit.probe import ProbeResult, probe_candidates, probe_steps


def test_find_writes_json_and_plot_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["find", "--num-steps", "40", "--out", str(out), "--no-progress"])
    assert code == 0
    result = RangeTestResult.from_json(out / "lr_find.json")
    assert len(result.lrs) >= 2 and result.settings["task"] == "digits-cnn"
    assert (out / "lr_find.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    for rule in ("default", "steepest", "valley", "minimum", "about as good", "cyclical bounds"):
        assert rule in printed


def test_find_can_probe_the_candidates(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["find", "--task", "tabular-mlp", "--probe", "--epochs", "1"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    probed = ProbeResult.from_dict(json.loads((out / "probe.json").read_text()))
    found = RangeTestResult.from_json(out / "lr_find.json")
    assert probed.lrs == pytest.approx(probe_candidates(found))
    assert probed.steps == probe_steps(len(tasks.get("tabular-mlp").train_loader))
    printed = capsys.readouterr().out
    assert "Probe" in printed and "won" in printed
    assert f"train at {probed.suggestion:.3g}" in printed
    assert "fit and lrkit auto use it" in " ".join(printed.split())  # lines wrap
    assert main([*argv, "--epochs", "0", "--out", str(tmp_path / "x"), "--no-progress"]) == 2


def test_the_probe_table_says_when_the_bold_winner_is_stepped_back(capsys):
    bold = ProbeResult(
        lrs=[0.03, 0.004], losses=[[2.3] * 3 + [0.4] * 7, [2.3] * 3 + [0.6] * 7], steps=10
    )
    print_probe(bold)
    printed = " ".join(capsys.readouterr().out.split())
    assert "train at 0.02 (a step below the bold winner)" in printed
    safe = [[2.3] * 3 + [0.9] * 7, [2.3] * 3 + [0.47] * 7]
    print_probe(ProbeResult(lrs=[0.03, 0.004], losses=safe, steps=10))
    printed = " ".join(capsys.readouterr().out.split())
    assert "train at 0.004; fit and lrkit auto use it" in printed


def test_find_refuses_to_overwrite_results(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lr_find.json").write_text("{}")
    code = main(["find", "--num-steps", "5", "--out", str(out), "--no-progress"])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "lr_find.json").read_text() == "{}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["find", "--start-lr", "-1"], "start_lr: must be > 0"),
        (["find", "--end-lr", "1e-9"], "end_lr: must be greater than start_lr"),
        (["find", "--num-steps", "1"], "num_steps: must be >= 2"),
        (["find", "--mode", "log"], "mode: must be one of exp, linear"),
        (["find", "--task", "imagenet"], "task: unknown task 'imagenet'"),
        (["find", "--optimizer", "lion", "--num-steps", "3"], "unknown optimizer 'lion'"),
        (["find", "--num-steps", "many"], "invalid int value"),
        (["find", "--no-such-flag"], "unrecognized arguments"),
        (["find", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
        (["find", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
        (["auto", "--batch-size", "x"], "argument --batch-size: must be an integer, got 'x'"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "lrkit.cli", "find", "--start-lr", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == "lrkit: error: start_lr: must be > 0, got 0.0"


def test_written_json_is_standard(tmp_path):
    out = tmp_path / "o"
    assert main(["find", "--num-steps", "10", "--out", str(out), "--no-progress"]) == 0
    json.loads((out / "lr_find.json").read_text())


def test_a_read_only_disk_is_one_line_and_status_1(tmp_path, capsys, monkeypatch):
    import errno
    import os

    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system", str(target))

    monkeypatch.setattr(os, "replace", read_only)
    out = tmp_path / "out"
    assert main(["find", "--num-steps", "30", "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lrkit: error: Read-only file system: {out / 'lr_find.png'}"]
    assert not [p for p in out.iterdir() if ".partial" in p.name]


def test_a_corrupt_comparison_database_is_one_line(tmp_path, capsys):
    (tmp_path / "compare.sqlite").write_bytes(b"this is not a database" * 100)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrkit: error:")


@pytest.mark.parametrize(
    ("argv", "dest", "value", "note"),
    [
        (["find", "--steps", "7"], "num_steps", 7, "lrkit find: --steps is now --num-steps"),
        (
            ["compare", "--preset", "decays", "--range-steps", "30"],
            "num_steps",
            30,
            "lrkit compare: --range-steps is now --num-steps",
        ),
        (
            ["search", "worker", "--study", "s"],
            "study_name",
            "s",
            "lrkit search worker: --study is now --study-name",
        ),
        (
            ["search", "--heartbeat", "3"],
            "heartbeat_interval",
            3,
            "lrkit search: --heartbeat is now --heartbeat-interval",
        ),
    ],
)
def test_an_earlier_option_name_still_works_and_says_its_new_name(argv, dest, value, note, capsys):
    from lrkit.cli import build_parser

    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert capsys.readouterr().err.strip() == note
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv[:-2], "--help"])
    assert not re.search(re.escape(argv[-2]) + r"(?![\w-])", capsys.readouterr().out)


def test_the_new_option_names_keep_their_defaults():
    from lrkit.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["find"]).num_steps == 100
    assert parser.parse_args(["compare"]).num_steps is None
    assert parser.parse_args(["search"]).heartbeat_interval == 10
