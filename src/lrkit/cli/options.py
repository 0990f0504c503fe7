"""What every command shares for its arguments: the parser, the output and task options, and
argument types that name what they allow."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


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


class _Renamed(argparse.Action):
    """An earlier spelling of an option: stores into the new option's ``dest`` and says, on
    stderr, what the option is called now."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, **kwargs: Any):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        command = parser.prog.removeprefix("lrkit").strip()
        print(f"lrkit {command}: {option_string} is now {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_argument(parser: argparse._ActionsContainer, old: str, new: str) -> None:
    """Accept ``old`` (hidden from ``--help``) for the option ``new`` added before it, with a
    one-line note on stderr that it is now ``new``."""
    action = next(a for a in parser._actions if new in a.option_strings)
    renamed = parser.add_argument(
        old,
        dest=action.dest,
        nargs=action.nargs,
        metavar=action.metavar,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
        action=_Renamed,
        new=new,
    )
    renamed.type = action.type  # the same parsing and errors as the new spelling


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
