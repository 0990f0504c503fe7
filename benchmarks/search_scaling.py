"""How a search scales with worker processes, and what coordinating a trial costs.

Measures trials per minute with 1 and 2 worker processes sharing a journal file, for a
synthetic objective that waits 0.5 s (coordination alone), one that computes 0.5 s of
pure-Python work (CPU-bound), and the digits-cnn task (1 epoch, one torch thread per
worker); and the overhead per trial of each storage with an objective that does nothing.
Writes ``benchmarks/results/search_scaling.md``.

    python benchmarks/search_scaling.py [--postgres postgresql://user:pw@127.0.0.1:5432/db]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from lrkit import search
from lrkit._files import write_text
from lrkit.search import SearchTrial, TaskObjective

BUSY_SECONDS = 0.5
RESULTS = Path(__file__).parent / "results" / "search_scaling.md"


def busy(trial: SearchTrial) -> float:
    """``BUSY_SECONDS`` of CPU time, then the peak-at-1e-2 score."""
    deadline = time.process_time() + BUSY_SECONDS
    count = 0
    while time.process_time() < deadline:
        count += 1
    return 0.0 - (math.log10(trial.params["lr"]) + 2.0) ** 2


def waiting(trial: SearchTrial) -> float:
    """``BUSY_SECONDS`` of waiting without CPU: scaling of the coordination alone."""
    time.sleep(BUSY_SECONDS)
    return 0.0 - (math.log10(trial.params["lr"]) + 2.0) ** 2


def nothing(trial: SearchTrial) -> float:
    """An objective that costs nothing: what is left is coordination."""
    return 0.0


def timed_search(
    objective: Any, n_trials: int, workers: int, storage: str | None
) -> tuple[float, float]:
    """(wall seconds including start-up, steady-state seconds per trial).

    Steady state starts once every worker has finished its first trial (importing and
    warming up torch, loading data): trials begun after that, over the time they took.
    """
    import optuna

    name = f"bench-{time.time_ns()}"
    start = time.perf_counter()
    result = search.run(
        objective,
        space={"lr": (1e-5, 1.0)},
        sampler="random",
        n_trials=n_trials,
        storage=storage,
        study_name=name,
        workers=workers,
        progress=False,
    )
    wall = time.perf_counter() - start
    assert result.counts()["done"] == n_trials
    if storage is None:
        return wall, wall / n_trials
    trials = optuna.load_study(study_name=name, storage=search.open_storage(storage)).trials
    # every trial is done (asserted above), so each has its start and completion times
    timed = [(t, t.datetime_start, t.datetime_complete) for t in trials]
    spans = [(t, start, end) for t, start, end in timed if start and end]
    first_done: dict[str, Any] = {}
    for trial, _, end in sorted(spans, key=lambda span: span[2]):
        first_done.setdefault(str(trial.user_attrs["lrkit_worker"]).rsplit(":", 1)[0], end)
    warm = max(first_done.values())
    steady = [(start, end) for _, start, end in spans if start >= warm]
    last = max(end for _, end in steady)
    return wall, (last - warm).total_seconds() / len(steady)


def scaling_rows(scratch: Path) -> list[str]:
    rows = []
    cases = [
        (f"synthetic, {BUSY_SECONDS} s waiting (no CPU) per trial", waiting, 24),
        (f"synthetic, {BUSY_SECONDS} s CPU per trial", busy, 24),
        ("digits-cnn, 2 epochs", TaskObjective(epochs=2), 24),
    ]
    for label, objective, n_trials in cases:
        rates, walls = {}, {}
        for workers in (1, 2):
            journal = str(scratch / f"{label[:5]}-{workers}.journal")
            wall, per_trial = timed_search(objective, n_trials, workers, journal)
            rates[workers], walls[workers] = 60 / per_trial, 60 * n_trials / wall
            print(f"{label}: {workers} worker(s) {rates[workers]:.1f} trials/min")
        rows.append(
            f"| {label} | {n_trials} | {rates[1]:.1f} | {rates[2]:.1f} | "
            f"**{rates[2] / rates[1]:.2f}×** | {walls[1]:.1f} | {walls[2]:.1f} | "
            f"{walls[2] / walls[1]:.2f}× |"
        )
    return rows


def overhead_rows(scratch: Path, postgres: str | None) -> list[str]:
    n_trials = 60
    storages: list[tuple[str, str | None]] = [
        ("memory", None),
        ("journal file", str(scratch / "overhead.journal")),
    ]
    if postgres:
        storages.append(("PostgreSQL (loopback, heartbeat on)", postgres))
    rows = []
    for label, storage in storages:
        seconds, _ = timed_search(nothing, n_trials, 1, storage)
        per_trial = 1000 * seconds / n_trials
        print(f"overhead {label}: {per_trial:.1f} ms per trial")
        rows.append(f"| {label} | {n_trials} | {per_trial:.1f} ms |")
    return rows


def machine() -> list[str]:
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: `{uname}`",
        f"- nproc: {os.cpu_count()}; Python {platform.python_version()}",
        f"- load average when the run started (the machine is shared): {load}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("LRKIT_STORAGE"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # the 1-worker runs use one thread too, like each of 2 workers
    header = machine()
    with tempfile.TemporaryDirectory() as scratch:
        scaling = scaling_rows(Path(scratch))
        overhead = overhead_rows(Path(scratch), args.postgres)
    lines = [
        "# Search scaling",
        "",
        "`python benchmarks/search_scaling.py --postgres URL`: random search over lr, trials "
        "shared through a journal file; each worker is one process with one torch thread.",
        "",
        *header,
        "",
        "## Trials per minute",
        "",
        "Steady state: trials begun after every worker finished its first trial, over the time",
        "they took. Wall: all trials over the whole call, including starting the processes and",
        "each worker's first trial (importing and warming up torch, loading the data).",
        "",
        "| objective | trials | 1 worker | 2 workers | speed-up | wall, 1 | wall, 2 | wall "
        "speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *scaling,
        "",
        "## Coordination overhead per trial (objective that does nothing, 1 worker)",
        "",
        "| storage | trials | wall time per trial |",
        "| --- | ---: | ---: |",
        *overhead,
        "",
    ]
    write_text(RESULTS, "\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
