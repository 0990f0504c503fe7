"""A picture of a diagnosed run: loss, learning rate and gradient norm, findings marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrkit._files import save_figure
from lrkit.doctor.finding import SEVERITIES, Finding
from lrkit.history import History
from lrkit.plotting import pyplot
from lrkit.smoothing import ema
from lrkit.trainlog import TrainingLog

_COLORS = {"info": "tab:blue", "warning": "tab:orange", "critical": "tab:red"}


def _groups(findings: Sequence[Finding], gap: float) -> list[tuple[int, list[Finding]]]:
    """Findings whose steps lie within ``gap`` of the previous one, drawn as one mark."""
    groups: list[tuple[int, list[Finding]]] = []
    for found in sorted(findings, key=lambda f: f.step):
        if groups and found.step - groups[-1][1][-1].step <= gap:
            groups[-1][1].append(found)
        else:
            groups.append((found.step, [found]))
    return groups


def _thin(x: np.ndarray, y: np.ndarray, bins: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 x bins`` points of a line: in each of ``bins`` runs of equal length, its
    lowest and its highest point (in order), so that every spike and dip still shows."""
    if x.size <= 2 * bins:
        return x, y
    size = -(-x.size // bins)
    padded = np.full(bins * size, np.nan)
    padded[: y.size] = y
    grid = padded.reshape(bins, size)
    start = np.arange(bins) * size
    low = start + np.argmin(np.where(np.isnan(grid), np.inf, grid), axis=1)
    high = start + np.argmax(np.where(np.isnan(grid), -np.inf, grid), axis=1)
    keep = np.unique(np.concatenate((low, high)))
    keep = keep[keep < y.size]
    return x[keep], y[keep]


def plot_diagnosis(
    history: History | TrainingLog,
    findings: Sequence[Finding] = (),
    path: str | Path | None = None,
    *,
    smoothing: float = 0.98,
    title: str | None = None,
) -> Any:
    """Loss (raw, smoothed with ``smoothing``, validation), then learning rate and gradient
    norm panels when recorded, with a vertical line per finding coloured by severity.

    Saves to ``path`` when given; returns the matplotlib figure.
    """
    plt = pyplot()
    columns = history.columns
    panels = ["loss"] + [name for name in ("lr", "grad_norm") if name in columns]
    fig, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        figsize=(8, 2.2 + 1.6 * len(panels)),
        dpi=110,
        gridspec_kw={"height_ratios": [2.2] + [1] * (len(panels) - 1)},
        squeeze=False,
    )
    axes = axes[:, 0]
    steps = history.steps
    unit = history.unit
    loss_ax = axes[0]
    if "loss" in columns:
        loss = history.column("loss")
        train = np.isfinite(loss)
        loss_ax.plot(*_thin(steps[train], loss[train]), color="0.7", linewidth=0.8, label="loss")
        if smoothing > 0:
            smooth = ema(loss, smoothing)
            loss_ax.plot(*_thin(steps, smooth), color="C0", linewidth=1.8, label="smoothed loss")
        positive = bool(np.all(loss[train] > 0)) if train.any() else False
    else:
        positive = False
    if "val_loss" in columns:
        val = history.column("val_loss")
        has = np.isfinite(val)
        loss_ax.plot(steps[has], val[has], "o-", color="C2", markersize=3, label="validation loss")
        positive = positive and bool(np.all(val[has] > 0))
    if positive:
        loss_ax.set_yscale("log")
    loss_ax.set_ylabel("loss")
    for name, ax in zip(panels[1:], axes[1:], strict=True):
        values = history.column(name)
        has = np.isfinite(values)
        color = "C1" if name == "lr" else "C4"
        ax.plot(*_thin(steps[has], values[has]), color=color, linewidth=1.2)
        if has.any() and np.all(values[has] > 0):
            ax.set_yscale("log")
        ax.set_ylabel("learning rate" if name == "lr" else "gradient norm")
    span = float(steps[-1] - steps[0]) if steps.size > 1 else 1.0
    for step, group in _groups(findings, gap=0.02 * span):
        color = _COLORS[max((f.severity for f in group), key=SEVERITIES.index)]
        for ax in axes:
            ax.axvline(step, color=color, linestyle="--", linewidth=1.2, alpha=0.9)
        label = "\n".join(dict.fromkeys(f.kind for f in group))
        loss_ax.annotate(
            label,
            xy=(step, 0.97),
            xycoords=("data", "axes fraction"),
            xytext=(3, 0),
            textcoords="offset points",
            va="top",
            ha="left",
            fontsize=8,
            color=color,
            bbox={
                "boxstyle": "round,pad=0.2",
                "facecolor": "white",
                "alpha": 0.8,
                "edgecolor": color,
            },
        )
    for severity, color in _COLORS.items():
        if any(found.severity == severity for found in findings):
            loss_ax.plot([], [], "--", color=color, label=severity)
    loss_ax.legend(loc="lower left", fontsize="small")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].set_xlabel(unit)
    count = len(findings)
    loss_ax.set_title(title or f"lrkit doctor: {count} finding{'s' if count != 1 else ''}")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, bbox_inches="tight")
        plt.close(fig)
    return fig
