"""A comparison's pictures as PNG files, which its report shows (matplotlib is imported only
when drawing).

- ``curves.png``: loss and score on the training and validation splits per epoch, one line
  per strategy (mean over seeds, band from the lowest to the highest seed);
- ``lr.png``: the learning rate each strategy used at every batch (first seed);
- ``scores.png``: final validation score per strategy, mean with ± one standard deviation;
- ``range_test_<optimizer>.png``: each range test the comparison ran.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrkit._files import save_figure
from lrkit.compare.results import Results
from lrkit.compare.summary import StrategySummary
from lrkit.plotting import pyplot

PANELS = (
    ("train_loss", "training loss"),
    ("val_loss", "validation loss"),
    ("train_score", "training {metric}"),
    ("val_score", "validation {metric}"),
)

STATUS_COLORS = {"ok": "C0", "too slow": "C1", "diverged": "C3", "failed": "0.6"}


def colors(names: Sequence[str]) -> dict[str, Any]:
    """One color per strategy, the same in every plot."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def mean_band(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean, minimum and maximum over runs of possibly different lengths."""
    length = max(len(c) for c in curves)
    grid = np.full((len(curves), length), np.nan)
    for row, curve in zip(grid, curves, strict=True):
        row[: len(curve)] = curve
    with np.errstate(all="ignore"):
        mean = np.nanmean(grid, axis=0) if np.isfinite(grid).any() else grid[0]
        return mean, np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)


def _records(results: Results) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in results.names}
    for run in results.runs:
        if run["record"] is not None and run["strategy"] in out:
            out[run["strategy"]].append(run["record"])
    return out


def plot_curves(results: Results, path: Path, target: float | None = None) -> Path:
    """Loss and score curves, training and validation, per strategy; ``target`` dashed."""
    plt = pyplot()
    records = _records(results)
    palette = colors(results.names)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), dpi=100, sharex=True)
    for ax, (key, label) in zip(axes.flat, PANELS, strict=True):
        for name, runs in records.items():
            if not runs:
                continue
            epochs = max((r["epochs"] for r in runs), key=len)
            mean, low, high = mean_band([_values(r[key]) for r in runs])
            x = np.asarray(epochs[: len(mean)], dtype=float)
            ax.plot(x, mean, color=palette[name], linewidth=1.8, label=name)
            if len(runs) > 1:
                ax.fill_between(x, low, high, color=palette[name], alpha=0.15, linewidth=0)
        if key == "val_score" and target is not None:
            ax.axhline(target, color="0.3", linestyle="--", linewidth=1)
            ax.annotate(
                f"target {target:.3g}",
                (0, target),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=8,
                color="0.3",
            )
        ax.set_title(label.format(metric=results.metric))
        ax.grid(True, alpha=0.3)
        if key.endswith("loss"):
            _log_if_positive(ax)
    from matplotlib.ticker import MaxNLocator

    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=9)
    rows = math.ceil(len(labels) / 4)
    fig.tight_layout(rect=(0, 0.01 + 0.03 * rows, 1, 1))
    return _save(fig, path)


def _log_if_positive(ax: Any) -> None:
    data = [line.get_ydata() for line in ax.get_lines()]
    values = np.concatenate([np.asarray(d, dtype=float) for d in data]) if data else np.array([])
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() > 10:
        ax.set_yscale("log")


def plot_lr(results: Results, path: Path) -> Path:
    """The learning rate at every batch, per strategy (first seed), against epochs."""
    plt = pyplot()
    palette = colors(results.names)
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=100)
    for name, runs in _records(results).items():
        if not runs:
            continue
        trace = runs[0]["lr"]
        per_epoch = max(1, int(runs[0]["steps_per_epoch"]))
        x = np.asarray(trace["steps"], dtype=float) / per_epoch
        ax.plot(x, trace["values"], color=palette[name], linewidth=1.6, label=name)
    _log_if_positive(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate per batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_scores(results: Results, rows: Sequence[StrategySummary], path: Path) -> Path:
    """Final validation score per strategy (mean ± standard deviation), colored by status."""
    plt = pyplot()
    shown = [r for r in rows if r.final_score is not None]
    fig, ax = plt.subplots(figsize=(10, 0.45 * max(len(shown), 2) + 1.2), dpi=100)
    y = np.arange(len(shown))
    means = [r.final_score.mean for r in shown if r.final_score]
    stds = [r.final_score.std for r in shown if r.final_score]
    ax.barh(
        y,
        means,
        xerr=stds,
        color=[STATUS_COLORS.get(r.status, "C0") for r in shown],
        capsize=3,
    )
    ax.set_yticks(y, [f"{r.name} ({r.status})" for r in shown])
    ax.invert_yaxis()
    ax.set_xlabel(f"final validation {results.metric}")
    ax.set_title(f"Final validation {results.metric} (mean ± std over seeds)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_range_tests(results: Results, directory: Path) -> list[Path]:
    """One picture per stored range test."""
    from lrkit.rangetest import RangeTestResult

    paths: list[Path] = []
    for data in results.range_tests.values():
        if data["result"] is None:
            continue
        result = RangeTestResult.from_dict(data["result"])
        name = str(result.settings.get("optimizer_name", result.settings.get("optimizer", "")))
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "optimizer"
        path = directory / f"range_test_{slug}.png"
        if path in paths:
            path = directory / f"range_test_{slug}_{len(paths)}.png"
        ax = result.plot()
        ax.set_title(f"Range test ({name}): {ax.get_title()}")
        paths.append(_save(ax.figure, path))
    return paths


def _save(fig: Any, path: Path) -> Path:
    plt = pyplot()
    save_figure(fig, path, bbox_inches="tight")
    plt.close(fig)
    return path
