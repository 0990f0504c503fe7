"""Scores per strategy over its seeds: final and best validation score (mean ± standard
deviation), time to reach a target score, divergence.

A run *diverged* when a batch loss was not finite, when a batch loss rose above
``DIVERGE_FACTOR`` times the untrained model's training loss, or when it ended with a higher
validation loss than it started with. The default *target* lies 90% of the way from the
untrained model's mean validation score to the best strategy's mean best score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DIVERGE_FACTOR = 4.0
TARGET_FRACTION = 0.9

OK, DIVERGED, TOO_SLOW, FAILED = "ok", "diverged", "too slow", "failed"


@dataclass(frozen=True)
class Spread:
    """Mean and (population) standard deviation over seeds; ``n`` values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return None
        return cls(float(np.mean(finite)), float(np.std(finite)), len(finite))


@dataclass(frozen=True)
class StrategySummary:
    """One row of the results table."""

    name: str
    status: str
    runs: int
    failed_runs: int
    diverged_runs: int
    final_score: Spread | None
    best_score: Spread | None
    final_loss: Spread | None
    initial_score: float | None
    reached: int
    epochs_to_target: Spread | None
    seconds_to_target: Spread | None
    peak_loss: float | None
    lr: float | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_diverged(record: dict[str, Any]) -> bool:
    """Whether one run diverged (see the module docstring)."""
    if record.get("nonfinite"):
        return True
    initial_train, peak = record["train_loss"][0], record.get("peak_loss")
    if peak is not None and initial_train is not None and peak > DIVERGE_FACTOR * initial_train:
        return True
    losses = record["val_loss"]
    return losses[-1] is None or losses[0] is None or losses[-1] > losses[0]


def epochs_to(record: dict[str, Any], target: float) -> tuple[int, float] | None:
    """``(epoch, training seconds)`` when the validation score first reached ``target``."""
    for epoch, score, seconds in zip(
        record["epochs"], record["val_score"], record["train_seconds"], strict=True
    ):
        if score is not None and score >= target:
            return int(epoch), float(seconds)
    return None


def default_target(runs: Sequence[dict[str, Any]]) -> float | None:
    """90% of the way from the untrained score to the best strategy's mean best score."""
    finished = [r for r in runs if r["record"] is not None]
    if not finished:
        return None
    initial = float(np.mean([r["record"]["val_score"][0] for r in finished]))
    by_strategy: dict[str, list[float]] = {}
    for r in finished:
        scores = [s for s in r["record"]["val_score"] if s is not None]
        by_strategy.setdefault(r["strategy"], []).append(max(scores))
    best = max(float(np.mean(v)) for v in by_strategy.values())
    return initial + TARGET_FRACTION * (best - initial)


def summarize(
    names: Sequence[str],
    runs: Sequence[dict[str, Any]],
    resolved_by_name: dict[str, dict[str, Any] | None],
    target: float | None,
) -> list[StrategySummary]:
    """One :class:`StrategySummary` per name, from the stored runs (and, for its ``lr``, each
    strategy's resolved form: ``resolved_by_name``)."""
    rows = []
    for name in names:
        mine = [r for r in runs if r["strategy"] == name]
        records = [r["record"] for r in mine if r["record"] is not None]
        errors = [r["error"] for r in mine if r["record"] is None and r["error"]]
        diverged = sum(run_diverged(rec) for rec in records)
        hits = [epochs_to(rec, target) for rec in records] if target is not None else []
        reached = [hit for hit in hits if hit is not None]
        if not records:
            status = FAILED
        elif diverged * 2 > len(records):
            status = DIVERGED
        elif len(reached) * 2 < len(records):
            status = TOO_SLOW
        else:
            status = OK
        resolved = resolved_by_name.get(name)
        initial = Spread.of([rec["val_score"][0] for rec in records])
        peaks = [rec["peak_loss"] for rec in records if rec.get("peak_loss") is not None]
        rows.append(
            StrategySummary(
                name=name,
                status=status,
                runs=len(records),
                failed_runs=len(mine) - len(records),
                diverged_runs=diverged,
                final_score=Spread.of([rec["val_score"][-1] for rec in records]),
                best_score=Spread.of([_best(rec["val_score"]) for rec in records]),
                final_loss=Spread.of([rec["val_loss"][-1] for rec in records]),
                initial_score=initial.mean if initial else None,
                reached=len(reached),
                epochs_to_target=Spread.of([float(e) for e, _ in reached]),
                seconds_to_target=Spread.of([s for _, s in reached]),
                peak_loss=max(peaks) if peaks else None,
                lr=None if resolved is None else resolved.get("lr"),
                error=errors[0].strip().splitlines()[-1] if errors else None,
            )
        )
    return rows


def _best(scores: Sequence[float | None]) -> float:
    finite = [s for s in scores if s is not None]
    return max(finite) if finite else math.nan


def winner(rows: Sequence[StrategySummary]) -> StrategySummary | None:
    """The best mean final score among strategies that neither failed nor diverged
    (ties: lower final validation loss)."""
    candidates = [r for r in rows if r.status in (OK, TOO_SLOW) and r.final_score is not None]
    ok = [r for r in candidates if r.status == OK]
    pool = ok or candidates
    if not pool:
        return None
    return max(
        pool,
        key=lambda r: (
            r.final_score.mean if r.final_score else -math.inf,
            -(r.final_loss.mean if r.final_loss else math.inf),
        ),
    )
