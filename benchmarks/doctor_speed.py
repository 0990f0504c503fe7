"""How long ``lrkit doctor LOG`` takes on a long log, and how much memory it needs.

Writes a CSV log of ``--rows`` optimizer steps (``step, lr, loss, grad_norm``, a validation
every 1,000 steps; a loss falling under log-normal noise, with the rate raised 30x for the
last tenth), then runs ``lrkit doctor`` on it in a fresh process: wall time and peak resident
memory of that process (``getrusage``), with the time of each stage measured in-process.

    python benchmarks/doctor_speed.py            # --rows 1000000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lrkit._files import write_text

RESULTS = Path(__file__).parent / "results"
GOAL_SECONDS, GOAL_MB = 15.0, 300.0


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    """A CSV training log of ``rows`` steps."""
    rng = np.random.default_rng(seed)
    step = np.arange(rows)
    raised = step >= rows - rows // 10
    lr = np.where(raised, 3e-2, 1e-3)
    loss = 2.3 * np.exp(-step / (rows / 20)) + 0.05
    loss = np.where(raised, loss + 0.002 * (step - step[raised][0]), loss)
    loss = loss * np.exp(rng.normal(0, 0.3, rows))
    grad = np.exp(rng.normal(0, 0.4, rows))
    with path.open("w") as out:
        out.write("step,lr,loss,grad_norm,val_loss\n")
        for i in range(rows):
            val = f"{loss[i] * 1.1:.6g}" if i % 1000 == 999 else ""
            out.write(f"{i},{lr[i]:.6g},{loss[i]:.6g},{grad[i]:.6g},{val}\n")


def stages(path: Path) -> dict[str, float]:
    """Seconds to read the log and to diagnose it, in this process."""
    from lrkit.doctor import diagnose
    from lrkit.trainlog import TrainingLog

    started = time.perf_counter()
    log = TrainingLog.read(path)
    read = time.perf_counter()
    diagnose(log)
    done = time.perf_counter()
    return {"read": read - started, "diagnose": done - read}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "run.csv"
        write_log(log, args.rows)
        size_mb = log.stat().st_size / 1e6
        started = time.perf_counter()
        command = [sys.executable, "-m", "lrkit.cli", "doctor", str(log), "--out", f"{folder}/out"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode not in (0, 1):
            sys.exit(f"lrkit doctor failed: {done.stderr.strip()}")
        parts = stages(log)
    from suggestion_quality import dated_machine

    head = done.stdout.splitlines()[0]
    lines = [
        "# `lrkit doctor` on a long log",
        "",
        dated_machine(),
        "",
        f"A CSV log of {args.rows:,} steps ({size_mb:.0f} MB: step, lr, loss, gradient norm, a "
        "validation every 1,000 steps; the rate raised 30x for the last tenth), diagnosed by "
        "`lrkit doctor LOG` in a fresh process (reading, all rules, doctor.json and "
        "doctor.png).",
        "",
        "| measure | result | goal |",
        "| --- | ---: | ---: |",
        f"| wall time | {seconds:.1f} s | <= {GOAL_SECONDS:.0f} s |",
        f"| peak resident memory | {peak_mb:.0f} MB | <= {GOAL_MB:.0f} MB |",
        f"| of which: reading the log | {parts['read']:.1f} s | |",
        f"| of which: the rules | {parts['diagnose']:.1f} s | |",
        "",
        f"Its first line: `{head}`",
        "",
        "Regenerate: `python benchmarks/doctor_speed.py`.",
        "",
    ]
    write_text(RESULTS / "doctor_speed.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
