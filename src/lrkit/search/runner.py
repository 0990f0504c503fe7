"""Run a search: create (or resume) the study, work on it with one or more processes, and
read back the result.

``workers=1`` works in this process. ``workers=N`` starts N processes on this machine that
share a journal file or a PostgreSQL database; more machines join with :func:`work`
(``lrkit search worker``). Every storage call is retried while the storage is unreachable,
for up to ``storage_patience`` seconds (:mod:`lrkit.search.outage`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import optuna

from lrkit.progress import progress_bar
from lrkit.search import objective as objectives
from lrkit.search import storage as storages
from lrkit.search import trust
from lrkit.search.liveness import WorkerLocks
from lrkit.search.outage import PATIENCE, Patience, RetryingStorage, StorageUnreachable
from lrkit.search.results import SearchResult, from_study
from lrkit.search.space import Space, as_space
from lrkit.search.study import SearchConfig, create_or_load, join
from lrkit.search.worker import work_loop

#: Exit status of a worker process that gave up on an unreachable storage (EX_TEMPFAIL).
UNREACHABLE_STATUS = 75


class WorkerLost(UserWarning):
    """A worker process of ``run(workers=N)`` died, but the others finished the study."""


class SearchStopped(RuntimeError):
    """The worker processes of ``run(workers=N)`` ended before the study was finished."""


def run(
    objective: objectives.Objective | str,
    *,
    space: Space | Mapping[str, Any],
    sampler: str = "tpe",
    pruner: str | None = None,
    n_trials: int = 20,
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    seed: int = 0,
    direction: str = "maximize",
    heartbeat_interval: int = 10,
    backend: str = "optuna",
    ray_address: str | None = None,
    progress: bool = True,
    storage_patience: float = PATIENCE,
    on_worker_lost: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search ``space`` for the point where ``objective(trial)`` scores best.

    ``sampler``: ``"tpe"`` (Bayesian), ``"random"``, ``"grid"`` (every combination, each once)
    or ``"log"`` (``n_trials`` learning rates evenly spaced on a log scale). ``pruner``:
    ``None``, ``"median"``, ``"hyperband"`` or ``"asha"`` (needs ``trial.report``).
    ``storage``: ``None`` or ``"memory"`` (kept in this process), a journal file path, or a
    ``postgresql://`` URL; rerunning with the same storage and settings resumes the study.
    ``backend="ray"`` runs the trials
    on a Ray cluster (``ray_address``, or a local Ray) instead.

    A storage that stays unreachable for more than ``storage_patience`` seconds raises
    :class:`~lrkit.search.outage.StorageUnreachable` (rerunning resumes). With ``workers=N``,
    a worker process that dies while the others finish the study is reported to
    ``on_worker_lost(message)`` (default: a :class:`WorkerLost` warning); if the study is left
    unfinished, :class:`SearchStopped` is raised.
    """
    target = objectives.resolve(objective)
    config = _config(target, space, sampler, pruner, n_trials, seed, direction, heartbeat_interval)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    if backend == "ray":
        from lrkit.search.ray_backend import run_ray

        if storages.kind(storage) != "memory":
            raise ValueError(
                f"storage: the ray backend keeps its trials in Ray, got {storages.redact(storage)}"
            )
        return run_ray(
            target, config, workers=workers, address=ray_address, name=study_name, progress=progress
        )
    if backend != "optuna":
        raise ValueError(f"backend: must be 'optuna' or 'ray', got {backend!r}")
    if workers > 1 and storages.kind(storage) == "memory":
        raise ValueError(
            f"workers: {workers} processes need shared storage; give storage a journal file "
            "path (one machine) or a postgresql:// URL (many machines)"
        )
    name = study_name or config.default_study_name()
    patience = Patience(storages.redact(storage), storage_patience)
    opened = _open(storage, config.heartbeat_interval, patience)
    study = create_or_load(opened, name, config, where=storages.redact(storage))
    with _progress(study, config, progress) as update:
        if workers == 1:
            work_loop(
                study, target, config, storage=opened, patience=patience,
                locks=_locks(storage), exclusive=storages.exclusive(storage, name, patience),
                on_trial=lambda _: update(),
            )  # fmt: skip
        else:
            codes = _run_processes(storage, name, target, workers, update, patience.seconds)
            _check_finished(study, codes, patience, on_worker_lost or _warn)
    return from_study(study, config.to_dict(), storages.redact(storage))


def create(
    objective: objectives.Objective | str,
    *,
    space: Space | Mapping[str, Any],
    sampler: str = "tpe",
    pruner: str | None = None,
    n_trials: int = 20,
    storage: str,
    study_name: str,
    seed: int = 0,
    direction: str = "maximize",
    heartbeat_interval: int = 10,
    storage_patience: float = PATIENCE,
) -> str:
    """Create a study and queue its ``n_trials`` without running any; returns its name.

    Workers (:func:`work`, ``lrkit search worker``) then do the trials. ``objective`` must be
    a built-in task name, a ``"module:function"`` or a module-level function.
    """
    target = objectives.resolve(objective)
    config = _config(target, space, sampler, pruner, n_trials, seed, direction, heartbeat_interval)
    if config.objective is None:
        objectives.load(None)  # raises: workers elsewhere could not rebuild this objective
    patience = Patience(storages.redact(storage), storage_patience)
    opened = _open(storage, config.heartbeat_interval, patience)
    create_or_load(opened, study_name, config, where=storages.redact(storage))
    return study_name


def work(
    storage: str,
    study_name: str,
    *,
    objective: objectives.Objective | None = None,
    allow_objectives: Iterable[str] = (),
    worker_index: int | None = None,
    progress: bool = False,
    storage_patience: float = PATIENCE,
) -> int:
    """Join study ``study_name`` and run its waiting trials; returns how many ran here.

    Returns when the study has nothing waiting and nothing running. The objective is the one
    the study was created with, unless ``objective`` is given; a stored ``module:function``
    is imported only if it is in ``allow_objectives`` or ``$LRKIT_ALLOW_OBJECTIVES``
    (built-in tasks always are): whoever can write the storage chooses that code.
    """
    index = os.getpid() if worker_index is None else worker_index
    patience = Patience(storages.redact(storage), storage_patience)
    study, config, opened = _join(storage, study_name, index, patience)
    if objective is None:
        trust.check(config.objective, study_name, allow_objectives)
        objective = objectives.load(config.objective)
    with _progress(study, config, progress) as update:
        return work_loop(
            study, objective, config, storage=opened, patience=patience,
            locks=_locks(storage), exclusive=storages.exclusive(storage, study_name, patience),
            on_trial=lambda _: update(),
        )  # fmt: skip


def load_results(
    storage: str, study_name: str, *, storage_patience: float = PATIENCE
) -> SearchResult:
    """The :class:`SearchResult` of study ``study_name``, finished or not."""
    patience = Patience(storages.redact(storage), storage_patience)
    study, config, _ = _join(storage, study_name, 0, patience)
    return patience.call(from_study, study, config.to_dict(), storages.redact(storage))


def _config(
    target: objectives.Objective,
    space: Space | Mapping[str, Any],
    sampler: str,
    pruner: str | None,
    n_trials: int,
    seed: int,
    direction: str,
    heartbeat_interval: int,
) -> SearchConfig:
    space = as_space(space)
    check = getattr(target, "check", None)
    if callable(check):
        check(space)
    return SearchConfig(
        space=space,
        sampler=sampler,
        pruner=pruner,
        n_trials=n_trials,
        seed=seed,
        direction=direction,
        objective=objectives.describe(target),
        metric=str(getattr(target, "metric", "score")),
        max_resource=getattr(target, "epochs", None),
        heartbeat_interval=heartbeat_interval,
    )


def _open(url: str | None, heartbeat_interval: int, patience: Patience) -> Any:
    """The storage at ``url``; on PostgreSQL every call is retried while it is unreachable."""
    opened = storages.open_storage(url, heartbeat_interval=heartbeat_interval)
    if storages.kind(url) == "postgresql":
        return RetryingStorage(opened, patience)
    return opened


def _locks(url: str | None) -> WorkerLocks | None:
    return WorkerLocks(url) if url is not None and storages.kind(url) == "journal" else None


def _join(
    storage: str, study_name: str, index: int, patience: Patience
) -> tuple[optuna.Study, SearchConfig, Any]:
    """Open ``storage`` with the heartbeat settings the study was created with, and join it."""
    if storages.kind(storage) == "memory":
        raise ValueError("storage: a worker needs the journal file or postgresql:// URL")
    where = storages.redact(storage)
    opened = _open(storage, 10, patience)
    study, config = join(opened, study_name, index, where=where)
    if storages.kind(storage) == "postgresql" and config.heartbeat_interval != 10:
        opened = _open(storage, config.heartbeat_interval, patience)
        study, config = join(opened, study_name, index, where=where)
    return study, config, opened


def _run_processes(
    storage: str | None,
    study_name: str,
    target: objectives.Objective,
    workers: int,
    update: Any,
    patience: float,
) -> list[tuple[int, int | None]]:
    """Start ``workers`` processes on the study, wait for them, and follow their progress;
    returns each one's (pid, exit code)."""
    context = multiprocessing.get_context("spawn")
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    processes = []
    with _environment({name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}):
        for index in range(workers):
            process = context.Process(
                target=_spawned_worker,
                args=(storage, study_name, target, index, patience),
                name=f"lrkit-search-worker-{index}",
            )
            process.start()
            processes.append(process)
    try:
        while any(p.is_alive() for p in processes):
            update()
            time.sleep(0.5)
    except KeyboardInterrupt:
        _stop(processes)
        raise
    update()
    return [(p.pid or 0, p.exitcode) for p in processes]


def _check_finished(
    study: optuna.Study,
    ended: list[tuple[int, int | None]],
    patience: Patience,
    on_worker_lost: Callable[[str], None],
) -> None:
    """Whether the workers' study is finished decides: if so, a worker that died is only
    reported; if not, :class:`SearchStopped` (or :class:`StorageUnreachable`) is raised."""
    codes = [code for _, code in ended]
    unfinished = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
    if study.get_trials(deepcopy=False, states=unfinished):
        if UNREACHABLE_STATUS in codes:
            raise StorageUnreachable(patience.where, patience.seconds)
        raise SearchStopped(
            f"search workers exited with codes {codes} before the study finished; "
            "rerun the same command to continue it"
        )
    for index, (pid, code) in enumerate(ended):
        if code != 0:
            on_worker_lost(
                f"worker {index} (pid {pid}) {_ending(code)}; the other workers finished the "
                "study (a trial it was running was run again)"
            )


def _ending(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _warn(message: str) -> None:
    warnings.warn(message, WorkerLost, stacklevel=3)


def _spawned_worker(
    storage: str, study_name: str, target: objectives.Objective, index: int, patience: float
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        work(storage, study_name, objective=target, worker_index=index, storage_patience=patience)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except StorageUnreachable:
        raise SystemExit(UNREACHABLE_STATUS) from None  # the parent says it, once


def _stop(processes: list[Any]) -> None:
    """Give interrupted workers time to re-queue their trials, then end them."""
    deadline = time.monotonic() + 2.0
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables the user has not set, for processes started in the block."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextlib.contextmanager
def _progress(study: optuna.Study, config: SearchConfig, enabled: bool) -> Iterator[Any]:
    """Yield ``update()``, which moves a bar to the number of trials done so far."""
    if not enabled:
        yield lambda: None
        return
    with progress_bar("search", total=config.n_trials) as advance:
        shown = 0

        def update() -> None:
            nonlocal shown
            result = from_study(study, config.to_dict(), "")
            done = result.counts()["done"]
            best = result.best
            status = "" if best is None else f"best {best.score:.4g} at lr {best.params['lr']:.3g}"
            for _ in range(done - shown):
                advance(status)
            shown = max(shown, done)

        update()
        yield update
