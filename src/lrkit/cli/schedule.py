"""``lrkit schedule``: list the schedules, or show and draw one of them."""

from __future__ import annotations

import argparse
import json
import typing
import warnings
from pathlib import Path
from typing import Any

from lrkit.cli.options import Parser
from lrkit.cli.output import console, table, warning

EPILOG = """\
NAME is a schedule (see --list) followed by its parameters, e.g.
  lrkit schedule one_cycle --lr 0.1 --total-steps 1000 --out one_cycle.png
  lrkit schedule cosine --lr 0.1 --total-steps 900 --warmup 100 --steps 1200
or a JSON file holding schedule.to_dict() output (any nesting of warmup/sequence/scale).
A parameter's old name (--max-lr, --step-size, ...) still works, with a warning.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="show or draw a learning-rate schedule",
        description="Print a schedule's values at a few steps, or draw it (and its momentum "
        "curve) to an image with --out. `lrkit schedule NAME --help` lists NAME's parameters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--list", action="store_true", help="list every schedule and exit")
    parser.add_argument("name", nargs="?", help="schedule name, or a JSON file")
    parser.add_argument("params", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        _print_list()
        return 0
    if args.name is None:
        raise ValueError("name: give a schedule name (see `lrkit schedule --list`) or a JSON file")
    params = args.params if _is_file(args.name) else _current_flags(args.name, args.params)
    options = _options_parser(args.name).parse_args(params)
    schedule = _build(args.name, options)
    if options.warmup is not None:
        from lrkit.schedules import warmup

        schedule = warmup(schedule, options.warmup, start=options.warmup_start)
    momentum = _momentum(schedule, options.momentum)
    if options.json:
        print(json.dumps(schedule.to_dict(), indent=2))
        return 0
    from lrkit.schedules.plot import default_steps

    steps = default_steps(schedule) if options.steps is None else options.steps
    if steps < 1:
        raise ValueError(f"--steps: must be >= 1, got {steps}")
    if options.out is None:
        _print_values(schedule, momentum, steps)
        return 0
    if options.out.exists() and not options.overwrite:
        raise FileExistsError(f"{options.out} already exists; pass --overwrite or choose another")
    from lrkit.schedules import plot_schedule

    plot_schedule(schedule, steps, momentum=momentum, path=options.out, log_y=options.log_y)
    console().print(f"wrote {options.out}")
    return 0


def _is_file(name: str) -> bool:
    return name.endswith(".json") or Path(name).is_file()


def _current_flags(name: str, params: list[str]) -> list[str]:
    """``params`` with each old parameter flag of ``name`` (``--max-lr`` of ``one_cycle``)
    replaced by the new one, and a warning on stderr for each."""
    from lrkit.schedules import get, registry

    if name in registry.COMBINATORS:
        return params
    renamed = get(name).renamed
    flags = {f"--{old}": new for old, new in renamed.items()}
    flags.update({f"--{old.replace('_', '-')}": new for old, new in renamed.items()})
    out = []
    for token in params:
        flag, sep, value = token.partition("=")
        if flag in flags:
            new = f"--{flags[flag].replace('_', '-')}"
            warning(f"{flag} is now {new}; the old name will stop working in lrkit 1.0")
            token = new + sep + value
        out.append(token)
    return out


def _options_parser(name: str) -> argparse.ArgumentParser:
    parser = Parser(prog=f"lrkit schedule {name}")
    if not _is_file(name):
        from lrkit.schedules import registry

        if name in registry.COMBINATORS:
            raise ValueError(
                f"name: {name!r} is built from other schedules; write it as JSON "
                "(see `lrkit schedule NAME --json`) and pass the file, or use --warmup"
            )
        group = parser.add_argument_group(f"parameters of {name}")
        for parameter in registry.parameters(name):
            _add_parameter(group, parameter)
    common = parser.add_argument_group("output")
    common.add_argument(
        "--steps", type=int, default=None, help="steps to show (default: its length, else 1000)"
    )
    common.add_argument(
        "--warmup", type=int, default=None, metavar="STEPS", help="add a linear warm-up of STEPS"
    )
    common.add_argument(
        "--warmup-start",
        type=float,
        default=0.0,
        metavar="LR",
        help="warm-up start value (default 0)",
    )
    common.add_argument(
        "--momentum",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="momentum bounds for schedules that have a momentum curve",
    )
    common.add_argument("--out", type=Path, default=None, help="draw to this image (PNG, SVG, ...)")
    common.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    common.add_argument("--log-y", action="store_true", help="logarithmic learning-rate axis")
    common.add_argument("--json", action="store_true", help="print the schedule as JSON and exit")
    return parser


def _add_parameter(group: Any, parameter: Any) -> None:
    flags = [f"--{parameter.name.replace('_', '-')}"]
    if "_" in parameter.name:
        flags.append(f"--{parameter.name}")
    kind = parameter.type
    options: dict[str, Any] = {"dest": parameter.name}
    if parameter.required:
        options["required"] = True
    else:
        options["default"] = parameter.default
        options["help"] = f"default: {parameter.default}"
    args = typing.get_args(kind)
    if kind is bool:
        options["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(kind) is typing.Literal:
        options["choices"] = list(args)
    elif typing.get_origin(kind) is tuple:
        options.update(nargs="+", type=args[0])
    else:
        options["type"] = next(a for a in (*args, kind) if a in (int, float))
    group.add_argument(*flags, **options)


def _build(name: str, options: argparse.Namespace) -> Any:
    from lrkit.schedules import from_dict, get, registry

    if _is_file(name):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                schedule = from_dict(json.loads(path.read_text(encoding="utf-8")))
            for message in caught:
                warning(f"{path}: {message.message}")
            return schedule
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a JSON file (not UTF-8 text)") from None
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    values = {p.name: getattr(options, p.name) for p in registry.parameters(name)}
    return get(name)(**values)


def _momentum(schedule: Any, bounds: list[float] | None) -> Any:
    curve = getattr(schedule, "momentum", None)
    if curve is None:
        if bounds is not None:
            raise ValueError(f"--momentum: {schedule.name} has no momentum curve")
        return None
    return curve() if bounds is None else curve(*bounds)


def _print_list() -> None:
    from lrkit.schedules import get, names, parameters

    shown = table(
        "lrkit schedules (t is the step)", ["name", "parameters", "formula"], no_wrap=["name"]
    )
    for name in names():
        described = [p.name if p.required else f"{p.name}={p.default!r}" for p in parameters(name)]
        shown.add_row(name, ", ".join(described), get(name).formula)
    console().print(shown)


def _print_values(schedule: Any, momentum: Any, steps: int) -> None:
    low, high = schedule.bounds()
    duration = schedule.duration
    columns = ["step", "learning rate", *(["momentum"] if momentum is not None else [])]
    shown = table(schedule.name, columns, right=columns)
    marks = sorted({round(i * (steps - 1) / 10) for i in range(11)})
    for step in marks:
        row = [str(step), f"{schedule(step):.6g}"]
        if momentum is not None:
            row.append(f"{momentum(step):.4g}")
        shown.add_row(*row)
    out = console()
    out.print(shown)
    length = "goes on forever" if duration is None else f"planned for {duration} steps, then held"
    out.print(f"{type(schedule).formula}  (t = step)")
    out.print(f"bounds [{low:.6g}, {high:.6g}]; {length}")
