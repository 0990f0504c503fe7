"""The search's ``report.html``: the best learning rate and score, every trial, the plots.

One self-contained page built from :mod:`lrkit.report.page`; every string that came from a
user (study name, objective, parameter choices, error messages) goes through
:func:`html.escape`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrkit.report.page import errors, figures, number, page

if TYPE_CHECKING:
    from lrkit.search.results import SearchResult, TrialRecord

STATE_STYLE = """
.state-pruned { color: #9a6700; } .state-fail { color: #b3261e; }
.state-running, .state-waiting { color: #777; }
.bar { display: inline-block; height: 0.8em; background: #4a78c2; }
"""


def _objective(config: dict[str, Any]) -> str:
    described = config.get("objective")
    if not isinstance(described, dict):
        return "a function that cannot be re-imported"
    if described.get("kind") == "task":
        return f"task {described.get('task')}, {described.get('epochs')} epoch(s) per trial"
    return str(described.get("ref", described.get("kind")))


def _columns(result: SearchResult) -> list[str]:
    """Parameter names: the space's order first, then any other a trial holds."""
    names = list(result.config.get("space", {}))
    for trial in result.trials:
        names += [key for key in trial.params if key not in names]
    return names


def _note(trial: TrialRecord) -> str:
    notes = []
    if trial.retry_of is not None:
        notes.append(f"re-run of trial {trial.retry_of}")
    if trial.retried_as is not None:
        notes.append(f"re-run as trial {trial.retried_as}")
    if trial.error:
        notes.append(trial.error.strip().splitlines()[-1] if trial.error.strip() else "error")
    return "; ".join(notes)


def _table(result: SearchResult) -> str:
    params = _columns(result)
    workers = {t.worker for t in result.trials if t.worker}
    show_worker = len(workers) > 1
    head = "".join(
        f"<th>{escape(name)}</th>"
        for name in [
            "trial",
            "state",
            *params,
            result.metric,
            "epochs",
            "seconds",
            *(["worker"] if show_worker else []),
            "note",
        ]
    )
    by_number = {t.number: t for t in result.trials}
    best = result.best
    body = []
    for row in result.table():
        trial = by_number[row["trial"]]
        css = "winner" if best is not None and trial.number == best.number else ""
        cells = [
            f"<td>{escape(str(trial.number))}</td>",
            f'<td class="text state-{escape(trial.state)}">{escape(trial.state)}</td>',
            *(f"<td>{escape(_value(trial.params.get(name)))}</td>" for name in params),
            f"<td>{escape(_value(trial.score))}</td>",
            f"<td>{len(trial.intermediate)}</td>",
            f"<td>{'—' if trial.duration_s is None else f'{trial.duration_s:.1f}'}</td>",
            *([f'<td class="text">{escape(trial.worker or "—")}</td>'] if show_worker else []),
            f'<td class="text">{escape(_note(trial))}</td>',
        ]
        body.append(f'<tr class="{css}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="trials-table"><tr>{head}</tr>{"".join(body)}</table></div>'
    )


def _value(value: Any) -> str:
    return "—" if value is None else number(value)


def _best(result: SearchResult) -> str:
    best = result.best
    if best is None:
        return "<p>No trial completed, so there is no best learning rate yet.</p>"
    others = ", ".join(
        f"{key} {_value(value)}" for key, value in best.params.items() if key != "lr"
    )
    extra = f" with {escape(others)}" if others else ""
    return (
        f"<p>Best learning rate <b>{escape(number(float(best.params['lr'])))}</b>{extra}: "
        f"{escape(result.metric)} <b>{escape(number(best.score))}</b> "
        f"(trial {escape(str(best.number))}).</p>"
    )


def _importances(result: SearchResult) -> str:
    """The varied parameters ranked by Optuna's importances, or why there are none."""
    found = result.importances()
    if not found.shown:
        return ""
    if found.missing:
        text = f"<p>{escape(found.missing[0].upper() + found.missing[1:])}.</p>"
        return f'<h2>Parameter importances</h2>\n<div id="importances">{text}</div>'
    rows = "".join(
        f'<tr><td class="text">{escape(name)}</td><td>{value:.3f}</td>'
        f'<td class="text"><span class="bar" style="width: {100 * value:.1f}px"></span></td></tr>'
        for name, value in found.values.items()
    )
    return f"""<h2>Parameter importances</h2>
<div id="importances"><table id="importances-table"><tr><th>parameter</th><th>importance</th>
<th></th></tr>{rows}</table>
<p class="settings">Each parameter's share of what set the best trials apart, from
{found.n_trials} complete trials by Optuna's default importance evaluator
(optuna.importance.get_param_importances); the shares sum to 1.</p></div>"""


def render(result: SearchResult, images: Sequence[tuple[Path, str, str]]) -> str:
    """The page as a string; ``images`` are ``(png path, alt text, caption)``."""
    config = result.config
    counts = result.counts()
    detail = ", ".join(f"{n} {state}" for state, n in counts.items() if state != "done")
    facts = (
        f"study <b>{escape(result.study_name)}</b> · {escape(_objective(config))} · "
        f"sampler {escape(str(config.get('sampler')))} · "
        f"pruner {escape(str(config.get('pruner') or 'none'))} · "
        f"{counts['done']} of {escape(str(config.get('n_trials')))} trials done "
        f"({escape(detail)}) · "
        f"{escape(result.direction)} {escape(result.metric)} · {escape(result.backend)}, "
        f"storage {escape(result.storage)}"
    )
    failures = [
        (f"trial {trial.number} ({trial.state})", trial.error)
        for trial in result.trials
        if trial.error
    ]
    body = f"""<p class="settings">{facts}</p>
<h2>Best</h2>
<div class="verdict" id="best">{_best(result)}</div>
{_importances(result)}
<h2>Trials</h2>
{_table(result)}
<p class="settings">Best first: complete trials by {escape(result.metric)}, then pruned trials
(at the last {escape(result.metric)} they reported), then the rest. Epochs: how many
scores the trial reported.</p>
<h2>Plots</h2>
{figures(images)}
<h2>Settings</h2>
<pre id="settings">{escape(json.dumps(config, indent=2))}</pre>
{errors(failures)}"""
    return page(f"lrkit search: {result.study_name}", body, style=STATE_STYLE)
