"""``lrkit compare``: train a task with several learning-rate strategies and report which won.

Rerunning the same command resumes: finished runs stored in ``--out`` are not repeated.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from lrkit.cli.options import add_out_arguments, add_renamed_argument, count, number
from lrkit.cli.output import (
    console,
    error,
    prepare_out_dir,
    print_comparison,
    refuse_other_kind,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare learning-rate strategies (fixed, decays, adaptive, cyclical, one-cycle)",
        description="Train the task once per (strategy, seed) in parallel worker processes. "
        "Each finished run is stored at once in OUT/compare.sqlite, so an interrupted "
        "comparison resumes where it stopped. Writes OUT/report.html, OUT/results.json and "
        "OUT/plots/*.png.",
    )
    parser.add_argument("--task", default="digits-cnn", help="built-in task or module:factory")
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        help="fixed-lrs, decays, adaptive, cyclical, one-cycle or all (repeatable)",
    )
    parser.add_argument(
        "--strategies", type=Path, default=None, metavar="FILE", help="YAML or JSON strategies"
    )
    parser.add_argument("--epochs", type=count(1), default=None, help="default: the task's own")
    parser.add_argument("--seeds", type=count(1), default=1, help="seeds per strategy (0, 1, ...)")
    parser.add_argument("--jobs", type=count(1), default=1, help="worker processes")
    parser.add_argument("--batch-size", type=count(1), default=None)
    parser.add_argument(
        "--target", type=number(), default=None, help="validation score for 'time to target'"
    )
    parser.add_argument(
        "--num-steps",
        type=count(2),
        default=None,
        help="steps of the range test behind 'found' values (its num_steps)",
    )
    add_renamed_argument(parser, "--range-steps", "--num-steps")
    add_out_arguments(parser, overwrite_help="discard the runs stored in --out first")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from lrkit.compare import RANGE_TEST_DEFAULTS, compare, load_strategies, names
    from lrkit.report import write_report

    chosen: list[Any] = []
    for name in args.preset:
        if name not in names():
            raise ValueError(
                f"--preset: unknown preset {name!r}; choose one of {', '.join(names())}"
            )
        chosen.append(name)
    if args.strategies is not None:
        chosen.extend(load_strategies(args.strategies))
    if not chosen:
        raise ValueError("give --preset NAME and/or --strategies FILE")
    prepare_out_dir(args.out, [], overwrite=True)
    refuse_other_kind(args.out, "search.json", "a search")
    range_test_settings = dict(RANGE_TEST_DEFAULTS)
    if args.num_steps is not None:
        range_test_settings["num_steps"] = args.num_steps
    started = time.time()
    try:
        results = compare(
            args.task,
            chosen,
            out=args.out,
            epochs=args.epochs,
            seeds=args.seeds,
            jobs=args.jobs,
            batch_size=args.batch_size,
            range_test_settings=range_test_settings,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except BrokenProcessPool as exc:
        error(
            f"a worker process died ({exc}); finished runs are stored in "
            f"{args.out}, rerun the same command to resume"
        )
        return 1
    outputs = write_report(results, target=args.target)
    fresh = sum(1 for run in results.runs if run["finished_at"] >= started)
    print_comparison(results, args.target)
    console().print(
        f"{fresh} run(s) trained now, {len(results.runs) - fresh} already stored; "
        f"wrote {outputs['report.html']} and {outputs['results.json']}"
    )
    return 0
