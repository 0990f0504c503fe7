"""``lrkit find``: run the range test on a task and report the suggested learning rates."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lrkit._files import write_text
from lrkit.cli.options import (
    add_out_arguments,
    add_renamed_argument,
    add_task_arguments,
    count,
    number,
)
from lrkit.cli.output import (
    MISSING,
    console,
    prepare_out_dir,
    print_probe,
    print_sweeps,
    rate,
    span,
    table,
)
from lrkit.probe import probe_steps
from lrkit.rangetest import FALLBACK, FALLBACK_DECADES
from lrkit.suggest import Suggestion


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "find",
        help="run the learning-rate range test and suggest a learning rate",
        description="Sweep the learning rate over a few hundred steps, restore the model and "
        "suggest a learning rate and cyclical bounds. Writes lr_find.json and lr_find.png; "
        "with --probe also probe.json.",
    )
    add_task_arguments(parser)
    parser.add_argument("--start-lr", type=number(), default=1e-7)
    parser.add_argument("--end-lr", type=number(), default=10.0)
    parser.add_argument("--num-steps", type=int, default=100, help="number of sweep steps")
    add_renamed_argument(parser, "--steps", "--num-steps")
    parser.add_argument("--mode", default="exp", help="exp (geometric) or linear sweep")
    parser.add_argument("--smoothing", type=number(), default=0.98, help="EMA factor in [0, 1)")
    parser.add_argument("--diverge-factor", type=number(), default=4.0)
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also train briefly at the curve's bold and safe candidates and keep the better "
        "(costs two thirds of a training run; most reliable)",
    )
    parser.add_argument(
        "--epochs",
        type=count(1),
        default=None,
        help="planned training, for --probe (default: the "
        "task's budget); each candidate trains for a third of it",
    )
    add_out_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrkit import tasks
    from lrkit.sweep import validate_sweep
    from lrkit.torch import find_lr, probe_lr

    validate_sweep(
        args.start_lr, args.end_lr, args.num_steps, args.mode, args.smoothing, args.diverge_factor
    )
    names = ["lr_find.json", "lr_find.png", *(["probe.json"] if args.probe else [])]
    finished = "probe.json" if args.probe else "lr_find.json"
    outputs = prepare_out_dir(args.out, names, args.overwrite, finished=finished)
    task = tasks.get(args.task, seed=args.seed, batch_size=args.batch_size)
    optimizer = task.make_optimizer(args.optimizer)
    result = find_lr(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_steps=args.num_steps,
        mode=args.mode,
        smoothing=args.smoothing,
        diverge_factor=args.diverge_factor,
        progress=not args.no_progress,
    )
    result.settings.update(task=task.name, seed=args.seed, optimizer_name=args.optimizer)
    probed = None
    if args.probe:
        epochs = args.epochs or task.default_epochs
        steps = probe_steps(epochs * len(task.train_loader))
        probed = probe_lr(
            task.model,
            optimizer,
            task.loss_fn,
            task.train_loader,
            candidates=result,
            steps=steps,
            progress=not args.no_progress,
        )
    # Written only once everything is computed, the marking file last: an interrupted run
    # leaves no finished run behind, so the same command runs again.
    result.plot(outputs["lr_find.png"])
    result.to_json(outputs["lr_find.json"], overwrite=True)
    if probed is not None:
        write_text(outputs["probe.json"], json.dumps(probed.to_dict(), indent=2) + "\n")
    _print_summary(result)
    if probed is not None:
        print_probe(probed)
    console().print(f"wrote {', '.join(str(path) for path in outputs.values())}")
    return 0


def _print_summary(result: Any) -> None:
    shown = table(
        f"Range test on {result.settings['task']} ({result.settings['optimizer']})",
        ["rule", "learning rate", "note"],
        right=["learning rate"],
    )
    for name, found in result.suggestions().items():
        if isinstance(found, Suggestion):
            fallback = found.method == FALLBACK
            edge = f"curve unreadable: {FALLBACK_DECADES:g} decades below its edge"
            note = edge if fallback else ""
            shown.add_row(name, rate(found.lr), note)
        else:
            shown.add_row(name, MISSING, str(found))
    try:
        interval = result.suggestion_interval
        if interval is not None:
            shown.add_row("about as good", span(*interval), "")
    except ValueError as exc:
        shown.add_row("about as good", MISSING, str(exc))
    try:
        base_lr, max_lr = result.clr_bounds()
        shown.add_row("cyclical bounds", span(base_lr, max_lr), "base_lr … max_lr")
    except ValueError as exc:
        shown.add_row("cyclical bounds", MISSING, str(exc))
    console().print(shown)
    print_sweeps(result)
