"""One worker's loop: take a waiting trial, evaluate it, tell the study; repeat until the
study has nothing waiting and nothing running.

A trial whose worker vanished is failed and re-queued with the same parameters (Optuna's
``RetryHeartbeatStaleTrialCallback``): on PostgreSQL when its heartbeat stops (Optuna's
``fail_stale_trials``), on a journal file when its worker's lock is free (:mod:`liveness`),
right away when the worker is interrupted, and, on either, when a trial was taken but never
claimed for ``GRACE_BEATS`` heartbeats (its worker died in between). Failing a trial and
queueing its copy are two writes: a lost trial left without its copy (its worker died in
between, the storage dropped, or a journal's torn copy was cut) is queued again once nothing
is waiting. Whoever fails, re-queues or looks for such trials holds the storage's
``exclusive`` lock, so each lost trial is queued again exactly once.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrkit.search.liveness import WorkerLocks
from lrkit.search.objective import Objective, Pruned, SearchTrial
from lrkit.search.outage import Patience, StorageUnreachable, is_connection_error
from lrkit.search.study import SearchConfig

#: ``host:pid:token:trial_number`` of the worker running a trial (see :func:`owner`).
WORKER_ATTR = "lrkit_worker"
ERROR_ATTR = "lrkit_error"
#: The error of a trial failed because its worker was interrupted (it is run again).
INTERRUPTED = "interrupted"
#: A trial is lost after this many heartbeat intervals without a heartbeat (PostgreSQL) or
#: without its worker naming itself (a worker killed between taking and claiming it).
GRACE_BEATS = 3
#: Seconds between attempts of a heartbeat that failed.
BEAT_RETRY = 0.5
MAX_RETRY = 3

log = logging.getLogger("lrkit.search")


def worker_id() -> str:
    """``host:pid:token``: names a new worker. The random token tells it from a process that
    had the same pid, and from an earlier worker of this process: a trial that one left
    running (interrupted while recording its outcome) is then lost, not taken for this one's."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner(trial: FrozenTrial) -> str | None:
    """``host:pid:token`` of the worker that claimed ``trial``, or ``None`` if none has.

    The claim names the trial's number, so the claim a re-queued copy inherits from the trial
    it retries (Optuna's retry copies user attributes) does not count as its own.
    """
    value = trial.user_attrs.get(WORKER_ATTR)
    if value is None:
        return None
    worker, _, number = str(value).rpartition(":")
    return worker if number == str(trial.number) else None


def _unretried(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials failed as lost (not by their objective) that have no copy queued and are
    within Optuna's ``MAX_RETRY`` retries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = {
            trial.number: optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
            for trial in trials
        }
    retried = {number for numbers in history.values() for number in numbers}
    return [
        trial
        for trial in trials
        if trial.state == TrialState.FAIL
        and trial.user_attrs.get(ERROR_ATTR) in (None, INTERRUPTED)
        and trial.number not in retried
        and len(history[trial.number]) < MAX_RETRY
    ]


class _Abandoned(Exception):
    """Another worker failed and re-queued this worker's trial (its heartbeats did not reach
    the storage for the grace period), so the trial stops here at its next report."""


def work_loop(
    study: optuna.Study,
    objective: Objective,
    config: SearchConfig,
    *,
    storage: Any,
    patience: Patience | None = None,
    locks: WorkerLocks | None = None,
    exclusive: Callable[[], AbstractContextManager[None]] = nullcontext,
    poll: float = 0.5,
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> int:
    """Run trials of ``study`` until none is waiting or running; return how many ran here.

    ``storage`` is the storage ``study`` was loaded from (with heartbeats on PostgreSQL);
    ``patience`` retries its calls while it is unreachable; ``locks`` tell whether the
    worker of a journal file's trial is alive; ``exclusive()`` keeps the other workers from
    failing or re-queueing trials while the block runs (:func:`lrkit.search.storage.exclusive`).
    """
    worker = _Worker(
        study, objective, config, storage, patience or Patience("storage"), locks, exclusive
    )
    with locks.hold(worker.me) if locks is not None else nullcontext():
        ran = 0
        while True:
            worker.recover_lost_trials()
            taken = worker.take()
            if taken is None:
                if worker.requeue_unretried():
                    continue
                if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                    return ran
                time.sleep(poll)
                continue
            frozen = worker.run(*taken)
            if frozen is None:
                continue  # another worker declared it lost before this one could claim it
            ran += 1
            if on_trial is not None:
                on_trial(frozen)


class _Worker:
    def __init__(
        self,
        study: optuna.Study,
        objective: Objective,
        config: SearchConfig,
        storage: Any,
        patience: Patience,
        locks: WorkerLocks | None,
        exclusive: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.study = study
        self.objective = objective
        self.config = config
        self.storage = storage  # calls from this thread, retried where the storage needs it
        self.backend = getattr(storage, "backend", storage)  # the heartbeat's own retries
        self.patience = patience
        self.locks = locks
        self.exclusive = exclusive
        self.me = worker_id()
        self.study_id = storage.get_study_id_from_name(study.study_name)
        getter = getattr(self.backend, "get_heartbeat_interval", None)
        self.heartbeat = getter() if callable(getter) else None
        interval = self.heartbeat or config.heartbeat_interval
        self.grace = GRACE_BEATS * interval
        self._ids: dict[int, int] = {}
        self._unclaimed: dict[int, float] = {}
        self._stale_study: optuna.Study | None = None

    def trial_id(self, number: int) -> int:
        if number not in self._ids:
            found = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
            self._ids[number] = int(found)
        return self._ids[number]

    def take(self) -> tuple[int, int] | None:
        """Move one waiting trial to running; its (id, number), or ``None`` if none waits.

        ``Study.ask()`` would do this too, but creates a new trial when none is waiting: the
        study would end with more than ``n_trials`` trials (and a grid point run twice), so
        workers only take the waiting trials the study's creator enqueued.
        """
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = self.trial_id(trial.number)
            try:
                if self.storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return trial_id, trial.number
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return None

    def run(self, trial_id: int, number: int) -> FrozenTrial | None:
        """Claim the taken trial, evaluate it and record its outcome; ``None`` if it was
        declared lost before this worker could claim it."""
        with self._beating(trial_id):
            try:
                self.storage.set_trial_user_attr(trial_id, WORKER_ATTR, f"{self.me}:{number}")
            except optuna.exceptions.UpdateFinishedTrialError:
                return None
            trial = optuna.Trial(self.study, trial_id)
            try:
                value = self._evaluate(trial)
            except Pruned:
                return self._tell(trial, TrialState.PRUNED)
            except _Abandoned as exc:
                log.warning("trial %d given up: %s", number, exc)
                return self._tell(trial, TrialState.FAIL, error=str(exc))
            except KeyboardInterrupt:
                with self.exclusive():
                    frozen = self._tell(trial, TrialState.FAIL, error=INTERRUPTED)
                    lost = _unretried(self.study.get_trials(deepcopy=False))
                    if frozen.number in {t.number for t in lost}:  # not queued by another
                        self._requeue(frozen)
                raise
            except StorageUnreachable:
                raise  # the storage, not the objective, failed: nothing can be recorded
            except (Exception, SystemExit) as exc:  # sys.exit: a failed trial, not a dead worker
                log.warning("trial %d failed: %s: %s", number, type(exc).__name__, exc)
                return self._tell(trial, TrialState.FAIL, error=f"{type(exc).__name__}: {exc}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            error = f"objective returned {value!r}, not a finite number"
            return self._tell(trial, TrialState.FAIL, error=error)
        return self._tell(trial, TrialState.COMPLETE, float(value))

    def _evaluate(self, trial: optuna.Trial) -> Any:
        def report(score: float, step: int) -> None:
            try:
                trial.report(score, step)
            except optuna.exceptions.UpdateFinishedTrialError:
                raise _Abandoned(
                    "another worker declared it lost while this one could not reach the storage"
                ) from None
            if trial.should_prune():
                raise Pruned(f"pruned at step {step} with score {score:g}")

        params = self.config.space.suggest(trial)
        return self.objective(SearchTrial(trial.number, params, report, trial))

    def _tell(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | None = None,
        error: str | None = None,
    ) -> FrozenTrial:
        """Record the outcome; a trial another worker already failed as lost keeps that."""
        try:
            if error is not None:
                trial.set_user_attr(ERROR_ATTR, error[:500])
            frozen = self.study.tell(trial, value, state=state, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            frozen = self.storage.get_trial(self.trial_id(trial.number))
        if frozen.state != state:
            log.warning(
                "trial %d was declared lost by another worker and re-queued; its outcome here "
                "is not recorded",
                trial.number,
            )
        return frozen

    def recover_lost_trials(self) -> None:
        """Fail and re-queue running trials whose worker is gone (see the module docstring).

        Nothing is declared lost until the storage has answered for ``1.5`` heartbeat
        intervals since it last failed: after an outage every live worker's heartbeat gets
        through first.
        """
        if self.heartbeat and self.patience.reachable_for() < 1.5 * self.heartbeat:
            return
        if self.heartbeat:
            with warnings.catch_warnings(), self.exclusive():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.patience.call(optuna.storages.fail_stale_trials, self._stale())
        now = time.monotonic()
        answering = self.patience.reachable_since() or now
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        self._unclaimed = {t.number: self._unclaimed.get(t.number, now) for t in running}
        for trial in running:
            worker = owner(trial)
            if worker is None:
                lost = now - max(self._unclaimed[trial.number], answering) > self.grace
            else:
                lost = self.heartbeat is None and self._gone(worker)
            if lost:
                self._fail_and_requeue(trial.number)

    def _gone(self, worker: str) -> bool:
        """Whether ``worker`` of a journal file has ended (only told for this machine's)."""
        host = worker.rsplit(":", 2)[0]
        return self.locks is not None and host == socket.gethostname() and self.locks.gone(worker)

    def _stale(self) -> optuna.Study:
        """The study on the heartbeat storage itself, for Optuna's ``fail_stale_trials``."""
        if self._stale_study is None:
            self._stale_study = self.patience.call(
                optuna.load_study, study_name=self.study.study_name, storage=self.backend
            )
        return self._stale_study

    def _fail_and_requeue(self, number: int) -> None:
        trial_id = self.trial_id(number)
        with self.exclusive():
            try:
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    return
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker got there first
            self._requeue(self.storage.get_trial(trial_id))

    def requeue_unretried(self) -> bool:
        """Queue a copy of each lost trial that has none; whether any was queued."""
        if not _unretried(self.study.get_trials(deepcopy=False)):
            return False
        with self.exclusive():  # read again: another worker may have queued them meanwhile
            lost = _unretried(self.study.get_trials(deepcopy=False))
            for trial in lost:
                log.info("trial %d was lost without being queued again; queueing it", trial.number)
                self._requeue(trial)
        return bool(lost)

    def _requeue(self, frozen: FrozenTrial) -> None:
        """Queue a copy of ``frozen`` with the same parameters (Optuna's retry callback)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(
                self.study, frozen
            )

    @contextmanager
    def _beating(self, trial_id: int) -> Iterator[None]:
        """Record ``trial_id``'s heartbeat every interval while the block runs (PostgreSQL).

        Optuna's own heartbeat thread (inside ``Study.optimize``) ends at the first storage
        error, and the trial it kept alive is then declared stale and run a second time while
        it still runs here; this one retries every ``BEAT_RETRY`` s until it is stopped.
        """
        if not self.heartbeat:
            yield
            return
        interval = self.heartbeat
        self.patience.call(self.backend.record_heartbeat, trial_id)
        stop = threading.Event()

        def beat() -> None:
            wait = float(interval)
            while not stop.wait(wait):
                try:
                    self.backend.record_heartbeat(trial_id)
                except Exception as exc:  # the thread must outlive any storage error
                    if is_connection_error(exc):
                        self.patience.failed()
                    else:
                        log.warning("heartbeat of trial %d failed: %s", trial_id, exc)
                    wait = BEAT_RETRY
                    continue
                self.patience.answered()
                wait = float(interval)

        thread = threading.Thread(target=beat, name=f"lrkit-heartbeat-{trial_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
