"""What every command shares for its output: the console, tables, how numbers are shown, the
printouts more than one command makes, and a safe output directory.

rich is imported only when something is printed, so ``lrkit`` without the ``cli`` extra says
which extra to install instead of failing on import.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrkit.probe import ProbeResult

#: What a table shows for a value there is none of.
MISSING = "—"


def console() -> Any:
    """A rich console on stdout that prints text as given: no markup, so a name holding
    ``[/]`` is shown, never parsed."""
    from rich.console import Console

    return Console(markup=False)


def table(
    title: str,
    columns: Sequence[str],
    *,
    right: Collection[str] = (),
    no_wrap: Collection[str] = (),
) -> Any:
    """A rich table titled ``title`` with ``columns`` in order: those in ``right`` (numbers)
    right-justified, the others left; those in ``no_wrap`` never wrapped."""
    from rich.table import Table

    shown = Table(title=title)
    for column in columns:
        shown.add_column(
            column, justify="right" if column in right else "left", no_wrap=column in no_wrap
        )
    return shown


def rate(value: float) -> str:
    """A learning rate as the commands show it: three significant digits."""
    return f"{value:.3g}"


def span(low: float, high: float) -> str:
    """A range of learning rates, ``low … high``."""
    return f"{rate(low)} … {rate(high)}"


def spread(value: Any, digits: int = 3) -> str:
    """A mean over seeds (:class:`lrkit.compare.Spread`) with its standard deviation when
    there are several, ``digits`` after the point."""
    if value is None:
        return MISSING
    if value.n == 1:
        return f"{value.mean:.{digits}f}"
    return f"{value.mean:.{digits}f} ± {value.std:.{digits}f}"


def cell(value: Any) -> str:
    """A table cell: four significant digits for a float, :data:`MISSING` for ``None``."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def error(message: str) -> None:
    """``lrkit: error: message``, one line on stderr."""
    print(f"lrkit: error: {message}", file=sys.stderr)


def warning(message: str) -> None:
    """``lrkit: warning: message``, one line on stderr."""
    print(f"lrkit: warning: {message}", file=sys.stderr)


def print_sweeps(result: Any) -> None:
    """One line per sweep of the range test: its steps and why it stopped; for a retried
    sweep, why the next one was run."""
    out = console()
    sweeps = result.sweeps
    for index, sweep in enumerate(sweeps, 1):
        label = "sweep" if len(sweeps) == 1 else f"sweep {index}"
        swept = f"{span(sweep['start_lr'], sweep['end_lr'])}, " if index > 1 else ""
        out.print(
            f"{label}: {swept}{sweep['steps']} steps, stopped: {sweep['stop_reason']}",
            markup=False,
        )
        if "unreadable" in sweep:
            out.print(
                f"  no rule could read it ({sweep['unreadable']}); sweeping again", markup=False
            )


def print_probe(probed: ProbeResult, policy: str | None = None) -> None:
    """The candidates, their scores and the winner, as a table, then the rate the probe
    suggests: what ``policy`` builds on (``lrkit auto``), or the rate to train at
    (``lrkit find``)."""
    columns = ["learning rate", "training loss, last fifth", ""]
    shown = table(f"Probe: {probed.steps} steps per candidate", columns, right=columns[:2])
    best: float | None = None
    try:
        best = probed.best
    except ValueError as exc:
        console().print(str(exc))
    for lr, score in zip(probed.lrs, probed.scores, strict=True):
        loss = f"{score:.4g}" if math.isfinite(score) else "diverged"
        shown.add_row(rate(lr), loss, "← won" if lr == best else "")
    console().print(shown)
    if best is None:
        return
    console().print(f"probe: {probed.verdict}")
    if policy is not None:
        console().print(f"{policy} builds on {rate(probed.suggestion)}")
        return
    suggestion = probed.suggestion
    why = " (a step below the bold winner)" if suggestion != best else ""
    console().print(f"train at {rate(suggestion)}{why}; fit and lrkit auto use it")


def print_comparison(results: Any, target: float | None) -> None:
    """A comparison's results table and its verdict (``lrkit compare``, ``lrkit report``)."""
    metric = results.metric
    chosen = results.target(target)
    title = f"{results.settings.get('task')}: {results.settings.get('epochs')} epochs"
    if chosen is not None:
        title += f", target validation {metric} {chosen:.3f}"
    numbers = [f"final val {metric}", "best", "epochs to target"]
    shown = table(title, ["strategy", "status", *numbers], right=numbers)
    for row in results.summary(target):
        shown.add_row(
            row.name,
            row.status,
            spread(row.final_score),
            spread(row.best_score),
            spread(row.epochs_to_target, 1),
        )
    out = console()
    out.print(shown)
    out.print(results.verdict(target).text, markup=False)


def print_search(result: Any, written: list[Path], resumable: bool) -> None:
    """A search's best trials as a table, the trial counts, the best learning rate, the files
    (``lrkit search``, ``lrkit report``)."""
    from rich.text import Text

    out = console()
    metric = result.metric
    columns = ["trial", "state", *result.config["space"], metric]
    shown = table(
        f"Search {result.study_name}: best trials of {len(result.trials)}",
        columns,
        right=[key for key in columns if key != "state"],
    )
    for row in result.table(limit=10):
        shown.add_row(*(cell(row.get(key)) for key in columns))
    out.print(shown)
    counts = result.counts()
    detail = ", ".join(f"{n} {state}" for state, n in counts.items() if state != "done")
    out.print(f"trials done: {counts['done']} of {result.config['n_trials']} ({detail})")
    best = result.best
    if best is None:
        out.print("no trial completed")
    else:
        others = {k: v for k, v in best.params.items() if k != "lr"}
        extra = f" with {others}" if others else ""
        out.print(
            Text.assemble(
                "best learning rate: ",
                (f"{best.params['lr']:.4g}", "bold"),
                f"{extra} → {metric} {best.score:.4g} (trial {best.number})",
            )
        )
    importances = result.importances().describe()
    if importances:
        out.print(importances)
    if resumable and result.storage != "memory":
        out.print(f"study {result.study_name!r} in {result.storage}: rerun the command to resume")
    out.print("wrote " + ", ".join(str(path) for path in written))


def prepare_out_dir(
    out: Path, names: list[str], overwrite: bool, *, finished: str | None = None
) -> dict[str, Path]:
    """Create ``out`` and return the paths of ``names`` in it.

    Refuses (``FileExistsError``) when a finished run is there, unless ``overwrite``, so a
    rerun never silently replaces results a user kept. ``finished`` names the file written
    last, whose presence marks a finished run (the other files without it are what an
    interrupted run left, and are replaced); by default any of ``names`` counts.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    paths = {name: out / name for name in names}
    marks = [out / finished] if finished is not None else list(paths.values())
    existing = [str(path) for path in marks if path.exists()]
    if existing and not overwrite:
        verb = "exists" if len(existing) == 1 else "exist"
        raise FileExistsError(
            f"{', '.join(existing)} already {verb}; pass --overwrite or choose another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise ValueError(f"--out: cannot create {out} ({exc.strerror})") from None
    return paths


def refuse_other_kind(out: Path, other: str, kind: str) -> None:
    """``ValueError`` when ``out`` holds ``other`` (the file of another kind of results, whose
    report.html this command would replace)."""
    if (out / other).exists():
        raise ValueError(
            f"--out: {out} holds {kind} ({other}) whose report.html would be replaced; "
            "choose another --out"
        )
