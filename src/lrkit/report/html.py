"""``report.html``: one self-contained page (inline CSS, PNGs inlined as base64, no script).

Every string that came from a user (task, strategy names and definitions, error messages)
goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from lrkit.compare.results import Results
from lrkit.compare.summary import Spread, StrategySummary
from lrkit.compare.verdict import Verdict

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.settings { color: #555; }
.verdict { background: #f4f7fb; border-left: 4px solid #3b73b9; padding: .6rem 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
th, td.text { white-space: normal; }
.scroll { overflow-x: auto; }
tr.winner { background: #eaf5ea; font-weight: 600; }
.status-diverged { color: #b3261e; } .status-too-slow { color: #9a6700; }
.status-failed { color: #777; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""


def _spread(spread: Spread | None, digits: int = 3) -> str:
    if spread is None:
        return "—"
    if spread.n == 1:
        return f"{spread.mean:.{digits}f}"
    return f"{spread.mean:.{digits}f} ± {spread.std:.{digits}f}"


def _schedule_text(plan: dict[str, Any] | None) -> str:
    if plan is None or plan.get("schedule") is None:
        return "constant"
    schedule = plan["schedule"]["schedule"]
    params = ", ".join(
        f"{key}={_number(value)}"
        for key, value in schedule["params"].items()
        if not isinstance(value, (dict, list))
    )
    unit = "batch" if plan["schedule"]["unit"] == "step" else "epoch"
    return f"{schedule['name']}({params}) per {unit}"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _image(path: Path, alt: str, caption: str, ident: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="{escape(ident)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(alt)}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def _table(
    rows: Sequence[StrategySummary],
    plans: dict[str, dict[str, Any] | None],
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
        plan = plans.get(row.name)
        css = "winner" if row.name == winner else ""
        status_css = "status-" + row.status.replace(" ", "-")
        reached = f" ({row.reached}/{row.runs})" if row.runs and row.reached < row.runs else ""
        body.append(
            f'<tr class="{css}">'
            f"<td>{escape(row.name)}</td>"
            f'<td class="text">{escape(str(plan["optimizer"]) if plan else "—")}</td>'
            f"<td>{'—' if row.lr is None else f'{row.lr:.3g}'}</td>"
            f'<td class="text">{escape(_schedule_text(plan))}</td>'
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
    plans = {s["definition"]["name"]: s["plan"] for s in results.strategies}
    seeds = len(settings.get("seeds", [])) or 1
    target_text = "—" if target is None else f"{target:.3f}"
    facts = (
        f"task <b>{escape(str(settings.get('task')))}</b> · {settings.get('epochs')} epochs · "
        f"{seeds} seed(s) · batch size {escape(str(settings.get('batch_size') or 'default'))} · "
        f"target validation {escape(results.metric)} {target_text}"
    )
    verdict_html = "".join(f"<p>{escape(s)}</p>" for s in found.sentences)
    figures = "".join(
        _image(path, alt, caption, f"plot-{path.stem}") for path, alt, caption in images
    )
    definitions = json.dumps([s["definition"] for s in results.strategies], indent=2)
    errors = [
        f"<h3>{escape(run['strategy'])}, seed {run['seed']}</h3><pre>{escape(run['error'])}</pre>"
        for run in results.runs
        if run["error"]
    ]
    title = f"lrkit comparison: {escape(str(settings.get('task')))}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title><style>{STYLE}</style></head>
<body>
<h1>{title}</h1>
<p class="settings">{facts}</p>
<h2>Verdict</h2>
<div class="verdict" id="verdict">{verdict_html}</div>
<h2>Results</h2>
{_table(rows, plans, results.metric, found.winner, seeds)}
<p class="settings">Mean ± standard deviation over seeds. Epochs and seconds of training until
the validation {escape(results.metric)} first reached the target; (k/n) when only k of n runs
reached it.</p>
<h2>Plots</h2>
{figures}
<h2>Strategies</h2>
<pre id="definitions">{escape(definitions)}</pre>
{"<h2>Errors</h2>" + "".join(errors) if errors else ""}
</body></html>
"""
