"""The comparison's ``report.html``: one self-contained page (inline CSS, PNGs inlined as
base64, no script).

Every string that came from a user (task, strategy names and definitions, error messages)
goes through :func:`html.escape`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from lrkit.compare import Results, Spread, StrategySummary, Verdict
from lrkit.report.page import errors, figures, number, page


def _spread(spread: Spread | None, digits: int = 3) -> str:
    if spread is None:
        return "—"
    if spread.n == 1:
        return f"{spread.mean:.{digits}f}"
    return f"{spread.mean:.{digits}f} ± {spread.std:.{digits}f}"


def _schedule_text(resolved: dict[str, Any] | None) -> str:
    if resolved is None or resolved.get("schedule") is None:
        return "constant"
    schedule = resolved["schedule"]["schedule"]
    params = ", ".join(
        f"{key}={number(value)}"
        for key, value in schedule["params"].items()
        if not isinstance(value, (dict, list))
    )
    unit = "batch" if resolved["schedule"]["unit"] == "step" else "epoch"
    return f"{schedule['name']}({params}) per {unit}"


def _table(
    rows: Sequence[StrategySummary],
    resolved_by_name: dict[str, dict[str, Any] | None],
    metric: str,
    winner: str | None,
    seeds: int,
) -> str:
    head = (
        "<tr><th>strategy</th><th>optimizer</th><th>learning rate</th><th>schedule</th>"
        f"<th>status</th><th>final val {escape(metric)}</th><th>best val {escape(metric)}</th>"
        "<th>final val loss</th><th>epochs to target</th><th>seconds to target</th>"
        "<th>runs</th></tr>"
    )
    body = []
    for row in rows:
        resolved = resolved_by_name.get(row.name)
        css = "winner" if row.name == winner else ""
        status_css = "status-" + row.status.replace(" ", "-")
        reached = f" ({row.reached}/{row.runs})" if row.runs and row.reached < row.runs else ""
        body.append(
            f'<tr class="{css}">'
            f"<td>{escape(row.name)}</td>"
            f'<td class="text">{escape(str(resolved["optimizer"]) if resolved else "—")}</td>'
            f"<td>{'—' if row.lr is None else f'{row.lr:.3g}'}</td>"
            f'<td class="text">{escape(_schedule_text(resolved))}</td>'
            f'<td class="text {status_css}">{escape(row.status)}</td>'
            f"<td>{_spread(row.final_score)}</td>"
            f"<td>{_spread(row.best_score)}</td>"
            f"<td>{_spread(row.final_loss)}</td>"
            f"<td>{_spread(row.epochs_to_target, 1)}{reached}</td>"
            f"<td>{_spread(row.seconds_to_target, 1)}</td>"
            f"<td>{row.runs}/{seeds}</td></tr>"
        )
    return f'<div class="scroll"><table id="results-table">{head}{"".join(body)}</table></div>'


def render(
    results: Results,
    rows: Sequence[StrategySummary],
    found: Verdict,
    target: float | None,
    images: Sequence[tuple[Path, str, str]],
) -> str:
    """The page as a string; ``images`` are ``(png path, alt text, caption)``."""
    settings = results.settings
    resolved_by_name = {s["definition"]["name"]: s["resolved"] for s in results.strategies}
    seeds = len(settings.get("seeds", [])) or 1
    target_text = "—" if target is None else f"{target:.3f}"
    facts = (
        f"task <b>{escape(str(settings.get('task')))}</b> · {escape(str(settings.get('epochs')))} "
        "epochs · "
        f"{seeds} seed(s) · batch size {escape(str(settings.get('batch_size') or 'default'))} · "
        f"target validation {escape(results.metric)} {target_text}"
    )
    verdict_html = "".join(f"<p>{escape(s)}</p>" for s in found.sentences)
    definitions = json.dumps([s["definition"] for s in results.strategies], indent=2)
    failures = [
        (f"{run['strategy']}, seed {run['seed']}", run["error"])
        for run in results.runs
        if run["error"]
    ]
    body = f"""<p class="settings">{facts}</p>
<h2>Verdict</h2>
<div class="verdict" id="verdict">{verdict_html}</div>
<h2>Results</h2>
{_table(rows, resolved_by_name, results.metric, found.winner, seeds)}
<p class="settings">Mean ± standard deviation over seeds. Epochs and seconds of training until
the validation {escape(results.metric)} first reached the target; (k/n) when only k of n runs
reached it.</p>
<h2>Plots</h2>
{figures(images)}
<h2>Strategies</h2>
<pre id="definitions">{escape(definitions)}</pre>
{errors(failures)}"""
    return page(f"lrkit comparison: {settings.get('task')}", body)
