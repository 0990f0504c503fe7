"""The ``lrkit`` command line: one sub-command per module in this package.

User mistakes (bad arguments, bad files) print one line on stderr and exit with status 2; a
system that cannot do what was asked (a full or read-only disk, an optional package that is
not installed: the line names the extra to install) prints one line and exits with status 1.
``lrkit --debug COMMAND ...`` shows the traceback of either instead.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from collections.abc import Sequence

from lrkit import __version__
from lrkit._optional import missing_extra
from lrkit.cli.options import Parser, UsageError
from lrkit.cli.output import error

#: Sub-command modules; each defines ``register(subparsers)`` which sets ``run=``.
COMMANDS = ("find", "auto", "search", "doctor", "schedule", "compare", "report")

USAGE_ERROR = 2
#: The system failed what was asked (a full or read-only disk, a missing package): exit status 1.
SYSTEM_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="lrkit", description="Take the guesswork out of learning rates.")
    parser.add_argument("--version", action="version", version=f"lrkit {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"lrkit.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("lrkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        answer = _expected(exc)
        if answer is None or getattr(args, "debug", False):
            raise
        message, status = answer
        error(message)
        return status


def _expected(exc: Exception) -> tuple[str, int] | None:
    """The one-line message and exit status of an expected failure; ``None`` for a bug."""
    user_mistakes = (UsageError, ValueError, TypeError, ArithmeticError)
    if isinstance(exc, (*user_mistakes, FileExistsError, FileNotFoundError)):
        return str(exc), USAGE_ERROR
    if isinstance(exc, ImportError):
        missing = missing_extra(exc)
        return (missing, SYSTEM_ERROR) if missing is not None else None
    if isinstance(exc, sqlite3.DatabaseError):
        return f"not a readable lrkit database ({exc})", USAGE_ERROR
    if isinstance(exc, OSError):  # a full or read-only disk, a missing permission
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", SYSTEM_ERROR
    return None


if __name__ == "__main__":
    sys.exit(main())
