"""A training log read into columns: one array per column, checked row by row.

:meth:`TrainingLog.read` reads lrkit's CSV and JSON-lines logs and Keras ``CSVLogger`` files
(see :mod:`lrkit.history` for the formats) without building a dict per row, so a log of
millions of rows fits in a few arrays. Every problem is a ``ValueError`` naming the file and,
where there is one, the line: a corrupt CSV row, a line that is not a JSON object (or is nested
too deeply), a value that is not a number, a step that is not a whole number, is out of range
or goes backwards, a step given twice with the same column, a negative learning rate or
gradient norm. Rows of one step that give different columns (a training row and a validation
row) are merged. A UTF-8 byte-order mark at the start (as spreadsheet programs write) is skipped.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The value columns every tool understands, in file order; extra columns follow them.
VALUE_COLUMNS = ("lr", "loss", "grad_norm", "val_loss", "val_metric")
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
#: The columns that cannot be negative, and what each holds.
NON_NEGATIVE = {"lr": "a learning rate", "grad_norm": "a gradient norm"}
_CHUNK = 65536


@dataclass
class TrainingLog:
    """A log as columns: ``steps`` (int64, strictly increasing) and, per column, ``values``
    (float64, ``NaN`` where a row has none) and ``present`` (where a row has one)."""

    path: Path | None
    unit: str
    metric_name: str | None
    steps: np.ndarray
    values: dict[str, np.ndarray]
    present: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.steps.size)

    @property
    def columns(self) -> list[str]:
        """``step``, the standard columns present, then the extra ones as first seen."""
        standard = [name for name in VALUE_COLUMNS if name in self.values]
        return ["step", *standard, *(n for n in self.values if n not in VALUE_COLUMNS)]

    def column(self, name: str) -> np.ndarray:
        """Values of column ``name`` as floats, ``NaN`` where a row has none."""
        if name == "step":
            return self.steps.astype(float)
        if name not in self.values:
            raise KeyError(f"column: no column {name!r}; columns are {', '.join(self.columns)}")
        return self.values[name]

    def has(self, name: str) -> np.ndarray:
        """Where column ``name`` has a value (all ``False`` when it is absent)."""
        return self.present.get(name, np.zeros(self.steps.size, dtype=bool))

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, float]],
        *,
        unit: str = "step",
        metric_name: str | None = None,
    ) -> TrainingLog:
        """Columns of rows that each hold a ``step`` (as :class:`~lrkit.history.History` does)."""
        columns = _RowColumns()
        for index, row in enumerate(rows):
            columns.add(index + 1, row, "rows: ")
        return columns.done().finish(None, unit, metric_name, "step")

    @classmethod
    def read(cls, path: str | Path, *, metric: str | None = None) -> TrainingLog:
        """Read a CSV or JSON-lines log; ``metric`` picks the ``val_<metric>`` column."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"history: no such file: {path}")
        columns = _read_csv(path) if is_csv(path) else _read_jsonl(path)
        names = list(columns.values)
        if "loss" not in names:
            listed = ", ".join(names) or "(none)"
            raise ValueError(f"{path}: no 'loss' column; columns are {listed}")
        unit = "epoch" if "epoch" in names and "step" not in names else "step"
        renames = {"learning_rate": "lr"} if "lr" not in names else {}
        metric_key = _metric_column(names, metric, path)
        metric_name = metric
        if metric_key is not None and metric_key != "val_metric":
            renames[metric_key] = "val_metric"
            metric_name = metric_key.removeprefix("val_")
        columns.rename(renames)
        step_key = "step" if unit == "step" else "epoch"
        return columns.finish(path, unit, metric_name, step_key if step_key in names else None)


def is_csv(path: Path) -> bool:
    """Whether ``path`` names a CSV log (else JSON lines); ``ValueError`` for neither."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES + JSONL_SUFFIXES:
        return suffix in CSV_SUFFIXES
    raise ValueError(
        f"path: cannot tell the format of {str(path)!r}; "
        f"use a {', '.join(CSV_SUFFIXES + JSONL_SUFFIXES)} file"
    )


class _Columns:
    """A log's columns as read (values, where present, the line of each row), then checked."""

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}
        self.present: dict[str, np.ndarray] = {}
        self.lines = np.empty(0, dtype=np.int64)

    def rename(self, renames: Mapping[str, str]) -> None:
        for old, new in renames.items():
            if old in self.values:
                self.values[new] = self.values.pop(old)
                self.present[new] = self.present.pop(old)

    def finish(
        self, path: Path | None, unit: str, metric_name: str | None, step_key: str | None
    ) -> TrainingLog:
        where = f"{path}: " if path is not None else "rows: "
        values, present, lines = dict(self.values), dict(self.present), self.lines
        if step_key is None:
            steps = np.arange(lines.size, dtype=np.int64)
        else:
            steps = _steps(values.pop(step_key), present.pop(step_key), lines, where, step_key)
        for name, what in NON_NEGATIVE.items():
            if name in values:
                bad = np.flatnonzero(values[name] < 0)
                if bad.size:
                    value = float(values[name][bad[0]])
                    raise ValueError(
                        f"{where}line {lines[bad[0]]}: {name} is {value!r}; {what} cannot be "
                        "negative"
                    )
        steps, values, present = _merge(steps, values, present, lines, where)
        return TrainingLog(path, unit, metric_name, steps, values, present)


class _RowColumns(_Columns):
    """Columns gathered row by row (JSON lines, or rows in memory)."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, array[int]] = {}
        self._data: dict[str, array[float]] = {}
        self._lines = array("q")

    def add(self, line: int, row: Mapping[str, Any], where: str) -> None:
        index = len(self._lines)
        for name, value in row.items():
            if value is None:
                continue
            if name not in self._rows:
                self._rows[name], self._data[name] = array("q"), array("d")
            self._rows[name].append(index)
            self._data[name].append(_number(value, name, where, line))
        self._lines.append(line)

    def done(self) -> _RowColumns:
        n = len(self._lines)
        self.lines = np.array(self._lines, dtype=np.int64)
        for name, rows in self._rows.items():
            at = np.array(rows, dtype=np.int64)
            column = np.full(n, np.nan)
            column[at] = np.array(self._data[name], dtype=float)
            has = np.zeros(n, dtype=bool)
            has[at] = True
            self.values[name], self.present[name] = column, has
        return self


def _steps(
    values: np.ndarray, present: np.ndarray, lines: np.ndarray, where: str, key: str
) -> np.ndarray:
    missing = np.flatnonzero(~present)
    if missing.size:
        raise ValueError(f"{where}line {lines[missing[0]]} has no {key!r}")
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.round(values))
        bad = np.flatnonzero(~whole | (np.abs(values) >= 2**63))
    if bad.size:
        value = float(values[bad[0]])
        problem = (
            "is not a whole number"
            if not whole[bad[0]]
            else f"is out of range (allowed: |{key}| < 2**63)"
        )
        raise ValueError(f"{where}line {lines[bad[0]]}: {key} {value!r} {problem}")
    steps = values.astype(np.int64)
    back = np.flatnonzero(steps[1:] < steps[:-1])
    if back.size:
        i = back[0] + 1
        raise ValueError(
            f"{where}line {lines[i]}: {key} {steps[i]} comes after {key} {steps[i - 1]} "
            f"(line {lines[i - 1]}); steps must not go backwards"
        )
    return steps


def _merge(
    steps: np.ndarray,
    values: dict[str, np.ndarray],
    present: dict[str, np.ndarray],
    lines: np.ndarray,
    where: str,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Merge rows of one step; a column given twice for one step is an error."""
    repeat = steps[1:] == steps[:-1]
    if not repeat.any():
        return steps, values, present
    group = np.concatenate(([0], np.cumsum(~repeat)))
    for name, has in present.items():
        rows = np.flatnonzero(has)
        twice = np.flatnonzero(group[rows][1:] == group[rows][:-1])
        if twice.size:
            first, again = rows[twice[0]], rows[twice[0] + 1]
            raise ValueError(
                f"{where}line {lines[again]} repeats step {steps[again]} with a {name!r} that "
                f"line {lines[first]} already gives; each step must appear once"
            )
    size = int(group[-1]) + 1
    merged_values, merged_present = {}, {}
    for name, has in present.items():
        column = np.full(size, np.nan)
        column[group[has]] = values[name][has]
        mask = np.zeros(size, dtype=bool)
        mask[group[has]] = True
        merged_values[name], merged_present[name] = column, mask
    first_rows = np.concatenate(([0], np.flatnonzero(~repeat) + 1))
    return steps[first_rows], merged_values, merged_present


def _number(value: Any, name: str, where: str, line: int) -> float:
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{where}line {line}: column {name!r} holds {value!r}, not a number")


def _read_csv(path: Path) -> _Columns:
    columns = _Columns()
    chunks: list[list[tuple[np.ndarray, np.ndarray]]] = []
    lines = array("q")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise ValueError(f"{path}: the file is empty (no header line)") from None
            names = [name.strip() for name in header]
            for index, name in enumerate(names):
                if not name or names.index(name) != index:
                    raise ValueError(
                        f"{path}: line 1: header column {index + 1} is "
                        f"{'empty' if not name else f'{name!r} again'}"
                    )
            batch: list[list[str]] = []
            try:
                for row in reader:
                    if not row:
                        continue
                    if len(row) != len(names):
                        raise ValueError(
                            f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                            f"has {len(names)}"
                        )
                    batch.append(row)
                    lines.append(reader.line_num)
                    if len(batch) == _CHUNK:
                        chunks.append(_csv_chunk(path, names, batch, lines))
                        batch = []
            except csv.Error as exc:
                raise ValueError(
                    f"{path}: line {reader.line_num} is not valid CSV ({exc})"
                ) from None
            if batch:
                chunks.append(_csv_chunk(path, names, batch, lines))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})"
        ) from None
    columns.lines = np.array(lines, dtype=np.int64)
    for index, name in enumerate(names):
        parts = [chunk[index] for chunk in chunks]
        columns.values[name] = np.concatenate([v for v, _ in parts]) if parts else np.empty(0)
        has = np.concatenate([h for _, h in parts]) if parts else np.empty(0, dtype=bool)
        columns.present[name] = has
    return columns


def _csv_chunk(
    path: Path, names: list[str], batch: list[list[str]], lines: array[int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(values, present) of each column of ``batch``, the last rows read."""
    out = []
    for index, cells in enumerate(zip(*batch, strict=True)):
        try:
            numbers = np.array(list(map(float, cells)))
            has = np.ones(numbers.size, dtype=bool)
        except ValueError:
            has = np.array([bool(cell.strip()) for cell in cells])
            try:
                numbers = np.array(
                    [float(c) if h else np.nan for c, h in zip(cells, has, strict=True)]
                )
            except ValueError:
                bad = next(i for i, c in enumerate(cells) if c.strip() and not _is_float(c))
                line = lines[len(lines) - len(batch) + bad]
                raise ValueError(
                    f"{path}: line {line}: column {names[index]!r} holds {cells[bad]!r}, "
                    "not a number"
                ) from None
        out.append((numbers, has))
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_jsonl(path: Path) -> _Columns:
    columns = _RowColumns()
    where = f"{path}: "
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    columns.add(number, _json_object(line, path, number), where)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})"
        ) from None
    return columns.done()


def _json_object(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {number} is not JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError(f"{path}: line {number} is nested too deeply to be a log row") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: line {number} is not a JSON object")
    return record


def _metric_column(names: list[str], metric: str | None, path: Path) -> str | None:
    if metric is not None:
        for candidate in (f"val_{metric}", metric):
            if candidate in names:
                return candidate
        raise ValueError(
            f"metric: {path} has no column 'val_{metric}'; columns are {', '.join(names)}"
        )
    if "val_metric" in names:
        return "val_metric"
    return next((n for n in names if n.startswith("val_") and n != "val_loss"), None)
