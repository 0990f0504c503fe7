"""History: recording, streaming writers, and reading lrkit logs and Keras CSVLogger files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lrkit.history import CSVWriter, History, JSONLinesWriter, TensorBoardWriter, writer_for


def sample() -> History:
    history = History(metric_name="accuracy")
    history.append(0, loss=2.3, lr=0.1, grad_norm=1.0)
    history.append(1, loss=math.nan, lr=0.1, grad_norm=math.inf)
    history.append(1, val_loss=2.0, val_metric=0.25)
    history.append(2, loss=1.5, lr=0.05, **{"update_ratio/0.weight": 1e-3})
    return history


def test_append_merges_values_at_the_same_step() -> None:
    history = sample()
    assert len(history) == 3
    assert history[1]["val_loss"] == 2.0 and math.isnan(history[1]["loss"])
    assert history.columns == [
        "step",
        "lr",
        "loss",
        "grad_norm",
        "val_loss",
        "val_metric",
        "update_ratio/0.weight",
    ]
    np.testing.assert_array_equal(history.steps, [0, 1, 2])
    np.testing.assert_array_equal(history.column("val_loss"), [np.nan, 2.0, np.nan])
    with pytest.raises(KeyError, match="no column 'acc'"):
        history.column("acc")


def test_append_checks_the_step() -> None:
    history = History()
    history.append(3, loss=1.0)
    with pytest.raises(ValueError, match="step: must not go backwards, got 2 after 3"):
        history.append(2, loss=1.0)
    with pytest.raises(TypeError, match="step: must be an integer, got 2.5"):
        history.append(2.5, loss=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unit: must be one of step, epoch, got 'batch'"):
        History(unit="batch")


def _same(a: History, b: History) -> None:
    assert a.columns == b.columns
    for name in a.columns:
        np.testing.assert_array_equal(a.column(name), b.column(name))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_save_and_read_round_trip_keeps_nan_inf_and_missing(tmp_path: Path, suffix: str) -> None:
    history = sample()
    path = history.save(tmp_path / f"run{suffix}")
    back = History.read(path)
    _same(history, back)
    assert back.unit == "step"


def test_json_lines_are_strict_json(tmp_path: Path) -> None:
    path = sample().save(tmp_path / "run.jsonl")

    def refuse(token: str) -> float:
        raise AssertionError(f"non-standard JSON token {token}")

    rows = [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]
    assert rows[1] == {
        "step": 1,
        "lr": 0.1,
        "loss": "nan",
        "grad_norm": "inf",
        "val_loss": 2,
        "val_metric": 0.25,
    }


def test_csv_layout(tmp_path: Path) -> None:
    path = sample().save(tmp_path / "run.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "step,lr,loss,grad_norm,val_loss,val_metric,update_ratio/0.weight"
    assert lines[1] == "0,0.1,2.3,1.0,,,"
    assert lines[2] == "1,0.1,nan,inf,2.0,0.25,"


def test_writers_stream_each_row_once_it_is_finished(tmp_path: Path) -> None:
    csv_path, jsonl_path = tmp_path / "live.csv", tmp_path / "live.jsonl"
    history = History(writers=[CSVWriter(csv_path), JSONLinesWriter(jsonl_path)])
    history.append(0, loss=2.0)
    assert jsonl_path.read_text() == ""  # step 0 may still get a validation result
    history.append(0, val_loss=1.9)
    history.append(1, loss=1.8, extra=5.0)  # a column first seen later: the CSV is rewritten
    assert json.loads(jsonl_path.read_text()) == {"step": 0, "loss": 2, "val_loss": 1.9}
    history.close()
    _same(History.read(csv_path), history)
    _same(History.read(jsonl_path), history)
    history.append(2, loss=1.7)  # after close: kept in memory only
    assert len(History.read(csv_path)) == 2


def test_tensorboard_writer_writes_classic_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = History(writers=[TensorBoardWriter(tmp_path / "tb")])
    for step, loss in enumerate([2.0, 1.5, 1.25]):
        history.append(step, loss=loss, lr=0.1 / (step + 1))
    history.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["lrkit/loss", "lrkit/lr"]
    assert [(e.step, e.value) for e in events.Scalars("lrkit/loss")] == [
        (0, 2.0),
        (1, 1.5),
        (2, 1.25),
    ]
    assert events.Scalars("lrkit/lr")[2].value == pytest.approx(0.1 / 3)


def test_reads_a_keras_csvlogger_file_as_epochs(tmp_path: Path) -> None:
    path = tmp_path / "training.log.csv"
    path.write_text(
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
        "0,0.5,0.001,1.2,0.6,1.0\n"
        "1,0.7,0.001,0.8,0.72,0.85\n"
    )
    history = History.read(path)
    assert history.unit == "epoch"
    assert history.metric_name == "accuracy"
    assert history.columns == ["step", "lr", "loss", "val_loss", "val_metric", "accuracy"]
    assert history[1] == {
        "step": 1,
        "lr": 0.001,
        "loss": 0.8,
        "val_loss": 0.85,
        "val_metric": 0.72,
        "accuracy": 0.7,
    }


def test_metric_picks_the_validation_column(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_auc,val_f1\n0,1.0,0.8,0.6\n")
    assert History.read(path)[0]["val_metric"] == 0.8
    history = History.read(path, metric="f1")
    assert (history.metric_name, history[0]["val_metric"], history[0]["val_auc"]) == (
        "f1",
        0.6,
        0.8,
    )
    with pytest.raises(ValueError, match="metric: .* has no column 'val_recall'"):
        History.read(path, metric="recall")


def test_rows_without_step_or_epoch_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("loss\n3\n2\n")
    np.testing.assert_array_equal(History.read(path).steps, [0, 1])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "epoch,acc\n0,1\n", "no 'loss' column; columns are epoch, acc"),
        ("b.csv", "step,loss\n0,high\n", "column 'loss' holds 'high', not a number"),
        ("c.jsonl", '{"step": 0, "loss": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
        ("d.jsonl", "{oops\n", "line 1 is not JSON"),
        ("e.txt", "loss\n1\n", "cannot tell the format"),
    ],
)
def test_bad_files_are_rejected_clearly(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        History.read(path)


def test_missing_file_and_unknown_suffix() -> None:
    with pytest.raises(FileNotFoundError, match="history: no such file"):
        History.read("/nonexistent/run.csv")
    with pytest.raises(ValueError, match="path: cannot tell the format of 'run.parquet'"):
        writer_for("run.parquet")


def test_rows_given_to_the_constructor_need_a_step() -> None:
    assert len(History([{"step": 0, "loss": 1.0}, {"step": 1, "loss": None}])) == 2
    with pytest.raises(ValueError, match="rows: every row needs a 'step'"):
        History([{"loss": 1.0}])
