"""Where a study lives: memory (one process), a journal file (several processes on one
machine) or PostgreSQL (many machines, with heartbeats).

SQLite is refused: it is not safe with several writers. Passwords in storage URLs never
appear in messages: every message shows :func:`redact` of the URL.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from lrkit.search.journal import open_journal

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
    scheme, rest = url.split("://", 1)
    if scheme.lower() in ("postgres", "postgresql"):
        url = f"postgresql+psycopg2://{rest}"  # the driver lrkit[search] installs
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
