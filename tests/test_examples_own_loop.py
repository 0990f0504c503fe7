"""The own-loop examples in examples/ run as the README shows them."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_own_loop_example_finds_a_rate_and_trains_from_it(tmp_path):
    out = run(tmp_path, str(EXAMPLES / "own_loop.py"), "--steps", "60")
    assert "suggested learning rate:" in out and "training accuracy" in out


@pytest.mark.timeout(300)
def test_ddp_example_runs_on_two_gloo_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = run(tmp_path, str(EXAMPLES / "ddp_find_lr.py"), "--spawn", "2", "--port", port)
    assert "2 ranks, global batch 64" in out and (tmp_path / "ddp_lr_find.json").exists()
