"""The own-loop examples in examples/ (plain loop, DDP, Accelerate, HF Trainer) run as the
README shows them."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_own_loop_example_finds_a_rate_and_trains_from_it(tmp_path):
    out = run(tmp_path, str(EXAMPLES / "own_loop.py"), "--num-steps", "60")
    assert "suggested learning rate:" in out and "training accuracy" in out


@pytest.mark.timeout(300)
def test_ddp_example_runs_on_two_gloo_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = run(tmp_path, str(EXAMPLES / "ddp_find_lr.py"), "--spawn", "2", "--port", port)
    assert "2 ranks, global batch 64" in out and (tmp_path / "ddp_lr_find.json").exists()


def test_accelerate_example_records_the_prepared_loaders_batch(tmp_path):
    pytest.importorskip("accelerate")
    out = run(tmp_path, str(EXAMPLES / "accelerate_find_lr.py"))
    assert "1 process(es), batch 32" in out and "suggested learning rate:" in out


@pytest.mark.timeout(300)
def test_hf_trainer_example_trains_at_the_measured_rate(tmp_path):
    pytest.importorskip("transformers")
    out = run(tmp_path, str(EXAMPLES / "hf_trainer_find_lr.py"))
    accuracy = float(out.split("validation accuracy:")[1].split()[0])
    assert "training at" in out and accuracy > 0.9
