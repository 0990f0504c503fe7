"""Pictures of range-test results (matplotlib is imported only when a plot is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrkit._files import save_figure
from lrkit._optional import require
from lrkit.suggest import READS_RAW, Suggestion, SuggestionError, lagless_curve, resolve

if TYPE_CHECKING:
    from lrkit.rangetest import RangeTestResult

_MARKERS = {"steepest": "v", "valley": "o", "minimum": "s", "slide": "^", "centred": "*"}


def pyplot() -> Any:
    """matplotlib.pyplot on a file-only backend, or an ImportError naming the extra."""
    matplotlib = require("matplotlib", "plot")
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    return require("matplotlib.pyplot", "plot")


def plot_range_test(result: RangeTestResult, path: str | Path | None = None, ax: Any = None) -> Any:
    """Raw loss, its EMA and its lag-free curve against learning rate, each rule's suggestion
    (on the curve the rule reads) and the CLR band.

    Draws on ``ax`` when given, else on a new figure; saves to ``path`` (PNG, SVG, ...) when
    given. Returns the axes.
    """
    plt = pyplot()
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    lrs = np.asarray(result.lrs)
    ax.plot(lrs, result.losses, color="0.75", linewidth=1, label="loss")
    ax.plot(lrs, result.smoothed_losses, color="C0", linewidth=2, label="smoothed loss (EMA)")
    curves = {False: (lrs, np.asarray(result.smoothed_losses))}
    try:
        curves[True] = lagless_curve(result.lrs, result.losses, "plot")
        ax.plot(*curves[True], color="C1", linewidth=1.5, linestyle="--", label="lag-free curve")
    except SuggestionError:
        pass
    try:
        base_lr, max_lr = result.clr_bounds()
        ax.axvspan(base_lr, max_lr, color="C2", alpha=0.12, label="cyclical bounds")
    except SuggestionError:
        pass
    smoothed = np.asarray(result.smoothed_losses)
    for name, found in result.suggestions().items():
        if name == "default" or not isinstance(found, Suggestion):
            continue
        curve_lrs, curve = curves.get(resolve(name) in READS_RAW, curves[False])
        y = float(np.interp(np.log(found.lr), np.log(curve_lrs), curve))
        ax.plot(found.lr, y, _MARKERS.get(name, "D"), markersize=8, label=f"{name}: {found.lr:.2e}")
    if result.settings.get("mode", "exp") == "exp":
        ax.set_xscale("log")
    finite = smoothed[np.isfinite(smoothed)]
    raw = np.asarray(result.losses)
    raw = raw[np.isfinite(raw)]
    if finite.size:
        low, high = min(finite.min(), raw.min()), finite[0]
        margin = 0.1 * max(high - low, abs(high) * 0.05, 1e-12)
        ax.set_ylim(low - margin, max(high, low) + 3 * margin)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    default = result.suggestions()["default"]
    title = "Learning-rate range test"
    if isinstance(default, Suggestion):
        title += f" — suggested lr {default.lr:.2e}"
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    if path is not None:
        save_figure(ax.figure, path, bbox_inches="tight")
        if own_figure:
            plt.close(ax.figure)
    return ax
