"""A comparison's worker processes end when their parent is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: A task whose training, in a worker, only beats a heartbeat file (the parent builds it normally).
TASK = """
import multiprocessing, os, pathlib, time
from lrkit.tasks.tabular import tabular_mlp

def make(seed, batch_size):
    if multiprocessing.parent_process() is not None:
        beat = pathlib.Path(os.environ["BEATS"]) / str(os.getpid())
        while True:
            beat.write_text(str(time.time()))
            time.sleep(0.1)
    return tabular_mlp(seed=seed, batch_size=batch_size)
"""


def _alive(beats: Path) -> set[str]:
    """Workers whose heartbeat moved in the last second."""
    before = {p.name: p.stat().st_mtime_ns for p in beats.iterdir()}
    time.sleep(1.0)
    return {p.name for p in beats.iterdir() if p.stat().st_mtime_ns != before.get(p.name)}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_workers_exit_when_the_compare_parent_is_killed(tmp_path: Path) -> None:
    beats = tmp_path / "beats"
    beats.mkdir()
    (tmp_path / "slowtask.py").write_text(TASK)
    strategies = [{"name": f"adam {lr}", "optimizer": "adam", "lr": lr} for lr in (0.01, 0.001)]
    (tmp_path / "strategies.json").write_text(json.dumps({"strategies": strategies}))
    command = [sys.executable, "-m", "lrkit.cli", "compare", "--task", "slowtask:make"]
    command += ["--strategies", "strategies.json", "--jobs", "2", "--epochs", "1"]
    parent = subprocess.Popen(
        [*command, "--out", "out", "--no-progress"],
        cwd=tmp_path,
        env={**os.environ, "BEATS": str(beats), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers: set[str] = set()
    try:
        deadline = time.monotonic() + 90
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = {p.name for p in beats.iterdir()}
        assert len(workers) == 2, parent.stderr.read().decode() if parent.poll() else workers
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        alive = _alive(beats)
        while alive and time.monotonic() < deadline:
            alive = _alive(beats)
        assert alive == set(), f"workers {sorted(alive)} outlived their killed parent"
    finally:
        parent.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
