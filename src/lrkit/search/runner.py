"""Run a search: create (or resume) the study, work on it with one or more processes, and
read back the result.

``workers=1`` works in this process. ``workers=N`` starts N processes on this machine that
share a journal file or a PostgreSQL database; more machines join with :func:`work`
(``lrkit search worker``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Mapping
from typing import Any

import optuna

from lrkit.progress import progress_bar
from lrkit.search import objective as objectives
from lrkit.search import storage as storages
from lrkit.search.results import SearchResult, from_study
from lrkit.search.space import Space, as_space
from lrkit.search.study import SearchConfig, create_or_load, join
from lrkit.search.worker import work_loop


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
) -> SearchResult:
    """Search ``space`` for the point where ``objective(trial)`` scores best.

    ``sampler``: ``"tpe"`` (Bayesian), ``"random"``, ``"grid"`` (every combination, each once)
    or ``"log"`` (``n_trials`` learning rates evenly spaced on a log scale). ``pruner``:
    ``None``, ``"median"``, ``"hyperband"`` or ``"asha"`` (needs ``trial.report``).
    ``storage``: ``None`` or ``"memory"`` (kept in this process), a journal file path, or a
    ``postgresql://`` URL; rerunning with the same storage and settings resumes the study.
    ``backend="ray"`` runs the trials
    on a Ray cluster (``ray_address``, or a local Ray) instead.
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
    opened = storages.open_storage(storage, heartbeat_interval=config.heartbeat_interval)
    study = create_or_load(opened, name, config, where=storages.redact(storage))
    with _progress(study, config, progress) as update:
        if workers == 1:
            work_loop(study, target, config, on_trial=lambda _: update())
        else:
            _run_processes(storage, name, target, workers, update)
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
) -> str:
    """Create a study and queue its ``n_trials`` without running any; returns its name.

    Workers (:func:`work`, ``lrkit search worker``) then do the trials. ``objective`` must be
    a built-in task name, a ``"module:function"`` or a module-level function.
    """
    target = objectives.resolve(objective)
    config = _config(target, space, sampler, pruner, n_trials, seed, direction, heartbeat_interval)
    if config.objective is None:
        objectives.load(None)  # raises: workers elsewhere could not rebuild this objective
    opened = storages.open_storage(storage, heartbeat_interval=config.heartbeat_interval)
    create_or_load(opened, study_name, config, where=storages.redact(storage))
    return study_name


def work(
    storage: str,
    study_name: str,
    *,
    objective: objectives.Objective | None = None,
    worker_index: int | None = None,
    progress: bool = False,
) -> int:
    """Join study ``study_name`` and run its waiting trials; returns how many ran here.

    Returns when the study has nothing waiting and nothing running. The objective is the one
    the study was created with, unless ``objective`` is given.
    """
    index = os.getpid() if worker_index is None else worker_index
    study, config = _join(storage, study_name, index)
    target = objective if objective is not None else objectives.load(config.objective)
    with _progress(study, config, progress) as update:
        return work_loop(study, target, config, on_trial=lambda _: update())


def load_results(storage: str, study_name: str) -> SearchResult:
    """The :class:`SearchResult` of study ``study_name``, finished or not."""
    study, config = _join(storage, study_name, 0)
    return from_study(study, config.to_dict(), storages.redact(storage))


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


def _join(storage: str, study_name: str, index: int) -> tuple[optuna.Study, SearchConfig]:
    """Open ``storage`` with the heartbeat settings the study was created with, and join it."""
    if storages.kind(storage) == "memory":
        raise ValueError("storage: a worker needs the journal file or postgresql:// URL")
    where = storages.redact(storage)
    opened = storages.open_storage(storage)
    study, config = join(opened, study_name, index, where=where)
    if storages.kind(storage) == "postgresql" and config.heartbeat_interval != 10:
        opened = storages.open_storage(storage, heartbeat_interval=config.heartbeat_interval)
        study, config = join(opened, study_name, index, where=where)
    return study, config


def _run_processes(
    storage: str | None, study_name: str, target: objectives.Objective, workers: int, update: Any
) -> None:
    """Start ``workers`` processes on the study, wait for them, and follow their progress."""
    context = multiprocessing.get_context("spawn")
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    processes = []
    with _environment({name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}):
        for index in range(workers):
            process = context.Process(
                target=_spawned_worker,
                args=(storage, study_name, target, index),
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
    codes = [p.exitcode for p in processes]
    if any(code != 0 for code in codes):
        raise RuntimeError(
            f"search workers exited with codes {codes} before the study finished; "
            "rerun the same command to continue it"
        )


def _spawned_worker(
    storage: str, study_name: str, target: objectives.Objective, index: int
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        work(storage, study_name, objective=target, worker_index=index)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


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
