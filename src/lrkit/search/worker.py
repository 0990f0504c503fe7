"""One worker's loop: take a waiting trial, evaluate it, tell the study; repeat until the
study has nothing waiting and nothing running.

A trial whose worker vanished is failed and re-queued with the same parameters:
on PostgreSQL when its heartbeat stops (Optuna's heartbeat), on a journal file when its
process on this machine is gone, and right away when the worker is interrupted.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrkit.search.objective import Objective, Pruned, SearchTrial
from lrkit.search.study import SearchConfig

#: ``host:pid:start:trial_id`` of the worker that took a trial (see :func:`claim`).
WORKER_ATTR = "lrkit_worker"
ERROR_ATTR = "lrkit_error"
#: A running trial that never named its worker is lost after this many seconds.
UNCLAIMED_GRACE = 120.0
_PROC = Path("/proc/self/stat")

log = logging.getLogger("lrkit.search")


def worker_id() -> str:
    """``host:pid:start``: names this process, and tells a reused pid from it."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_token(pid)}"


def claim(me: str, trial_id: int) -> str:
    """The worker attribute for ``trial_id``: naming the trial too tells a fresh claim from
    the stale one a re-queued copy inherits from the trial it retries."""
    return f"{me}:{trial_id}"


def owner(trial: FrozenTrial) -> str | None:
    """``host:pid:start`` of the worker that took ``trial``, or ``None`` if none has yet."""
    value = trial.user_attrs.get(WORKER_ATTR)
    if value is None:
        return None
    worker, _, trial_id = str(value).rpartition(":")
    return worker if trial_id == str(trial._trial_id) else None


def work_loop(
    study: optuna.Study,
    objective: Objective,
    config: SearchConfig,
    *,
    poll: float = 0.5,
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> int:
    """Run trials of ``study`` until none is waiting or running; return how many ran here."""
    me = worker_id()
    ran = 0
    while True:
        recover_lost_trials(study)
        trial_id = _take_waiting_trial(study)
        if trial_id is None:
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return ran
            time.sleep(poll)
            continue
        frozen = run_trial(study, trial_id, objective, config, me)
        ran += 1
        if on_trial is not None:
            on_trial(frozen)


def run_trial(
    study: optuna.Study, trial_id: int, objective: Objective, config: SearchConfig, me: str
) -> FrozenTrial:
    """Evaluate the taken trial ``trial_id`` and record its outcome in the study."""
    storage = _storage(study)
    if _heartbeat_interval(storage):
        storage.record_heartbeat(trial_id)
    storage.set_trial_user_attr(trial_id, WORKER_ATTR, claim(me, trial_id))
    trial = optuna.Trial(study, trial_id)
    with _heartbeat(storage, trial_id):
        try:
            params = config.space.suggest(trial)
            value = objective(SearchTrial(trial.number, params, _reporter(trial), trial))
        except Pruned:
            return study.tell(trial, state=TrialState.PRUNED)
        except KeyboardInterrupt:
            frozen = study.tell(trial, state=TrialState.FAIL)
            _requeue(study, frozen)
            raise
        except (Exception, SystemExit) as exc:  # even sys.exit: a failed trial, not a dead worker
            log.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}"[:500])
            return study.tell(trial, state=TrialState.FAIL)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        trial.set_user_attr(ERROR_ATTR, f"objective returned {value!r}, not a finite number")
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, float(value))


def recover_lost_trials(study: optuna.Study) -> None:
    """Fail and re-queue running trials whose worker is gone.

    With heartbeats (PostgreSQL) a trial is lost when its heartbeat stops; without (journal
    file) when its process on this machine has ended. A trial that never named its worker is
    lost after ``UNCLAIMED_GRACE`` seconds.
    """
    heartbeats = bool(_heartbeat_interval(_storage(study)))
    if heartbeats:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    now = datetime.now()
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = owner(trial)
        if worker is None:
            started = trial.datetime_start or now
            lost = (now - started).total_seconds() > UNCLAIMED_GRACE
        elif heartbeats:
            continue
        else:
            owner_host, pid, token = worker.rsplit(":", 2)
            lost = owner_host == host and _start_token(int(pid)) != token
        if lost:
            _fail_and_requeue(study, trial._trial_id)


def _fail_and_requeue(study: optuna.Study, trial_id: int) -> None:
    try:
        if not _storage(study).set_trial_state_values(trial_id, state=TrialState.FAIL):
            return
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # another worker got there first
    _requeue(study, _storage(study).get_trial(trial_id))


def _requeue(study: optuna.Study, frozen: FrozenTrial) -> None:
    """Queue a copy of ``frozen`` with the same parameters (Optuna's retry callback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)(study, frozen)


def _take_waiting_trial(study: optuna.Study) -> int | None:
    """Atomically move one waiting trial to running; ``None`` when none is left."""
    storage = _storage(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _reporter(trial: optuna.Trial) -> Callable[[float, int], None]:
    def report(score: float, step: int) -> None:
        trial.report(score, step)
        if trial.should_prune():
            raise Pruned(f"pruned at step {step} with score {score:g}")

    return report


@contextmanager
def _heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record ``trial_id``'s heartbeat every interval while the block runs (if enabled)."""
    interval = _heartbeat_interval(storage)
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"lrkit-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _heartbeat_interval(storage: Any) -> int | None:
    getter = getattr(storage, "get_heartbeat_interval", None)
    return getter() if callable(getter) else None


def _storage(study: optuna.Study) -> Any:
    """The storage object the study itself uses (so its cache stays consistent)."""
    return study._storage


def _start_token(pid: int) -> str:
    """When process ``pid`` started (from /proc), or ``"-"``; ``""`` if it is gone."""
    if not _PROC.exists():
        return _alive_token(pid)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]


def _alive_token(pid: int) -> str:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass
    return "-"
