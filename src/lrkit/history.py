"""A training history: one row of numbers per step, written to and read from CSV / JSON lines.

A row always has a ``step`` and may have any of the standard columns ``lr``, ``loss``,
``grad_norm``, ``val_loss``, ``val_metric`` plus extra named columns (for example per-layer
update/weight ratios). Missing values are simply absent from a row; ``NaN`` and ``inf`` are
kept as values, because a non-finite loss is something to see.

Files:

- CSV: a header line, one row per step, empty cells for missing values. Keras' ``CSVLogger``
  files (``epoch, loss, val_loss, learning_rate, val_accuracy, ...``) read as a per-epoch
  history: ``epoch`` becomes ``step``, ``learning_rate`` (or ``lr``) becomes ``lr`` and the first
  ``val_*`` column other than ``val_loss`` becomes ``val_metric``.
- JSON lines: one object per row; non-finite numbers are written as the strings ``"nan"``,
  ``"inf"`` and ``"-inf"`` so that every line is strict JSON.

Rows can also be streamed while training runs: a :class:`History` sends each finished row
(a row is finished when a later step arrives, or on :meth:`History.close`) to its writers,
:class:`CSVWriter`, :class:`JSONLinesWriter` or :class:`TensorBoardWriter`.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from lrkit._files import replaced

if TYPE_CHECKING:
    from lrkit.plan import Plan
from lrkit._optional import require
from lrkit.trainlog import TrainingLog, is_csv

#: The columns every tool understands, in file order; extra columns follow them.
STANDARD_COLUMNS = ("step", "lr", "loss", "grad_norm", "val_loss", "val_metric")
UNITS = ("step", "epoch")

Row = dict[str, float]


class HistoryWriter(Protocol):
    """Receives each finished row of a :class:`History`."""

    def write(self, row: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


class History:
    """An ordered record of training rows, keyed by step (or epoch, see ``unit``).

    ``metric_name`` names what ``val_metric`` measures (e.g. ``"accuracy"``), when known.
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, float | None]] = (),
        *,
        unit: str = "step",
        metric_name: str | None = None,
        writers: Iterable[HistoryWriter] = (),
    ) -> None:
        if unit not in UNITS:
            raise ValueError(f"unit: must be one of {', '.join(UNITS)}, got {unit!r}")
        self.unit = unit
        self.metric_name = metric_name
        self.writers: list[HistoryWriter] = list(writers)
        #: The :class:`~lrkit.plan.Plan` ``lrkit.torch.fit`` trained with (not saved).
        self.plan: Plan | None = None
        self._rows: list[Row] = []
        self._written = 0
        for row in rows:
            values = dict(row)
            step = values.pop("step", None)
            if step is None:
                raise ValueError(f"rows: every row needs a 'step', got {dict(row)!r}")
            self.append(int(step), **values)

    def append(self, step: int, **values: float | None) -> Row:
        """Record ``values`` at ``step`` and return the row.

        Values at the step of the last row are merged into it (a validation loss measured
        after step 45 joins the row of step 45); ``None`` means "not measured". Steps must not
        go backwards.
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"step: must be an integer, got {step!r}")
        step = int(step)
        new = {name: float(value) for name, value in values.items() if value is not None}
        if self._rows and step == int(self._rows[-1]["step"]):
            self._rows[-1].update(new)
            return self._rows[-1]
        if self._rows and step < self._rows[-1]["step"]:
            raise ValueError(
                f"step: must not go backwards, got {step} after {int(self._rows[-1]['step'])}"
            )
        row: Row = {"step": float(step), **new}
        self._rows.append(row)
        self._flush(len(self._rows) - 1)
        return row

    def record_to(
        self, log: str | Path | None = None, tensorboard: str | Path | None = None
    ) -> None:
        """Also stream rows to the file ``log`` (CSV or JSON lines, by suffix) and/or to a
        TensorBoard directory ``tensorboard``; ``None`` skips either. An existing non-empty
        ``log`` is never overwritten: it is a ``FileExistsError``."""
        if log is not None:
            path = Path(log)
            if path.exists() and (not path.is_file() or path.stat().st_size):
                raise FileExistsError(
                    f"log: {path} already exists; give a new file name or remove it first"
                )
            self.writers.append(writer_for(path))
        if tensorboard is not None:
            self.writers.append(TensorBoardWriter(tensorboard))

    def close(self) -> None:
        """Send the last row to the writers and close them (later rows stay in memory only)."""
        self._flush()
        for writer in self.writers:
            writer.close()
        self.writers = []

    def _flush(self, end: int | None = None) -> None:
        """Send the rows not yet written, up to row ``end`` (default: all), to the writers."""
        end = len(self._rows) if end is None else end
        while self._written < end:
            for writer in self.writers:
                writer.write(self._rows[self._written])
            self._written += 1

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"History({len(self)} {self.unit}s, columns={self.columns})"

    def __iter__(self) -> Iterator[Row]:
        return (dict(row) for row in self._rows)

    def __getitem__(self, index: int) -> Row:
        return dict(self._rows[index])

    @property
    def columns(self) -> list[str]:
        """Column names present in any row: standard ones first, then extras as first seen."""
        seen: dict[str, None] = {}
        for row in self._rows:
            seen.update(dict.fromkeys(row))
        standard = [name for name in STANDARD_COLUMNS if name in seen]
        return standard + [name for name in seen if name not in STANDARD_COLUMNS]

    def column(self, name: str) -> np.ndarray:
        """Values of column ``name`` as floats, ``NaN`` where a row has none."""
        if name not in self.columns:
            raise KeyError(f"column: no column {name!r}; columns are {', '.join(self.columns)}")
        return np.array([row.get(name, math.nan) for row in self._rows], dtype=float)

    @property
    def steps(self) -> np.ndarray:
        """The step of every row, as integers."""
        return np.array([int(row["step"]) for row in self._rows], dtype=np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the whole history to ``path`` in one step: CSV for ``.csv``, JSON lines for
        ``.jsonl``."""
        path = Path(path)
        is_csv(path)  # an unknown format fails before anything is written
        with replaced(path) as partial:
            writer = writer_for(partial, columns=self.columns)
            for row in self._rows:
                writer.write(row)
            writer.close()
        return path

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Loss (and validation loss) against step above the learning rate against step, a
        dashed line where the divergence guard rolled back; saved to ``path`` (PNG, SVG, ...)."""
        from lrkit._files import save_figure
        from lrkit.plotting import pyplot

        plt = pyplot()
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
        steps = self.steps
        top.plot(steps, self.column("loss"), color="0.6", linewidth=1, label="training loss")
        if "val_loss" in self.columns:
            val = self.column("val_loss")
            mask = ~np.isnan(val)
            top.plot(steps[mask], val[mask], "o-", color="C1", label="validation loss")
        top.set_ylabel("loss")
        if title:
            top.set_title(title)
        bottom.plot(steps, self.column("lr"), color="C0")
        bottom.set_ylabel("learning rate")
        bottom.set_xlabel("step")
        rollbacks = [row["step"] for row in self if "rollback" in row]
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            for i, step in enumerate(rollbacks):
                label = "rollback (guard)" if ax is top and i == 0 else None
                ax.axvline(step, color="C3", linestyle="--", linewidth=1, label=label)
        top.legend(loc="best", fontsize="small")
        try:
            return save_figure(fig, path, bbox_inches="tight")
        finally:
            plt.close(fig)

    @classmethod
    def read(cls, path: str | Path, *, metric: str | None = None) -> History:
        """Read a history written by :meth:`save` / a writer, or a Keras ``CSVLogger`` file.

        ``metric`` picks the validation metric column (``val_<metric>``); by default it is the
        ``val_metric`` column, else the first ``val_*`` column other than ``val_loss``. A bad
        file is a ``ValueError`` naming it and the line (see :class:`~lrkit.trainlog.TrainingLog`).
        """
        return cls.from_log(TrainingLog.read(path, metric=metric))

    @classmethod
    def from_log(cls, log: TrainingLog) -> History:
        """The rows of a :class:`~lrkit.trainlog.TrainingLog`."""
        history = cls(unit=log.unit, metric_name=log.metric_name)
        columns = [
            (name, log.values[name].tolist(), log.present[name].tolist()) for name in log.values
        ]
        for index, step in enumerate(log.steps.tolist()):
            row: Row = {"step": float(step)}
            for name, values, present in columns:
                if present[index]:
                    row[name] = values[index]
            history._rows.append(row)
        return history

    def to_log(self) -> TrainingLog:
        """The same rows as columns."""
        return TrainingLog.from_rows(self._rows, unit=self.unit, metric_name=self.metric_name)


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _json_value(value: float) -> float | str:
    if math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


class CSVWriter:
    """Writes rows to a CSV file as they come; a column first seen later rewrites the file."""

    def __init__(self, path: str | Path, columns: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self._columns = list(dict.fromkeys(["step", *columns]))
        self._handle = self.path.open("w", newline="")
        self._writer = csv.writer(self._handle)
        self._header_written = False

    def write(self, row: Mapping[str, float]) -> None:
        new = [name for name in row if name not in self._columns]
        if new:
            self._grow(new)
        if not self._header_written:
            self._writer.writerow(self._columns)
            self._header_written = True
        self._writer.writerow([_step_cell(row, n) for n in self._columns])
        self._handle.flush()

    def _grow(self, new: list[str]) -> None:
        old = self._columns
        ordered = [c for c in STANDARD_COLUMNS if c in old or c in new]
        columns = ordered + [c for c in old + new if c not in STANDARD_COLUMNS]
        if self._header_written:
            self._handle.close()
            try:
                with self.path.open(newline="") as handle:
                    rows = list(csv.DictReader(handle))
                with replaced(self.path) as partial, partial.open("w", newline="") as out:
                    writer = csv.writer(out)
                    writer.writerow(columns)
                    writer.writerows([row.get(name, "") for name in columns] for row in rows)
            finally:
                self._handle = self.path.open("a", newline="")
                self._writer = csv.writer(self._handle)
        self._columns = columns

    def close(self) -> None:
        if not self._header_written:
            self._writer.writerow(self._columns)
            self._header_written = True
        self._handle.close()


def _step_cell(row: Mapping[str, float], name: str) -> str:
    if name == "step":
        return str(int(row["step"]))
    return _cell(row.get(name))


class JSONLinesWriter:
    """Writes each row as one strict-JSON line (non-finite numbers as strings)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = self.path.open("w")

    def write(self, row: Mapping[str, float]) -> None:
        self._handle.write(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class TensorBoardWriter:
    """Writes each value of a row as a classic TensorBoard scalar ``<prefix>/<column>`` at its
    step (a ``simple_value``, which ``EventAccumulator.Scalars`` and every TensorBoard
    version read).

    Needs the ``tensorboard`` package (its framework-free event-file writer).
    """

    def __init__(self, log_dir: str | Path, *, prefix: str = "lrkit") -> None:
        require("tensorboard", "all")
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.log_dir = Path(log_dir)
        self.prefix = prefix
        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(str(self.log_dir))

    def write(self, row: Mapping[str, float]) -> None:
        step = int(row["step"])
        values = [
            self._summary.Value(tag=f"{self.prefix}/{name}", simple_value=float(value))
            for name, value in row.items()
            if name != "step"
        ]
        event = self._event(wall_time=time.time(), step=step, summary=self._summary(value=values))
        self._writer.add_event(event)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def writer_for(path: str | Path, *, columns: Iterable[str] = ()) -> HistoryWriter:
    """A :class:`CSVWriter` for ``.csv`` paths, a :class:`JSONLinesWriter` for ``.jsonl``."""
    path = Path(path)
    return CSVWriter(path, columns) if is_csv(path) else JSONLinesWriter(path)


__all__ = [
    "STANDARD_COLUMNS",
    "CSVWriter",
    "History",
    "HistoryWriter",
    "JSONLinesWriter",
    "TensorBoardWriter",
    "writer_for",
]
