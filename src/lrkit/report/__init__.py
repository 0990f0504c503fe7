"""Reports of comparisons: ``report.html``, ``results.json`` and PNG plots in the directory.

>>> from lrkit import report
>>> paths = report.write_report("runs")       # a directory written by lrkit.compare.compare
>>> paths["report.html"]
PosixPath('runs/report.html')
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lrkit.compare.results import Results
from lrkit.report import html, plots


def write_report(source: str | Path | Results, *, target: float | None = None) -> dict[str, Path]:
    """Render the comparison stored in ``source`` (a directory or :class:`Results`).

    Writes ``results.json``, ``report.html`` and ``plots/*.png`` in that directory and returns
    their paths by name. ``target``: the validation score for "time to target" (default: 90%
    of the way from the untrained score to the best strategy's mean best score).
    """
    results = source if isinstance(source, Results) else Results.load(source)
    directory = results.directory
    if not results.names:
        raise ValueError(f"{directory}: the comparison has no strategies yet")
    chosen = results.target(target)
    rows = results.summary(target)
    found = results.verdict(target)
    plot_dir = directory / "plots"
    plot_dir.mkdir(exist_ok=True)
    metric = results.metric
    images = [
        (
            plots.plot_curves(results, plot_dir / "curves.png", chosen),
            f"loss and {metric} curves per strategy",
            f"Loss and {metric} per epoch on the training and validation splits "
            "(mean over seeds; band: lowest to highest seed).",
        ),
        (
            plots.plot_lr(results, plot_dir / "lr.png"),
            "learning rate curves per strategy",
            "Learning rate at every batch (first seed).",
        ),
        (
            plots.plot_scores(results, rows, plot_dir / "scores.png"),
            f"final validation {metric} per strategy",
            f"Final validation {metric}, mean ± standard deviation over seeds.",
        ),
    ]
    for path in plots.plot_range_tests(results, plot_dir):
        images.append((path, "range test", f"Range test behind the 'found' values ({path.stem})."))
    outputs = {
        "results.json": directory / "results.json",
        "report.html": directory / "report.html",
    }
    _write(outputs["results.json"], json.dumps(results.to_dict(target), indent=2) + "\n")
    _write(outputs["report.html"], html.render(results, rows, found, chosen, images))
    outputs.update({f"plots/{path.name}": path for path, _, _ in images})
    return outputs


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


__all__ = ["write_report"]
