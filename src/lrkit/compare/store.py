"""Where a comparison keeps its results: one SQLite file, ``DIR/compare.sqlite``.

Only the parent process writes, one finished run per transaction, so an interrupted
comparison loses at most the runs still in progress. Values are JSON text (never pickle).

A store written before two renames is read in today's names: its ``strategies.plan`` column
is now ``strategies.resolved`` and its ``range_test`` setting is now ``range_test_settings``.
Opening it for writing renames both in place, in one transaction; a read-only open reads
the old names as the new ones.
"""

from __future__ import annotations

import errno
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lrkit.compare.resolve import current_definition

#: The file a comparison keeps its results in, inside its output directory.
FILENAME = "compare.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS strategies (
    name TEXT PRIMARY KEY, position INTEGER NOT NULL, definition TEXT NOT NULL, resolved TEXT
);
CREATE TABLE IF NOT EXISTS range_tests (key TEXT PRIMARY KEY, result TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS runs (
    strategy TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
    record TEXT, error TEXT, finished_at REAL NOT NULL, PRIMARY KEY (strategy, seed)
);
"""

#: A run with this status is never run again.
FINISHED = "finished"
FAILED = "failed"

#: Earlier names of the settings stored in ``meta``: ``{old: new}``.
RENAMED_SETTINGS = {"range_test": "range_test_settings"}


def dumps(value: Any) -> str:
    """JSON text with non-finite floats stored as ``null``."""
    return json.dumps(_finite(value), allow_nan=False, sort_keys=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def current_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with an old key (:data:`RENAMED_SETTINGS`) under its new name."""
    out = dict(settings)
    for old, new in RENAMED_SETTINGS.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    return out


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """SQLite's errors as lrkit's, naming the file: a disk that cannot take the write
    (``OSError``) or a file that is not a comparison (``ValueError``)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise OSError(errno.EIO, f"cannot use the comparison store ({exc})", str(path)) from None
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not an lrkit comparison ({exc})") from None


class Store:
    """The SQLite file of one comparison directory."""

    def __init__(self, directory: str | Path, *, create: bool = True) -> None:
        """Open (``create``: create) the store; without ``create`` it is opened read only."""
        self.path = Path(directory) / FILENAME
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"{directory}: no comparison here (missing {FILENAME})")
        with _named(self.path):
            if not create:  # read only: a reader never writes, not even the schema
                self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                self._check_schema()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.executescript(SCHEMA)
            self._db.commit()
            self._migrate()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with _named(self.path), self._db:
            yield

    def _check_schema(self) -> None:
        """``ValueError`` naming the file unless it holds every table of a comparison."""
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        missing = sorted({"meta", "strategies", "range_tests", "runs"} - {n for (n,) in rows})
        if missing:
            self._db.close()
            raise ValueError(
                f"{self.path}: not an lrkit comparison (no table {', '.join(missing)})"
            )

    def _strategy_columns(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(strategies)")}

    @property
    def _resolved_column(self) -> str:
        """``resolved``, or ``plan`` in a store written before the rename (opened read only)."""
        columns = self._strategy_columns()
        return "plan" if "plan" in columns and "resolved" not in columns else "resolved"

    def _migrate(self) -> None:
        """Rename an old store's ``plan`` column and old setting keys, in one transaction
        (another process may be doing the same: the write lock is taken before looking)."""
        if self._resolved_column == "resolved" and not self._old_settings():
            return
        with self._transaction():
            self._db.execute("BEGIN IMMEDIATE")
            if self._resolved_column == "plan":
                self._db.execute("ALTER TABLE strategies RENAME COLUMN plan TO resolved")
            for old in self._old_settings():
                self._db.execute(
                    "UPDATE meta SET key = ? WHERE key = ?", (RENAMED_SETTINGS[old], old)
                )

    def _old_settings(self) -> list[str]:
        """The old setting keys stored without their new name."""
        keys = {key for (key,) in self._db.execute("SELECT key FROM meta")}
        return [old for old, new in RENAMED_SETTINGS.items() if old in keys and new not in keys]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # settings -----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every stored setting, an old key (:data:`RENAMED_SETTINGS`) under its new name."""
        rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return current_settings({key: json.loads(value) for key, value in rows})

    def check_settings(
        self,
        settings: dict[str, Any],
        fixed: Iterable[str],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``settings``; refuse if a stored value of a ``fixed`` key differs (the error
        names a key by its entry in ``labels``, if any: the argument the caller passed)."""
        stored = self.settings()
        for key in fixed:
            if key in stored and stored[key] != settings.get(key):
                label = (labels or {}).get(key, key)
                raise ValueError(
                    f"--out: {self.path} holds a comparison with {label}={stored[key]!r}, not "
                    f"{settings.get(key)!r}; pass --overwrite to start over or choose another --out"
                )
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(key, dumps(value)) for key, value in settings.items()],
            )

    # strategies ---------------------------------------------------------------------------
    def add_strategy(self, definition: dict[str, Any], resolved: dict[str, Any] | None) -> None:
        """Record a strategy and its resolved form (``None`` if it could not be resolved);
        refuse one whose name is stored with another definition."""
        name = definition["name"]
        row = self._db.execute(
            "SELECT definition FROM strategies WHERE name = ?", (name,)
        ).fetchone()
        if row is not None and current_definition(json.loads(row[0])) != json.loads(
            dumps(definition)
        ):
            raise ValueError(
                f"strategies: {name!r} is stored in {self.path} with another definition "
                f"({row[0]}); rename it, pass --overwrite, or choose another --out"
            )
        with self._transaction():
            if row is None:
                (count,) = self._db.execute("SELECT COUNT(*) FROM strategies").fetchone()
                self._db.execute(
                    "INSERT INTO strategies (name, position, definition, resolved)"
                    " VALUES (?, ?, ?, ?)",
                    (name, count, dumps(definition), None if resolved is None else dumps(resolved)),
                )
            else:
                self._db.execute(
                    "UPDATE strategies SET resolved = ? WHERE name = ?",
                    (None if resolved is None else dumps(resolved), name),
                )

    def strategies(self) -> list[dict[str, Any]]:
        """``[{"definition": ..., "resolved": ...}]`` in the order they were first added."""
        rows = self._db.execute(
            f"SELECT definition, {self._resolved_column} FROM strategies ORDER BY position"
        ).fetchall()
        return [
            {"definition": json.loads(d), "resolved": None if r is None else json.loads(r)}
            for d, r in rows
        ]

    # range tests --------------------------------------------------------------------------
    def range_test(self, key: str) -> tuple[dict[str, Any] | None, str | None] | None:
        """``(result, error)`` of a stored range test, or ``None`` if it has not run."""
        row = self._db.execute(
            "SELECT result, error FROM range_tests WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return (None if row[0] is None else json.loads(row[0])), row[1]

    def put_range_test(self, key: str, result: dict[str, Any] | None, error: str | None) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO range_tests (key, result, error) VALUES (?, ?, ?)",
                (key, None if result is None else dumps(result), error),
            )

    def range_tests(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT key, result, error FROM range_tests").fetchall()
        return {
            key: {"result": None if result is None else json.loads(result), "error": error}
            for key, result, error in rows
        }

    # runs ---------------------------------------------------------------------------------
    def finished(self) -> set[tuple[str, int]]:
        """``(strategy, seed)`` of every run that finished (and will not run again)."""
        rows = self._db.execute("SELECT strategy, seed FROM runs WHERE status = ?", (FINISHED,))
        return {(name, int(seed)) for name, seed in rows}

    def put_run(
        self,
        strategy: str,
        seed: int,
        status: str,
        record: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Store one run now (its own transaction); a later result replaces a failed one."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO runs (strategy, seed, status, record, error, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    strategy,
                    seed,
                    status,
                    None if record is None else dumps(record),
                    error,
                    time.time(),
                ),
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every stored run: strategy, seed, status, record, error, finished_at."""
        rows = self._db.execute(
            "SELECT strategy, seed, status, record, error, finished_at FROM runs "
            "ORDER BY strategy, seed"
        ).fetchall()
        return [
            {
                "strategy": name,
                "seed": int(seed),
                "status": status,
                "record": None if record is None else json.loads(record),
                "error": error,
                "finished_at": finished_at,
            }
            for name, seed, status, record, error, finished_at in rows
        ]
