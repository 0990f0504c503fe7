"""A full disk: every command that writes keeps the previous files whole, leaves no temporary
files and answers with one line on stderr and exit status 1.

The disk is a 2 MB tmpfs the test mounts itself (as root); elsewhere the tests are skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrkit.cli import main


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh 2 MB tmpfs, unmounted afterwards."""
    where = tmp_path_factory.mktemp("disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill ({mounted.stderr.strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def fill(disk: Path) -> Path:
    """Write until the disk has no byte left; return the filler file."""
    filler = disk / f"filler-{uuid.uuid4().hex}"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(handle, b"\0" * size):
                    pass
    finally:
        os.close(handle)
    return filler


def assert_refused_whole(argv: list[str], folder: Path, disk: Path, capsys) -> None:
    """On a full disk ``lrkit argv`` exits 1 with one line naming a file in ``folder``, and
    ``folder`` is byte for byte what it was."""
    before = snapshot(folder)
    capsys.readouterr()
    filler = fill(disk)
    try:
        code = main(argv)
    finally:
        filler.unlink()
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("lrkit: error: ") and str(folder) in lines[0], err
    assert snapshot(folder) == before
    assert [p.name for p in folder.rglob("*") if ".partial" in p.name] == []


def test_find_overwrite_on_a_full_disk_keeps_the_previous_result(disk, capsys):
    out = disk / "find"
    argv = ["find", "--task", "tabular-mlp", "--num-steps", "5", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    json.loads((out / "lr_find.json").read_text())
    assert_refused_whole([*argv, "--overwrite"], out, disk, capsys)


def test_search_and_its_report_on_a_full_disk_keep_the_previous_files(disk, capsys):
    out = disk / "search"
    argv = ["search", "--task", "search_objectives:peak", "--n-trials", "2", "--sampler", "log"]
    argv += ["--storage", "memory", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert {"search.json", "report.html", "search_score_vs_lr.png"} <= set(snapshot(out))
    assert_refused_whole([*argv, "--overwrite"], out, disk, capsys)
    assert_refused_whole(["report", str(out)], out, disk, capsys)


def test_compare_report_and_plots_on_a_full_disk_keep_the_previous_files(disk, tmp_path, capsys):
    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps({"strategies": [{"name": "adam", "lr": 0.01}]}))
    built = tmp_path / "compare"
    argv = ["compare", "--task", "tabular-mlp", "--strategies", str(strategies), "--epochs", "1"]
    assert main([*argv, "--out", str(built), "--no-progress"]) == 0
    out = disk / "compare"
    shutil.copytree(built, out)
    assert {"report.html", "results.json", "plots/curves.png"} <= set(snapshot(out))
    assert_refused_whole(["report", str(out)], out, disk, capsys)
    assert_refused_whole([*argv, "--out", str(out), "--no-progress"], out, disk, capsys)
