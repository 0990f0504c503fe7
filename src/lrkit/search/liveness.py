"""Whether the worker that took a trial of a journal file is still alive.

Optuna's journal storage has no heartbeat. Each worker instead holds an exclusive ``flock``
on its own file in ``JOURNAL.workers/`` for as long as it runs; the kernel releases the lock
when the process ends, however it ends (``kill -9`` included), so a lock another process can
take means its holder is gone. This needs no clock, no writes to the journal and no reading
of ``/proc``; it works for the processes of one machine, which is what a journal file serves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class WorkerLocks:
    """The lock files of the workers of one journal file, in ``JOURNAL.workers/``."""

    def __init__(self, journal: str | Path) -> None:
        self.journal = Path(journal)
        self.folder = Path(f"{journal}.workers")

    @contextmanager
    def hold(self, worker: str) -> Iterator[None]:
        """Hold ``worker``'s lock while the block runs (a no-op where ``flock`` is missing)."""
        if os.name != "posix":
            yield
            return
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(worker)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def gone(self, worker: str) -> bool:
        """Whether ``worker`` has ended: its lock is free, or was removed when it finished.

        Without ``flock`` (Windows) this cannot be told, and a worker is never declared gone.
        """
        if os.name != "posix":
            return False
        return self._remove_if_free(self._path(worker))

    def discard(self) -> None:
        """Remove the lock files of a journal being discarded, and their folder once empty;
        ``ValueError`` if a worker still runs on it. Files lrkit did not write are kept."""
        if os.name != "posix" or not self.folder.is_dir():
            return
        ours = [p for p in self.folder.iterdir() if _LOCK_NAME.fullmatch(p.name) and p.is_file()]
        for path in ours:
            if not self._remove_if_free(path):
                raise ValueError(
                    f"a worker is still running on {self.journal} (it holds {path}); stop it "
                    "before discarding the journal"
                )
        with suppress(OSError):  # not empty: something else was put there
            self.folder.rmdir()

    @staticmethod
    def _remove_if_free(path: Path) -> bool:
        """Remove the lock file ``path`` if no process holds it; whether it is gone."""
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # releases the lock taken, if any
        path.unlink(missing_ok=True)
        return True

    def _path(self, worker: str) -> Path:
        return self.folder / worker.replace(":", "_").replace("/", "_")


#: The name of a worker's lock file: ``host_pid_token`` (see ``worker.worker_id``).
_LOCK_NAME = re.compile(r".+_[0-9]+_[0-9a-f]{8}")
