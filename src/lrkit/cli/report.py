"""``lrkit report DIR``: render report.html, results.json and plots from a stored comparison."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lrkit.cli.output import console


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render the report of a comparison directory",
        description="Read DIR/compare.sqlite (written by lrkit compare) and write "
        "DIR/report.html, DIR/results.json and DIR/plots/*.png. Works on a comparison that is "
        "still running or was interrupted: it shows the runs finished so far.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="a compare output directory")
    parser.add_argument(
        "--target", type=float, default=None, help="validation score for 'time to target'"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrkit.cli.compare import print_summary
    from lrkit.compare import Results
    from lrkit.report import write_report

    results = Results.load(args.directory)
    outputs = write_report(results, target=args.target)
    print_summary(results, args.target)
    console().print(f"wrote {outputs['report.html']} and {outputs['results.json']}")
    return 0
