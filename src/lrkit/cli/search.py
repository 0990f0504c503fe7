"""``lrkit search``: find the learning rate (and optionally schedule, optimizer, batch size,
momentum) by grid, log-scale, random or Bayesian search, with pruning, on one machine or many.

``lrkit search worker --storage URL --study-name NAME`` joins a search from another machine.

Exit status: 0 the study is finished; 3 it is finished and its results written, but a worker
process of ``--workers N`` died (one line names it); 1 the workers stopped before the study
was finished (rerun to resume); 75 the storage was unreachable for longer than
``--storage-patience`` (rerun to resume); 2 a mistake in the arguments.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from lrkit.cli.options import add_renamed_argument, count, number
from lrkit.cli.output import error, prepare_out_dir, print_search, refuse_other_kind, warning

#: Environment variable read when ``--storage`` is not given (keeps passwords out of ``ps``).
STORAGE_ENV = "LRKIT_STORAGE"
OUTPUTS = ["search.json", "search_score_vs_lr.png", "search_parallel.png", "report.html"]
WORKER_LOST_STATUS = 3
STOPPED_STATUS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search for the best learning rate (grid, log, random, TPE; pruning; many workers)",
        description="Search the learning rate (log scale) and optionally schedule, optimizer, "
        "batch size and momentum with Optuna (or Ray Tune). Trials live in a journal file by "
        "default, so rerunning the same command resumes an interrupted search. Writes "
        "search.json, plots and report.html to --out.",
    )
    parser.add_argument(
        "--task", default="digits-cnn", help="built-in task, or module:objective (a function)"
    )
    parser.add_argument(
        "--epochs", type=count(1), default=2, help="epochs per trial (built-in task)"
    )
    parser.add_argument("--lr", type=number(), nargs=2, metavar=("LOW", "HIGH"), default=None)
    parser.add_argument("--optimizer", nargs="+", default=None, help="optimizer choice(s)")
    parser.add_argument("--schedule", nargs="+", default=None, help="schedule choice(s)")
    parser.add_argument("--batch-size", type=count(1), nargs="+", default=None)
    parser.add_argument("--momentum", type=number(), nargs=2, metavar=("LOW", "HIGH"))
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="search another parameter, SPEC float:LOW:HIGH[:log|:step=S], "
        "int:LOW:HIGH[:log|:step=S] or choice:A,B,... (repeatable)",
    )
    parser.add_argument(
        "--from-range-test", type=Path, metavar="JSON", help="search around lrkit find's lr"
    )
    parser.add_argument(
        "--width", type=number(1), default=10.0, help="lr range: suggestion ×÷ width"
    )
    parser.add_argument("--sampler", default="tpe", help="tpe, grid, log or random")
    parser.add_argument("--pruner", default="none", help="none, median, hyperband or asha")
    parser.add_argument("--n-trials", type=count(1), default=20)
    parser.add_argument("--direction", default="maximize", help="maximize or minimize")
    parser.add_argument("--seed", type=count(0), default=0)
    _storage_arguments(parser, required=False)
    parser.add_argument("--workers", type=count(1), default=1, help="processes on this machine")
    parser.add_argument(
        "--heartbeat-interval",
        type=count(1),
        default=10,
        help="seconds between heartbeats (PostgreSQL); a trial whose worker died is run again "
        "after 3 heartbeats",
    )
    add_renamed_argument(parser, "--heartbeat", "--heartbeat-interval")
    parser.add_argument("--backend", default="optuna", help="optuna or ray")
    parser.add_argument("--ray-address", default=None, help="Ray cluster (default: local Ray)")
    parser.add_argument("--out", type=Path, default=Path("lrkit-out"), help="output directory")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="discard the search in --out (its journal and results) and start afresh",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="write search.json only (no plots, no report)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)

    actions = parser.add_subparsers(dest="search_action", metavar="{worker}")
    worker = actions.add_parser(
        "worker",
        help="join a search started elsewhere",
        description="Run waiting trials of an existing study until it has none left.",
    )
    _storage_arguments(worker, required=True)
    worker.add_argument(
        "--allow-objective",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="run this objective if the study names it (repeatable; also "
        "$LRKIT_ALLOW_OBJECTIVES, comma-separated); built-in tasks are always allowed",
    )
    worker.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    worker.set_defaults(run=run_worker)


def _storage_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    where = f"${STORAGE_ENV}" if required else f"${STORAGE_ENV}, else OUT/search.journal"
    parser.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV),
        help=f"journal file path or postgresql:// URL (default: {where})"
        + ("" if required else "; 'memory' keeps nothing"),
    )
    study = parser.add_mutually_exclusive_group(required=required)
    study.add_argument(
        "--study-name",
        default=None,
        help="the study to join" if required else "study name (default: from the settings)",
    )
    add_renamed_argument(study, "--study", "--study-name")
    parser.add_argument(
        "--storage-patience",
        type=number(0),
        default=60.0,
        metavar="SECONDS",
        help="how long to retry an unreachable storage before stopping (rerunning resumes)",
    )


def run(args: argparse.Namespace) -> int:
    import optuna

    from lrkit import search
    from lrkit.report import write_search_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = search.objective.resolve(
        args.task, epochs=args.epochs, seed=args.seed, **_default_optimizer(args)
    )
    space = _space(args)
    storage = _storage(args)
    outputs = _prepare_out(args, storage)
    lost: list[str] = []
    try:
        result = search.run(
            objective,
            space=space,
            sampler=args.sampler,
            pruner=None if args.pruner == "none" else args.pruner,
            n_trials=args.n_trials,
            storage=storage,
            study_name=args.study_name,
            workers=args.workers,
            seed=args.seed,
            direction=args.direction,
            heartbeat_interval=args.heartbeat_interval,
            backend=args.backend,
            ray_address=args.ray_address,
            progress=not args.no_progress,
            storage_patience=args.storage_patience,
            on_worker_lost=lost.append,
        )
    except search.StorageUnreachable as exc:
        error(str(exc))
        return search.UNREACHABLE_STATUS
    except search.SearchStopped as exc:
        error(f"search stopped: {exc}")
        return STOPPED_STATUS
    result.to_json(outputs["search.json"], overwrite=True)
    written = [outputs["search.json"]]
    if not args.no_plots:
        written += write_search_report(result, args.out).values()
    print_search(result, written, args.backend == "optuna")
    for message in lost:
        warning(message)
    return WORKER_LOST_STATUS if lost else 0


def run_worker(args: argparse.Namespace) -> int:
    import optuna

    from lrkit import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.storage:
        raise ValueError(f"--storage: required (or set ${STORAGE_ENV})")
    where = search.redact(args.storage)
    print(f"joining study {args.study_name!r} at {where}")
    try:
        ran = search.work(
            args.storage,
            args.study_name,
            allow_objectives=args.allow_objective,
            progress=not args.no_progress,
            storage_patience=args.storage_patience,
        )
        counts = search.load_results(
            args.storage, args.study_name, storage_patience=args.storage_patience
        ).counts()
    except search.StorageUnreachable as exc:
        error(str(exc))
        return search.UNREACHABLE_STATUS
    print(f"ran {ran} trial(s) here; the study has {counts['done']} trial(s) done")
    return 0


def _default_optimizer(args: argparse.Namespace) -> dict[str, Any]:
    """The optimizer a built-in task uses when the space does not choose one."""
    if ":" in args.task:
        return {}
    if args.optimizer:
        return {"optimizer": args.optimizer[0]}
    if args.from_range_test is not None:
        name = _range_test(args).settings.get("optimizer_name")
        if name:
            return {"optimizer": str(name)}
    return {}


def _space(args: argparse.Namespace) -> Any:
    from lrkit.search import Space
    from lrkit.search.params import parse_assignments

    params = parse_assignments(args.param)
    optimizer = tuple(args.optimizer or ())
    schedule = tuple(args.schedule or ())
    batch_size = tuple(args.batch_size or ())
    momentum = (args.momentum[0], args.momentum[1]) if args.momentum else None
    if args.from_range_test is not None:
        if args.lr is not None:
            raise ValueError("--lr: give either --lr or --from-range-test, not both")
        return Space.around(
            _range_test(args),
            width=args.width,
            optimizer=optimizer,
            schedule=schedule,
            batch_size=batch_size,
            momentum=momentum,
            **params,
        )
    low, high = args.lr or (1e-5, 1.0)
    return Space(
        lr=(low, high),
        optimizer=optimizer,
        schedule=schedule,
        batch_size=batch_size,
        momentum=momentum,
        **params,
    )


def _range_test(args: argparse.Namespace) -> Any:
    from lrkit.rangetest import RangeTestResult

    path = args.from_range_test
    if not path.is_file():
        raise FileNotFoundError(f"--from-range-test: no file {path}")
    try:
        return RangeTestResult.from_json(path)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise ValueError(message if str(path) in message else f"{path}: {message}") from None


def _prepare_out(args: argparse.Namespace, storage: str | None) -> dict[str, Path]:
    """The output paths. A rerun resumes the study its storage keeps (its search.json and report
    are rewritten from it); ``--overwrite`` first discards the default journal in --out (and its
    workers' lock files; refused while a worker runs on it). A
    search.json whose trials no storage keeps is refused without ``--overwrite``."""
    from lrkit.search import redact
    from lrkit.search.liveness import WorkerLocks

    refuse_other_kind(args.out, "compare.sqlite", "a comparison")
    journal = args.out / "search.journal"
    if args.overwrite:
        if storage is not None and Path(storage) != journal:
            raise ValueError(
                f"--overwrite: discards only the default journal in --out, not --storage "
                f"{redact(storage)}; give another --study-name to start afresh there"
            )
        WorkerLocks(journal).discard()  # refuses while a worker still runs on the journal
        for path in (journal, Path(f"{journal}.flock")):
            path.unlink(missing_ok=True)
    resumable = storage is not None and (Path(storage) != journal or journal.is_file())
    return prepare_out_dir(args.out, OUTPUTS, args.overwrite or resumable, finished=OUTPUTS[0])


def _storage(args: argparse.Namespace) -> str | None:
    if args.backend == "ray":
        return None if args.storage in (None, "memory") else args.storage
    if args.storage == "memory":
        return None
    return args.storage or str(args.out / "search.journal")
