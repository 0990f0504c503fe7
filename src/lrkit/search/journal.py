"""A journal file: opened under its lock, and repaired when its last record was torn.

A full disk or a process killed mid-write leaves a partial last line. Optuna's reader skips
it, but the next record is appended to it and the journal becomes unreadable. On opening, a
torn last record is cut (the original is kept beside it as ``FILE.torn-TIMESTAMP``); a
damaged record with records after it is refused, as cutting it would lose them.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optuna.storages.journal import (
    JournalFileBackend,
    JournalFileOpenLock,
    JournalStorage,
)

from lrkit._files import replaced

_CHUNK = 1 << 16


def open_journal(path: Path) -> JournalStorage:
    """A journal storage on ``path``, its torn last record (if any) cut first."""
    lock = _journal_lock(str(path))  # no worker appends while the file is checked
    lock.acquire()
    try:
        try:
            storage = JournalStorage(
                JournalFileBackend(str(path), lock_obj=_journal_lock(str(path)))
            )
        except ValueError as exc:  # a damaged record before the last (Optuna skips the last)
            line = _damaged_line(path)
            if line is None:
                raise
            raise _refusal(path, line, exc) from None
        _cut_torn_tail(path)
    finally:
        lock.release()
    return storage


def _cut_torn_tail(path: Path) -> None:
    """Cut a last line that is unterminated or not JSON, keeping the original as a backup."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb") as handle:
        start = _last_line_start(handle, size)
        handle.seek(start)
        last = handle.read()
    if last.endswith(b"\n") and _parses(last):
        return
    backup = _backup(path)
    with replaced(path) as partial:
        shutil.copyfile(backup, partial)
        os.truncate(partial, start)
    cut = size - start
    print(
        f"lrkit: {path}: cut a torn last record ({cut} bytes, left by a full disk or a "
        f"process killed mid-write); the original is kept as {backup}",
        file=sys.stderr,
    )


def _last_line_start(handle: Any, size: int) -> int:
    """Offset of the first byte after the last newline before the final byte (0 if none)."""
    end = size - 1
    while end > 0:
        begin = max(0, end - _CHUNK)
        handle.seek(begin)
        found = handle.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return False
    return True


def _backup(path: Path) -> Path:
    """A new ``PATH.torn-TIMESTAMP[-N]`` holding the original bytes. A hard link copies
    nothing (the disk may still be full) and, like the exclusive copy, never overwrites."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(100):
        backup = path.with_name(f"{path.name}.torn-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            os.link(path, backup)
            return backup
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            pass
        try:
            with path.open("rb") as source, backup.open("xb") as copy:
                shutil.copyfileobj(source, copy)
                copy.flush()
                os.fsync(copy.fileno())
            return backup
        except FileExistsError:
            continue
        except BaseException:
            backup.unlink(missing_ok=True)
            raise
    raise FileExistsError(f"storage: {path}: no free name for a backup beside it")


def _damaged_line(path: Path) -> int | None:
    """The number of the first line Optuna's reader cannot read, or ``None`` if it reads all."""
    line = 1
    try:
        for _ in JournalFileBackend(str(path)).read_logs(0):
            line += 1
    except ValueError:
        return line
    return None


def _refusal(path: Path, line: int, exc: ValueError) -> ValueError:
    """Why a damaged record with records after it is not cut, and how to cut it by hand."""
    keep = shlex.quote(str(path))
    return ValueError(
        f"storage: {path}: line {line} is not a journal record ({exc}) and records follow it, "
        f"so it is not cut; restore the file from a backup, or keep the {line - 1} records "
        f"before it (the trials recorded after them are lost): "
        f"head -n {line - 1} {keep} > {keep}.kept && mv {keep}.kept {keep}"
    )


@contextmanager
def held(path: str | Path) -> Iterator[None]:
    """Hold the journal's lock while the block runs, so that what it reads stays true until
    it has written (a no-op without ``flock``). Its own writes re-enter the lock."""
    if os.name != "posix":
        yield
        return
    lock = FlockLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _journal_lock(path: str) -> Any:
    """``flock`` where the system has it, else (Windows, where making a symbolic link needs
    an administrator) Optuna's exclusively created lock file, forcibly freed after 30 s."""
    return FlockLock(path) if os.name == "posix" else JournalFileOpenLock(path)


class _Holding:
    """This process's hold of one lock file: a thread holds it, as many times over as it
    entered it (an ``flock`` taken twice by one process would wait for itself)."""

    def __init__(self) -> None:
        self.thread = threading.RLock()
        self.depth = 0
        self.fd: int | None = None


_HOLDINGS: dict[str, _Holding] = {}
_HOLDINGS_LOCK = threading.Lock()


class FlockLock(JournalFileOpenLock):
    """A kernel file lock: the kernel drops it when its holder dies, so a killed worker never
    leaves a stale lock behind. A thread already holding it enters it again at once."""

    def __init__(self, filepath: str) -> None:
        super().__init__(filepath)
        flock_path = os.path.abspath(filepath + ".flock")
        with _HOLDINGS_LOCK:
            self._holding = _HOLDINGS.setdefault(flock_path, _Holding())
        self._flock_path = flock_path

    def acquire(self) -> bool:
        import fcntl

        holding = self._holding
        holding.thread.acquire()
        if holding.depth == 0:
            try:
                fd = os.open(self._flock_path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
            except BaseException:
                holding.thread.release()
                raise
            holding.fd = fd
        holding.depth += 1
        return True

    def release(self) -> None:
        import fcntl

        holding = self._holding
        holding.depth -= 1
        if holding.depth == 0 and holding.fd is not None:
            fcntl.flock(holding.fd, fcntl.LOCK_UN)
            os.close(holding.fd)
            holding.fd = None
        holding.thread.release()
