"""Where a study lives: memory (one process), a journal file (several processes on one
machine) or PostgreSQL (many machines, with heartbeats).

SQLite is refused: it is not safe with several writers. Passwords in storage URLs never
appear in messages: every message shows :func:`redact` of the URL.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from lrkit.search.journal import held, open_journal
from lrkit.search.outage import Patience, is_connection_error

#: The storage name of an in-memory study (kept by one process, gone when it ends).
MEMORY = "memory"


def kind(url: str | None) -> str:
    """``"memory"`` (``None`` or ``"memory"``), ``"postgresql"`` (a URL) or ``"journal"`` (a
    file path)."""
    if url is None or url == MEMORY:
        return "memory"
    if not isinstance(url, str) or not url:
        raise TypeError(f"storage: must be None, a file path or a URL, got {url!r}")
    if "://" not in url:
        return "journal"
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        return "postgresql"
    if scheme.startswith("sqlite"):
        raise ValueError(
            f"storage: SQLite ({redact(url)}) is not used because it is unsafe with several "
            "writers; use a journal file path (one machine) or a postgresql:// URL (many)"
        )
    raise ValueError(
        f"storage: unsupported URL {redact(url)}; use a journal file path (one machine) or "
        "postgresql://user:password@host:port/database (many machines)"
    )


def redact(url: str | None) -> str:
    """``url`` with its password (in the authority or a ``password=`` query) as ``***``."""
    if url is None:
        return MEMORY
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        url = url.replace(f"//{netloc}", f"//{userinfo}@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        hidden = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs])
        url = url.replace(f"?{parts.query}", f"?{hidden}", 1)
    return url


def scrub(message: str, url: str | None) -> str:
    """``message`` with any password from ``url`` replaced by ``***``."""
    if url is None or "://" not in url:
        return message
    parts = urlsplit(url)
    secrets = [parts.password] if parts.password else []
    secrets += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    for secret in secrets:
        message = message.replace(secret, "***")
    return message.replace(url, redact(url))


def open_storage(
    url: str | None,
    *,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
    max_retry: int = 3,
) -> Any:
    """An Optuna storage for ``url``.

    PostgreSQL gets heartbeats every ``heartbeat_interval`` seconds; a running trial silent
    for ``grace_period`` seconds (default ``3 · heartbeat_interval``) is failed and re-queued
    with the same parameters, at most ``max_retry`` times (Optuna's
    ``RetryHeartbeatStaleTrialCallback``, which Optuna 4.9 renamed from
    ``RetryFailedTrialCallback``).
    """
    import optuna

    storage_kind = kind(url)
    if storage_kind == "memory":
        return optuna.storages.InMemoryStorage()
    assert url is not None
    if storage_kind == "journal":
        path = Path(url)
        if path.is_dir():
            raise ValueError(f"storage: {url} is a directory; give a journal file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_journal(path)
    if not isinstance(heartbeat_interval, int) or heartbeat_interval < 1:
        raise ValueError(f"heartbeat_interval: must be an integer >= 1, got {heartbeat_interval!r}")
    grace = grace_period if grace_period is not None else 3 * heartbeat_interval
    if not isinstance(grace, int) or grace <= heartbeat_interval:
        raise ValueError(
            f"grace_period: must be an integer > heartbeat_interval ({heartbeat_interval}), "
            f"got {grace!r}"
        )
    return _open_postgres(url, heartbeat_interval, grace, max_retry)


def _open_postgres(url: str, heartbeat_interval: int, grace: int, max_retry: int) -> Any:
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    given = url
    url = _with_driver(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True},
                heartbeat_interval=heartbeat_interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=retry,
            )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            reason = getattr(exc, "orig", None) or exc
            first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
            detail = scrub(scrub(first_line or type(exc).__name__, url), given)
    raise ValueError(f"storage: cannot use {redact(given)}: {detail}")


def _with_driver(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if scheme.lower() in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{rest}"  # the driver lrkit[search] installs
    return url


def exclusive(
    url: str | None, study_name: str, patience: Patience
) -> Callable[[], AbstractContextManager[None]]:
    """A lock that the workers of study ``study_name`` hold while they fail lost trials and
    queue them again: the journal's own lock, or a PostgreSQL advisory lock (Optuna's
    storages have no compare-and-set, so two workers could otherwise queue the same trial)."""
    storage_kind = kind(url)
    if storage_kind == "journal":
        assert url is not None
        return partial(held, url)
    if storage_kind == "postgresql":
        assert url is not None
        return AdvisoryLock(url, study_name, patience)
    return nullcontext


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock named after the study, each time on a new
    connection: closing it ends the session, which releases the lock, and the server ends it
    too when its worker dies, so no lock outlives the worker that took it."""

    def __init__(self, url: str, study_name: str, patience: Patience) -> None:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        self.engine = sqlalchemy.create_engine(
            _with_driver(url), poolclass=NullPool, connect_args={"connect_timeout": 10}
        )
        digest = hashlib.sha256(f"lrkit-search:{study_name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.patience = patience

    @contextmanager
    def __call__(self) -> Iterator[None]:
        connection = self.patience.call(self._acquire)
        try:
            yield
        finally:
            try:
                connection.close()
            except Exception as exc:
                if not is_connection_error(exc):
                    raise  # a connection the server already dropped holds no lock

    def _acquire(self) -> Any:
        import sqlalchemy

        connection = self.engine.connect()
        try:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
        except BaseException:
            connection.close()
            raise
        return connection
