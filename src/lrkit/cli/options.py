"""What every command shares for its arguments: the parser, the output and task options, and
argument types that name what they allow."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path


class UsageError(Exception):
    """A mistake in what the user asked for; shown as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes raise :class:`UsageError` naming the command, for
    ``lrkit`` to show as one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("lrkit").strip()
        raise UsageError(f"{command}: {message}" if command else message)


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
