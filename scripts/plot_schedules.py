"""Draw a small picture of every lrkit schedule into ``docs/images/schedules/``.

    python scripts/plot_schedules.py            # writes the PNGs
    python scripts/plot_schedules.py --table    # also prints the gallery table (markdown)

The docs site builds the same table from :func:`examples` (``scripts/docs_hooks.py``), and
``make docs`` runs this script first, so the pictures and the table cannot drift apart.

The pictures are deterministic (no timestamps), so re-running only changes files whose
schedule changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lrkit import schedules as S
from lrkit.schedules.plateau import ReduceOnPlateau

OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "schedules"
SIZE = (3.2, 2.0)
DPI = 100


def examples() -> list[tuple[str, S.Schedule, S.Schedule | None, int, str]]:
    """(file name, schedule, momentum curve, steps shown, call shown in the table)."""
    cycle = S.one_cycle(0.1, 1000)
    three = S.one_cycle(0.1, 1000, anneal="linear", three_phase=True)
    tri = S.triangular(0.01, 0.1, 100)
    tri2 = S.triangular2(0.01, 0.1, 100)
    exp_range = S.exp_range(0.01, 0.1, 100, gamma=0.998)
    return [
        ("constant", S.constant(0.1), None, 1000, "constant(0.1)"),
        ("step_decay", S.step_decay(0.1, 250, 0.5), None, 1000, "step_decay(0.1, 250, 0.5)"),
        (
            "multistep",
            S.multistep(0.1, [300, 600, 800]),
            None,
            1000,
            "multistep(0.1, [300, 600, 800])",
        ),
        (
            "piecewise_constant",
            S.piecewise_constant([200, 500], [0.1, 0.03, 0.005]),
            None,
            1000,
            "piecewise_constant([200, 500], [0.1, 0.03, 0.005])",
        ),
        (
            "exponential",
            S.exponential(0.1, gamma=0.997),
            None,
            1000,
            "exponential(0.1, gamma=0.997)",
        ),
        (
            "inverse_time",
            S.inverse_time(0.1, rate=0.01),
            None,
            1000,
            "inverse_time(0.1, rate=0.01)",
        ),
        ("linear", S.linear(0.1, 0.01, 800), None, 1000, "linear(0.1, 0.01, 800)"),
        (
            "polynomial",
            S.polynomial(0.1, 800, power=2.0),
            None,
            1000,
            "polynomial(0.1, 800, power=2)",
        ),
        ("cosine", S.cosine(0.1, 800, floor=0.005), None, 1000, "cosine(0.1, 800, floor=0.005)"),
        (
            "cosine_restarts",
            S.cosine_restarts(0.1, 100, cycle_mult=2.0, decay=0.8),
            None,
            1500,
            "cosine_restarts(0.1, 100, cycle_mult=2, decay=0.8)",
        ),
        ("triangular", tri, tri.momentum(), 1000, "triangular(0.01, 0.1, 100)"),
        ("triangular2", tri2, tri2.momentum(), 1000, "triangular2(0.01, 0.1, 100)"),
        (
            "exp_range",
            exp_range,
            exp_range.momentum(),
            1000,
            "exp_range(0.01, 0.1, 100, gamma=0.998)",
        ),
        ("one_cycle", cycle, cycle.momentum(), 1000, "one_cycle(0.1, 1000)"),
        (
            "one_cycle_three_phase",
            three,
            three.momentum(),
            1000,
            'one_cycle(0.1, 1000, anneal="linear", three_phase=True)',
        ),
        (
            "wsd",
            S.wsd(0.1, 1000, cooldown_steps=200, warmup_steps=100, decay="sqrt"),
            None,
            1000,
            'wsd(0.1, 1000, cooldown_steps=200, warmup_steps=100, decay="sqrt")',
        ),
        (
            "interpolate",
            S.interpolate([0, 200, 600, 1000], [0.02, 0.1, 0.04, 0.0], anneal="cos"),
            None,
            1000,
            'interpolate([0, 200, 600, 1000], [0.02, 0.1, 0.04, 0], anneal="cos")',
        ),
        (
            "warmup",
            S.warmup(S.cosine(0.1, 900), warmup_steps=100),
            None,
            1000,
            "warmup(cosine(0.1, 900), warmup_steps=100)",
        ),
        (
            "sequence",
            S.sequence([S.constant(0.1), S.exponential(0.1, gamma=0.995)], boundaries=[400]),
            None,
            1000,
            "sequence([constant(0.1), exponential(0.1, gamma=0.995)], [400])",
        ),
        (
            "scale",
            S.scale(S.triangular(0.01, 0.1, 100), 0.5),
            None,
            1000,
            "scale(triangular(0.01, 0.1, 100), 0.5)",
        ),
    ]


def plateau_run(epochs: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(learning rates, losses) of a ReduceOnPlateau after a warm-up, fed a validation loss
    that stalls twice."""
    plateau = ReduceOnPlateau(S.warmup(S.constant(0.1), 5, start=0.01), patience=4, ignore_before=5)
    loss = np.concatenate([np.linspace(2.0, 1.0, 20), np.full(15, 1.0), np.linspace(1.0, 0.8, 10)])
    loss = np.concatenate([loss, np.full(epochs - len(loss), 0.8)])
    lrs = []
    for epoch in range(epochs):
        lrs.append(plateau(epoch))
        plateau.update(float(loss[epoch]), epoch)
    return np.array(lrs), loss


def draw(out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schedule, momentum, steps, _ in examples():
        path = out / f"{name}.png"
        S.plot_schedule(
            schedule, steps, momentum=momentum, path=path, title=name, figsize=SIZE, dpi=DPI
        )
        written.append(path)
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    lrs, loss = plateau_run()
    epochs = np.arange(len(lrs))
    ax.step(epochs, lrs, where="post", color="C0", linewidth=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    twin = ax.twinx()
    twin.plot(epochs, loss, color="C3", linewidth=1.2, linestyle="--")
    twin.set_ylabel("val loss", color="C3")
    twin.tick_params(axis="y", colors="C3")
    ax.set_title("reduce_on_plateau")
    ax.grid(True, alpha=0.3)
    path = out / "reduce_on_plateau.png"
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    written.append(path)
    return written


def table() -> str:
    rows = ["| schedule | formula (t = step) | example | picture |", "| --- | --- | --- | --- |"]
    for name, schedule, _, _, call in examples():
        formula = type(schedule).formula.replace("|", "\\|")
        image = f"![{name}](docs/images/schedules/{name}.png)"
        rows.append(f"| `{schedule.name}` | `{formula}` | `{call}` | {image} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true", help="print the gallery table")
    args = parser.parse_args()
    for path in draw(args.out):
        print(f"wrote {path}")
    if args.table:
        print(table())


if __name__ == "__main__":
    main()
