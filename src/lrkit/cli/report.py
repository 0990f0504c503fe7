"""``lrkit report DIR``: render report.html (and plots) from a stored comparison or search."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lrkit.cli.options import number
from lrkit.cli.output import console, print_comparison, print_search


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render the report of a comparison or search directory",
        description="Read DIR/compare.sqlite (written by lrkit compare) and write "
        "DIR/report.html, DIR/results.json and DIR/plots/*.png; or read DIR/search.json "
        "(written by lrkit search) and write DIR/report.html and the search plots. Works on a "
        "comparison that is still running or was interrupted: it shows the runs finished so far.",
    )
    parser.add_argument(
        "directory", type=Path, metavar="DIR", help="a compare or search output directory"
    )
    parser.add_argument(
        "--target",
        type=number(),
        default=None,
        help="validation score for 'time to target' (comparisons only)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrkit.compare import Results
    from lrkit.report import load, write_report, write_search_report

    found = load(args.directory)
    if isinstance(found, Results):
        outputs = write_report(found, target=args.target)
        print_comparison(found, args.target)
        console().print(f"wrote {outputs['report.html']} and {outputs['results.json']}")
        return 0
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.target is not None:
        raise ValueError(f"--target: applies to comparisons only, got {args.target}")
    outputs = write_search_report(found, args.directory)
    print_search(found, list(outputs.values()), resumable=False)
    return 0
