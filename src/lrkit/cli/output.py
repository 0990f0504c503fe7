"""What every command shares for its output: the console and a safe output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def console() -> Any:
    """A rich console on stdout."""
    from rich.console import Console

    return Console()


def prepare_out_dir(out: Path, names: list[str], overwrite: bool) -> dict[str, Path]:
    """Create ``out`` and return the paths of ``names`` in it.

    Refuses (``FileExistsError``) when any of them already exists, unless ``overwrite``, so a
    rerun never silently replaces results a user kept.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    paths = {name: out / name for name in names}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)} already exist; pass --overwrite or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    return paths
