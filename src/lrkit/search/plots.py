"""Pictures of a search: score against learning rate, and parallel coordinates when the
search varied several parameters. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from lrkit._files import save_figure
from lrkit.plotting import pyplot
from lrkit.search.results import SearchResult


def plot_score_vs_lr(result: SearchResult, path: str | Path | None = None, ax: Any = None) -> Any:
    """Each trial's score against its learning rate (log axis); the best trial is starred.

    Complete trials are filled, pruned trials hollow at their last reported score; colours
    tell the optimizers apart when the search varied them. Returns the axes.
    """
    plt = pyplot()
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    groups = sorted({str(t.params.get("optimizer", "")) for t in result.trials})
    for index, group in enumerate(groups):
        color = f"C{index % 10}"
        label = group or result.metric
        for state, filled in (("complete", True), ("pruned", False)):
            points = [
                (float(t.params["lr"]), _last_score(t))
                for t in result.trials
                if t.state == state and str(t.params.get("optimizer", "")) == group
            ]
            points = [(lr, s) for lr, s in points if s is not None]
            if not points:
                continue
            lrs, scores = zip(*points, strict=True)
            ax.scatter(
                lrs,
                scores,
                s=36,
                facecolors=color if filled else "none",
                edgecolors=color,
                label=f"{label} ({state})",
            )
    best = result.best
    title = f"Search: {result.metric} against learning rate"
    if best is not None:
        ax.scatter(
            [best.params["lr"]],
            [best.score],
            marker="*",
            s=260,
            color="gold",
            edgecolors="black",
            zorder=5,
            label=f"best: lr {best.params['lr']:.3g}",
        )
        title += f" — best lr {best.params['lr']:.3g} ({result.metric} {best.score:.4g})"
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(result.metric)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if path is not None:
        save_figure(ax.figure, path, bbox_inches="tight")
        if own_figure:
            plt.close(ax.figure)
    return ax


def plot_parallel_coordinates(result: SearchResult, path: str | Path | None = None) -> Any:
    """One line per complete trial across every parameter and the score (Optuna's plot)."""
    import optuna

    plt = pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_parallel_coordinate(
            result.to_study(), target_name=result.metric
        )
    figure: Any = ax.figure
    figure.set_size_inches(9, 4.5)
    ax.set_title(f"Search: parameters of {len(result.complete)} complete trials", fontsize="medium")
    if path is not None:
        save_figure(figure, path, bbox_inches="tight", dpi=110)
        plt.close(figure)
    return ax


def save_plots(result: SearchResult, out_dir: str | Path) -> list[Path]:
    """Write ``search_score_vs_lr.png`` and, with several varied parameters,
    ``search_parallel.png`` to ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    written = []
    if result.complete or any(t.state == "pruned" for t in result.trials):
        written.append(out / "search_score_vs_lr.png")
        plot_score_vs_lr(result, written[-1])
    varied = {key for t in result.complete for key in t.params}
    distinct = [k for k in varied if len({str(t.params.get(k)) for t in result.complete}) > 1]
    if len(distinct) > 1 and len(result.complete) > 1:
        written.append(out / "search_parallel.png")
        plot_parallel_coordinates(result, written[-1])
    return written


def _last_score(trial: Any) -> float | None:
    if trial.score is not None and math.isfinite(trial.score):
        return float(trial.score)
    values = [v for _, v in sorted(trial.intermediate.items()) if math.isfinite(v)]
    return values[-1] if values else None
