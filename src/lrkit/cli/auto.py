"""``lrkit auto``: range test, schedule and training on a task, in one command."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lrkit._files import write_text
from lrkit.cli.options import add_out_arguments, add_task_arguments, count
from lrkit.cli.output import console, prepare_out_dir, print_probe, print_sweeps, rate
from lrkit.plan import POLICIES

#: Written in this order once training is done; ``auto.json``, last, marks a finished run.
OUTPUTS = ["history.csv", "lr_find.png", "training.png", "auto.json"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "auto",
        help="find the learning rate, schedule it and train, in one go",
        description="Run the range test, probe its bold and safe candidates (for the "
        "policies built around one rate: wsd, one_cycle, cosine, constant), turn the result into "
        "a schedule (--policy) and train the task. Writes auto.json, history.csv, lr_find.png "
        "and training.png into --out.",
    )
    add_task_arguments(parser)
    parser.add_argument("--policy", default="wsd", choices=POLICIES)
    parser.add_argument("--epochs", type=count(1), default=None, help="default: the task's budget")
    parser.add_argument(
        "--no-probe", action="store_true", help="use the range test's suggestion, unprobed"
    )
    parser.add_argument(
        "--no-guard",
        action="store_true",
        help="train without the divergence guard (no rollback when the loss climbs back)",
    )
    add_out_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lrkit import tasks
    from lrkit.torch import fit

    outputs = prepare_out_dir(args.out, OUTPUTS, args.overwrite, finished=OUTPUTS[-1])
    task = tasks.get(args.task, seed=args.seed, batch_size=args.batch_size)
    optimizer = task.make_optimizer(args.optimizer)
    progress = not args.no_progress
    epochs = args.epochs or task.default_epochs
    history = fit(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        epochs,
        val_loader=task.val_loader,
        policy=args.policy,
        metric=task.metric,
        metric_name=task.metric_name,
        probe=not args.no_probe,
        guard=not args.no_guard,
        progress=progress,
    )
    plan = history.plan
    assert plan is not None and plan.range_test is not None and plan.lr is not None  # fit's
    found, probed, lr = plan.range_test, plan.probe, plan.lr
    final = task.evaluate()
    summary = {
        "task": task.name,
        "optimizer": args.optimizer,
        "policy": args.policy,
        "epochs": epochs,
        "seed": args.seed,
        "suggested_lr": found.suggestion,
        "lr": lr,
        "peak_lr": float(history.column("lr").max()),
        "rollbacks": [
            {"step": int(row["step"]), "factor": row["rollback"]}
            for row in history
            if "rollback" in row
        ],
        "probe": probed.to_dict() if probed is not None else None,
        "final": final,
        "range_test": found.to_dict(),
        "overhead_steps": plan.overhead_steps,
        "total_steps": plan.total_steps,
    }
    history.save(outputs["history.csv"])
    found.plot(outputs["lr_find.png"])
    history.plot(outputs["training.png"], title=f"{task.name}: {args.policy}")
    write_text(outputs["auto.json"], json.dumps(summary, indent=2) + "\n")
    print_sweeps(found)
    if probed is not None:
        print_probe(probed, args.policy)
    out = console()
    out.print(
        f"deciding took {summary['overhead_steps']} steps, "
        f"{summary['overhead_steps'] / summary['total_steps']:.0%} of the {epochs}-epoch run"
    )
    source = "probed" if probed is not None else "suggested"
    out.print(
        f"{source} lr {rate(lr)}, {args.policy} peak {rate(summary['peak_lr'])}; "
        f"after {epochs} epochs: val loss {final['loss']:.4f}, "
        f"{task.metric_name} {final[task.metric_name]:.4f}"
    )
    for rollback in summary["rollbacks"]:
        out.print(
            f"the loss diverged: rolled back at step {rollback['step']}, the schedule now runs "
            f"at {rollback['factor']:.3g}× its rates"
        )
    out.print(f"wrote {', '.join(str(p) for p in outputs.values())}")
    return 0
