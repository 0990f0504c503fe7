"""What every command shares for its output: the console and a safe output directory."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any


def console() -> Any:
    """A rich console on stdout that prints text as given: no markup, so a name holding
    ``[/]`` is shown, never parsed."""
    from rich.console import Console

    return Console(markup=False)


def prepare_out_dir(
    out: Path, names: list[str], overwrite: bool, *, finished: str | None = None
) -> dict[str, Path]:
    """Create ``out`` and return the paths of ``names`` in it.

    Refuses (``FileExistsError``) when a finished run is there, unless ``overwrite``, so a
    rerun never silently replaces results a user kept. ``finished`` names the file written
    last, whose presence marks a finished run (the other files without it are what an
    interrupted run left, and are replaced); by default any of ``names`` counts.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    paths = {name: out / name for name in names}
    marks = [out / finished] if finished is not None else list(paths.values())
    existing = [str(path) for path in marks if path.exists()]
    if existing and not overwrite:
        verb = "exists" if len(existing) == 1 else "exist"
        raise FileExistsError(
            f"{', '.join(existing)} already {verb}; pass --overwrite or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    return paths


def refuse_other_kind(out: Path, other: str, kind: str) -> None:
    """``ValueError`` when ``out`` holds ``other`` (the file of another kind of results, whose
    report.html this command would replace)."""
    if (out / other).exists():
        raise ValueError(
            f"--out: {out} holds {kind} ({other}) whose report.html would be replaced; "
            "choose another --out"
        )


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


def number(above: float | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite number, ``> above`` when given (argparse names the
    option in the error)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value) or (above is not None and value <= above):
            bound = "" if above is None else f" > {above:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number{bound}, got {text!r}")
        return value

    return parse


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--task``, ``--optimizer``, ``--batch-size`` and ``--seed``: which model to train."""
    parser.add_argument("--task", default="digits-cnn", help="built-in task or module:factory")
    parser.add_argument("--optimizer", default="adam", help="adam, sgd, momentum, adamw, ...")
    parser.add_argument("--batch-size", type=count(1), default=None)
    parser.add_argument("--seed", type=count(0), default=0)
