"""Riding out a storage that is briefly unreachable (a PostgreSQL restart, a network blip).

Every storage call a worker makes goes through :class:`Patience`: a call that fails because
the server cannot be reached is retried with backoff (0.25 s, doubling, at most 2 s apart)
for up to ``seconds``; after that :class:`StorageUnreachable` says for how long it was
unreachable and that rerunning the same command resumes. Other errors pass through at once.

Optuna's ``RDBStorage`` does not retry: ``pool_pre_ping`` replaces a dead pooled connection
only when one is checked out, and a failure while the server is down surfaces as
``StorageInternalError`` ("... invalid data in the commit, e.g. exceeding max length"), whose
cause is the real connection error. :class:`RetryingStorage` adds the retries around it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Container, Sequence
from typing import Any, TypeVar

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

#: Seconds a worker keeps retrying an unreachable storage before it gives up.
PATIENCE = 60.0
FIRST_DELAY = 0.25
MAX_DELAY = 2.0

log = logging.getLogger("lrkit.search")
T = TypeVar("T")


class StorageUnreachable(RuntimeError):
    """The storage could not be reached for longer than the worker's patience."""

    def __init__(self, where: str, seconds: float) -> None:
        self.where = where
        self.seconds = seconds
        super().__init__(
            f"the storage {where} was unreachable for {seconds:.0f} s; finished trials are kept "
            "in it, and rerunning the same command resumes the search"
        )


def is_connection_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the server is unreachable
    or dropped the connection, rather than refusing what was asked."""
    from sqlalchemy import exc as sa

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StorageUnreachable):
            return False  # already retried for as long as it should be
        if isinstance(exc, (sa.OperationalError, sa.InterfaceError)):
            return True
        if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


class Patience:
    """Retries storage calls that fail with a connection error, for up to ``seconds``.

    ``reachable_for()`` is how long the storage has answered since its last failure: a worker
    declares other workers' trials lost only once their heartbeats had time to resume.
    """

    def __init__(self, where: str, seconds: float = PATIENCE) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"storage_patience: must be a number of seconds > 0, got {seconds!r}")
        self.where = where
        self.seconds = float(seconds)
        self._lock = threading.Lock()
        self._reachable_since: float | None = time.monotonic()

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)``, retried while the storage is unreachable."""
        began: float | None = None
        delay = FIRST_DELAY
        while True:
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                now = time.monotonic()
                if began is None:
                    began = now
                    self.failed()
                if now - began >= self.seconds:
                    raise StorageUnreachable(self.where, now - began) from None
                time.sleep(min(delay, self.seconds - (now - began)))
                delay = min(2 * delay, MAX_DELAY)
                continue
            self.answered()
            return result

    def failed(self) -> None:
        with self._lock:
            if self._reachable_since is not None:
                log.info("storage %s unreachable; retrying for %.0f s", self.where, self.seconds)
            self._reachable_since = None

    def answered(self) -> None:
        with self._lock:
            if self._reachable_since is None:
                log.info("storage %s reachable again", self.where)
                self._reachable_since = time.monotonic()

    def reachable_since(self) -> float | None:
        """``time.monotonic()`` when the storage last began answering (``None``: it is down)."""
        with self._lock:
            return self._reachable_since

    def reachable_for(self) -> float:
        since = self.reachable_since()
        return 0.0 if since is None else time.monotonic() - since


def _quiet_failed_reads(record: logging.LogRecord) -> bool:
    """Drop the warning ``RDBStorage.get_all_trials`` logs before it retries a read the other
    way: on PostgreSQL it means the connection failed, and the retries here handle that."""
    return not record.getMessage().startswith("Caught an error from sqlalchemy")


class RetryingStorage(BaseStorage):
    """An Optuna storage whose every call is retried through ``patience``.

    A write whose commit reached the server just before the connection dropped is not
    repeated blindly: finishing a trial that is already finished in the requested state
    counts as done.
    """

    def __init__(self, backend: BaseStorage, patience: Patience) -> None:
        self.backend = backend
        self.patience = patience
        rdb_log = logging.getLogger("optuna.storages._rdb.storage")  # the logger RDBStorage uses
        if _quiet_failed_reads not in rdb_log.filters:
            rdb_log.addFilter(_quiet_failed_reads)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.patience.call(getattr(self.backend, name), *args, **kwargs)

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._call("create_new_study", directions, study_name))

    def delete_study(self, study_id: int) -> None:
        self._call("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._call("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._call("get_study_name_from_id", study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._call("get_study_directions", study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_user_attrs", study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_system_attrs", study_id))

    def get_all_studies(self) -> list[Any]:  # FrozenStudy, not exported by optuna.study
        return list(self._call("get_all_studies"))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._call("create_new_trial", study_id, template_trial))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._call("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        attempts = 0

        def attempt() -> bool:
            nonlocal attempts
            attempts += 1
            try:
                return bool(self.backend.set_trial_state_values(trial_id, state, values))
            except optuna.exceptions.UpdateFinishedTrialError:
                if attempts > 1 and self.backend.get_trial(trial_id).state == state:
                    return True  # the earlier attempt was committed before its answer was lost
                raise

        return self.patience.call(attempt)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._call("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial: FrozenTrial = self._call("get_trial", trial_id)
        return trial

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return list(self._call("get_all_trials", study_id, deepcopy=deepcopy, states=states))

    def remove_session(self) -> None:
        self._call("remove_session")
