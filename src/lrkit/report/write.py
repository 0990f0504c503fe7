"""How a directory of results becomes a report: find what it holds, draw its plots, write
``report.html`` (and, for a comparison, ``results.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lrkit._files import write_text
from lrkit.compare import FILENAME as COMPARISON_FILE
from lrkit.compare import Results, plot_curves, plot_lr, plot_range_tests, plot_scores
from lrkit.report import html, search_page

if TYPE_CHECKING:
    from lrkit.search.results import SearchResult

SEARCH_FILE = "search.json"


def write_report(source: str | Path | Results, *, target: float | None = None) -> dict[str, Path]:
    """Render the comparison or the search stored in ``source`` (a directory or
    :class:`Results`) and return the paths written by name.

    A comparison gets ``results.json``, ``report.html`` and ``plots/*.png``; ``target`` is its
    validation score for "time to target" (default: 90% of the way from the untrained score
    to the best strategy's mean best score). A search gets ``report.html`` and its plots (see
    :func:`write_search_report`).
    """
    if isinstance(source, Results):
        return _write_comparison(source, target)
    found = load(source)
    if isinstance(found, Results):
        return _write_comparison(found, target)
    if target is not None:
        raise ValueError(f"target: applies to comparisons only, got {target} for a search")
    return write_search_report(found, source)


def load(directory: str | Path) -> Results | SearchResult:
    """The comparison (``compare.sqlite``) or the search (``search.json``) in ``directory``."""
    directory = Path(directory)
    comparison = (directory / COMPARISON_FILE).is_file()
    search = (directory / SEARCH_FILE).is_file()
    if comparison:
        _refuse_both(directory, SEARCH_FILE)
    if search:
        from lrkit.search.results import SearchResult

        return SearchResult.from_json(directory / SEARCH_FILE)
    if not comparison:
        raise FileNotFoundError(
            f"{directory}: no comparison here (missing {COMPARISON_FILE}, written by lrkit "
            f"compare) and no search (missing {SEARCH_FILE}, written by lrkit search)"
        )
    return Results.load(directory)


def _refuse_both(directory: Path, other: str) -> None:
    """``ValueError`` when ``directory`` also holds ``other``: both would write report.html."""
    if (directory / other).is_file():
        raise ValueError(
            f"{directory}: holds both a comparison ({COMPARISON_FILE}) and a search "
            f"({SEARCH_FILE}), which would both write report.html; move one to its own directory"
        )


def write_search_report(result: SearchResult, directory: str | Path) -> dict[str, Path]:
    """Write ``search_score_vs_lr.png``, ``search_parallel.png`` (several varied parameters)
    and ``report.html`` showing them to ``directory``; return their paths by name."""
    from lrkit.search.plots import save_plots

    out = Path(directory)
    _refuse_both(out, COMPARISON_FILE)
    metric = result.metric
    captions = {
        "search_score_vs_lr": (
            f"{metric} against learning rate",
            f"Every trial's {metric} against its learning rate (log scale): complete trials "
            f"filled, pruned trials hollow at their last reported {metric}, the best starred.",
        ),
        "search_parallel": (
            "parallel coordinates of the complete trials",
            f"Parallel coordinates: one line per complete trial through every searched "
            f"parameter to its {metric}.",
        ),
    }
    images = [(path, *captions[path.stem]) for path in save_plots(result, out)]
    outputs = {"report.html": out / "report.html"}
    write_text(outputs["report.html"], search_page.render(result, images))
    outputs.update({path.name: path for path, _, _ in images})
    return outputs


def _write_comparison(results: Results, target: float | None) -> dict[str, Path]:
    """``results.json``, ``report.html`` and ``plots/*.png`` of a comparison."""
    directory = results.directory
    _refuse_both(directory, SEARCH_FILE)
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
            plot_curves(results, plot_dir / "curves.png", chosen),
            f"loss and {metric} curves per strategy",
            f"Loss and {metric} per epoch on the training and validation splits "
            "(mean over seeds; band: lowest to highest seed).",
        ),
        (
            plot_lr(results, plot_dir / "lr.png"),
            "learning rate curves per strategy",
            "Learning rate at every batch (first seed).",
        ),
        (
            plot_scores(results, rows, plot_dir / "scores.png"),
            f"final validation {metric} per strategy",
            f"Final validation {metric}, mean ± standard deviation over seeds.",
        ),
    ]
    for path in plot_range_tests(results, plot_dir):
        images.append((path, "range test", f"Range test behind the 'found' values ({path.stem})."))
    outputs = {
        "results.json": directory / "results.json",
        "report.html": directory / "report.html",
    }
    write_text(outputs["results.json"], json.dumps(results.to_dict(target), indent=2) + "\n")
    write_text(outputs["report.html"], html.render(results, rows, found, chosen, images))
    outputs.update({f"plots/{path.name}": path for path, _, _ in images})
    return outputs
