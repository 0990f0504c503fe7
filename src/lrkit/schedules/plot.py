"""Pictures of schedules (matplotlib is imported only when a plot is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lrkit._files import save_figure
from lrkit.plotting import pyplot
from lrkit.schedules.base import Schedule


def default_steps(schedule: Schedule) -> int:
    """How many steps a picture of ``schedule`` shows: its duration, else 1000."""
    duration = schedule.duration
    return 1000 if duration is None else max(duration, 2)


def plot_schedule(
    schedule: Schedule,
    steps: int | None = None,
    *,
    momentum: Schedule | None = None,
    path: str | Path | None = None,
    ax: Any = None,
    title: str | None = None,
    log_y: bool = False,
    figsize: tuple[float, float] = (7.0, 3.5),
    dpi: int = 110,
) -> Any:
    """Draw ``schedule`` over steps ``0 .. steps − 1`` (and ``momentum`` on a second axis).

    Draws on ``ax`` when given, else on a new figure; saves to ``path`` (PNG, SVG, ...) when
    given. Returns the axes.
    """
    plt = pyplot()
    n = default_steps(schedule) if steps is None else steps
    if n < 1:
        raise ValueError(f"steps: must be >= 1, got {steps!r}")
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=figsize, dpi=dpi)
    t = np.arange(n)
    ax.plot(t, schedule(t), color="C0", linewidth=1.6, label="learning rate")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.set_title(title if title is not None else schedule.name)
    if momentum is not None:
        twin = ax.twinx()
        twin.plot(t, momentum(t), color="C1", linewidth=1.2, linestyle="--", label="momentum")
        twin.set_ylabel("momentum", color="C1")
        twin.tick_params(axis="y", colors="C1")
    if path is not None:
        save_figure(ax.figure, path, bbox_inches="tight", metadata={"Software": None})
        if own_figure:
            plt.close(ax.figure)
    return ax
