"""``lrkit find``: run the range test on a task and report the suggested learning rates."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from lrkit._files import write_text
from lrkit.cli.output import (
    add_out_arguments,
    add_task_arguments,
    console,
    count,
    number,
    prepare_out_dir,
)
from lrkit.probe import ProbeResult, probe_steps
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
    parser.add_argument("--steps", type=int, default=100, help="number of sweep steps")
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
        args.start_lr, args.end_lr, args.steps, args.mode, args.smoothing, args.diverge_factor
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
        num_steps=args.steps,
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
            result,
            steps,
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


def print_probe(probed: ProbeResult, policy: str | None = None) -> None:
    """The candidates, their scores and the winner, as a table, then the rate the probe
    suggests: what ``policy`` builds on (``lrkit auto``), or the rate to train at
    (``lrkit find``)."""
    from rich.table import Table

    table = Table(title=f"Probe: {probed.steps} steps per candidate")
    table.add_column("learning rate", justify="right")
    table.add_column("training loss, last fifth", justify="right")
    table.add_column("")
    best: float | None = None
    try:
        best = probed.best
    except ValueError as exc:
        console().print(str(exc))
    for lr, score in zip(probed.lrs, probed.scores, strict=True):
        shown = f"{score:.4g}" if math.isfinite(score) else "diverged"
        table.add_row(f"{lr:.3g}", shown, "← won" if lr == best else "")
    console().print(table)
    if best is None:
        return
    console().print(f"probe: {probed.verdict}")
    if policy is not None:
        console().print(f"{policy} builds on {probed.suggestion:.3g}")
        return
    suggestion = probed.suggestion
    why = " (a step below the bold winner)" if suggestion != best else ""
    console().print(f"train at {suggestion:.3g}{why}; fit and lrkit auto use it")


def _print_summary(result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"Range test on {result.settings['task']} ({result.settings['optimizer']})")
    table.add_column("rule")
    table.add_column("learning rate", justify="right")
    table.add_column("note")
    for name, found in result.suggestions().items():
        if isinstance(found, Suggestion):
            fallback = found.method == FALLBACK
            edge = f"curve unreadable: {FALLBACK_DECADES:g} decades below its edge"
            note = edge if fallback else ""
            table.add_row(name, f"{found.lr:.3g}", note)
        else:
            table.add_row(name, "—", str(found))
    try:
        interval = result.suggestion_interval
        if interval is not None:
            table.add_row("about as good", f"{interval[0]:.3g} … {interval[1]:.3g}", "")
    except ValueError as exc:
        table.add_row("about as good", "—", str(exc))
    try:
        base_lr, max_lr = result.clr_bounds()
        table.add_row("cyclical bounds", f"{base_lr:.3g} … {max_lr:.3g}", "base_lr … max_lr")
    except ValueError as exc:
        table.add_row("cyclical bounds", "—", str(exc))
    out = console()
    out.print(table)
    print_sweeps(result)


def print_sweeps(result: Any) -> None:
    """One line per sweep of the range test: its steps and why it stopped; for a retried
    sweep, why the next one was run."""
    out = console()
    sweeps = result.sweeps
    for index, sweep in enumerate(sweeps, 1):
        label = "sweep" if len(sweeps) == 1 else f"sweep {index}"
        span = f"{sweep['start_lr']:.3g} … {sweep['end_lr']:.3g}, " if index > 1 else ""
        out.print(
            f"{label}: {span}{sweep['steps']} steps, stopped: {sweep['stop_reason']}",
            markup=False,
        )
        if "unreadable" in sweep:
            out.print(
                f"  no rule could read it ({sweep['unreadable']}); sweeping again", markup=False
            )
