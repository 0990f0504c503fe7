"""Run many (strategy, seed) pairs, each in its own worker process, and hand back each
result the moment it finishes.

Workers are started with the ``spawn`` method (a fresh interpreter: no copied torch state,
threads or locks) and inherit the parent's ``sys.path``, so ``module:factory`` tasks import the
same way. Each worker uses ``cpu_count // jobs`` torch threads unless ``OMP_NUM_THREADS`` is
set. Workers report each finished epoch on a queue for the progress bar; results come back
through futures, and only the parent writes them down. On Ctrl-C the workers are stopped and
``KeyboardInterrupt`` propagates; a worker whose parent dies (even by SIGKILL) exits at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lrkit.progress import progress_bar


@dataclass(frozen=True)
class Job:
    """One training run to do."""

    strategy: str
    seed: int
    #: The strategy with its values resolved to numbers (:meth:`Strategy.resolve`).
    resolved: dict[str, Any]
    task: str
    epochs: int
    batch_size: int | None = None


#: ``on_result(job, record, error)``: exactly one of ``record`` and ``error`` is not None.
ResultCallback = Callable[[Job, dict[str, Any] | None, str | None], None]

_progress_queue: Any = None


def run_jobs(
    jobs: Sequence[Job], on_result: ResultCallback, *, workers: int = 1, progress: bool = True
) -> None:
    """Run ``jobs`` on ``workers`` processes, calling ``on_result`` in this process as each
    finishes (in completion order). A run that raises is reported with its traceback text."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"jobs: must be an integer >= 1, got {workers!r}")
    if not jobs:
        return
    workers = min(workers, len(jobs))
    context = multiprocessing.get_context("spawn")
    epochs_queue = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    total = sum(job.epochs for job in jobs)
    executor = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(list(sys.path), threads, epochs_queue),
    )
    with progress_bar("compare", total, enabled=progress) as advance:
        done_epochs: dict[tuple[str, int], int] = {}
        try:
            futures = {executor.submit(_work, job): job for job in jobs}
            pending = set(futures)
            while pending:
                finished, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                _drain(epochs_queue, done_epochs, advance)
                for future in finished:
                    job = futures[future]
                    record, error = future.result()
                    _drain(epochs_queue, done_epochs, advance)
                    for _ in range(job.epochs - done_epochs.get((job.strategy, job.seed), 0)):
                        advance(f"{job.strategy} seed {job.seed}: done")
                    done_epochs[(job.strategy, job.seed)] = job.epochs
                    on_result(job, record, error)
        except BaseException:
            _stop_workers(executor)
            raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            epochs_queue.close()


def _drain(epochs_queue: Any, done: dict[tuple[str, int], int], advance: Any) -> None:
    while True:
        try:
            strategy, seed, epoch, status = epochs_queue.get_nowait()
        except queue_module.Empty:
            return
        if done.get((strategy, seed), 0) < epoch:
            done[(strategy, seed)] = epoch
            advance(f"{strategy} seed {seed}: {status}")


def _stop_workers(executor: cf.ProcessPoolExecutor) -> None:
    """Stop every worker now (Python 3.14 has ``terminate_workers``; older ones do not)."""
    terminate = getattr(executor, "terminate_workers", None)
    if callable(terminate):
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


def _init_worker(path: list[str], threads: int, epochs_queue: Any) -> None:
    global _progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="lrkit-orphan-watch", daemon=True).start()
    sys.path[:] = path
    _progress_queue = epochs_queue
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(threads)


def _exit_with_parent() -> None:
    """Wait until the parent process is gone (even killed with SIGKILL), then end this worker:
    nobody would read its result."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()
    os._exit(1)


def _work(job: Job) -> tuple[dict[str, Any] | None, str | None]:
    from lrkit.compare.train import train_run

    def on_epoch(epoch: int, scores: dict[str, float]) -> None:
        shown = ", ".join(f"{key} {value:.4g}" for key, value in scores.items())
        if _progress_queue is not None:
            _progress_queue.put((job.strategy, job.seed, epoch, f"epoch {epoch}: {shown}"))

    try:
        record = train_run(
            job.resolved,
            task=job.task,
            seed=job.seed,
            epochs=job.epochs,
            batch_size=job.batch_size,
            on_epoch=on_epoch,
        )
    except Exception:
        return None, traceback.format_exc(limit=8)
    return record, None
