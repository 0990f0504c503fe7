"""What every command shares for its output: the console and a safe output directory."""

from __future__ import annotations

import argparse
from collections.abc import Callable
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


def add_out_arguments(
    parser: argparse.ArgumentParser,
    *,
    overwrite_help: str = "replace earlier results",
    progress: bool = True,
) -> None:
    """``--out DIR`` (default ``lrkit-out``), ``--overwrite`` and, with ``progress``,
    ``--no-progress``: the output options every command that writes results shares."""
    parser.add_argument("--out", type=Path, default=Path("lrkit-out"), help="output directory")
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def count(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low`` (argparse names the option in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--task``, ``--optimizer``, ``--batch-size`` and ``--seed``: which model to train."""
    parser.add_argument("--task", default="digits-cnn", help="built-in task or module:factory")
    parser.add_argument("--optimizer", default="adam", help="adam, sgd, momentum, adamw, ...")
    parser.add_argument("--batch-size", type=count(1), default=None)
    parser.add_argument("--seed", type=count(0), default=0)
