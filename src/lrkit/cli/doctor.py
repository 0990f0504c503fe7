"""``lrkit doctor LOG``: diagnose a recorded training log and plot it with the findings marked."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lrkit._files import write_text
from lrkit._optional import MissingExtra
from lrkit.cli.options import add_out_arguments
from lrkit.cli.output import prepare_out_dir

OUTPUTS = ["doctor.json", "doctor.png"]
FAIL_ON = {"never": (), "warning": ("warning", "critical"), "critical": ("critical",)}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="diagnose a training log: is the learning rate the problem?",
        description="Replay a training log (lrkit's own CSV / JSON lines, or a Keras CSVLogger "
        "file) through the doctor's rules, print the findings with advice, and write "
        "doctor.json and doctor.png (loss, learning rate and gradient norm, findings marked).",
    )
    parser.add_argument("log", type=Path, help="training log: .csv or .jsonl")
    parser.add_argument(
        "--metric", default=None, help="validation metric column (val_<metric>) to read"
    )
    parser.add_argument(
        "--unit",
        choices=("step", "epoch"),
        default=None,
        help="rows are optimizer steps or epochs (default: epoch when the log has an 'epoch' "
        "column and no 'step' column)",
    )
    parser.add_argument("--rules", nargs="+", default=None, help="only these rules")
    parser.add_argument(
        "--set",
        dest="thresholds",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a threshold, e.g. --set diverge_give_back=0.3 (repeatable)",
    )
    parser.add_argument(
        "--fail-on",
        choices=tuple(FAIL_ON),
        default="never",
        help="exit with status 1 when a finding this serious (or worse) is found",
    )
    add_out_arguments(parser, progress=False)
    parser.set_defaults(run=run)


def parse_thresholds(items: list[str]) -> dict[str, float | int]:
    """``["name=value", ...]`` to a dict, integers kept as ``int``."""
    values: dict[str, float | int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set: expected NAME=VALUE, got {item!r}")
        try:
            number: float | int = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"--set: {name.strip()} must be a number, got {text!r}") from None
        values[name.strip()] = number
    return values


def run(args: argparse.Namespace) -> int:
    from lrkit.doctor import diagnose
    from lrkit.doctor.plot import plot_diagnosis
    from lrkit.trainlog import TrainingLog

    log = TrainingLog.read(args.log, metric=args.metric)
    if args.unit is not None:
        log.unit = args.unit
    diagnosis = diagnose(log, rules=args.rules, **parse_thresholds(args.thresholds))
    if diagnosis.too_short:
        seen, unit = diagnosis.steps_seen, log.unit
        raise ValueError(
            f"{args.log}: {seen} training {unit}{'' if seen == 1 else 's'}, too short to judge "
            f"(the doctor needs more than {diagnosis.thresholds.warmup})"
        )
    outputs = prepare_out_dir(args.out, OUTPUTS, args.overwrite)
    report = {"log": str(args.log), "metric": log.metric_name, **diagnosis.report()}
    write_text(outputs["doctor.json"], json.dumps(report, indent=2) + "\n")
    wrote = str(outputs["doctor.json"])
    try:
        plot_diagnosis(
            log,
            diagnosis.findings,
            outputs["doctor.png"],
            smoothing=diagnosis.thresholds.smoothing,
            title=f"lrkit doctor: {args.log.name}, {len(diagnosis.findings)} finding(s)",
        )
        wrote += f" and {outputs['doctor.png']}"
    except MissingExtra as exc:
        print(f"lrkit doctor: no doctor.png: {exc}", file=sys.stderr)
    print(diagnosis.summary())
    print(f"wrote {wrote}")
    failing = FAIL_ON[args.fail_on]
    return 1 if any(found.severity in failing for found in diagnosis.findings) else 0
