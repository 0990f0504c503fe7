"""The short written verdict: which strategy won, which diverged, which were too slow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lrkit.compare.summary import (
    DIVERGED,
    FAILED,
    OK,
    TOO_SLOW,
    Spread,
    StrategySummary,
    winner,
)


@dataclass(frozen=True)
class Verdict:
    """The verdict as data (names) and as sentences of plain text."""

    winner: str | None
    diverged: list[str]
    too_slow: list[str]
    failed: list[str]
    sentences: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _score(spread: Spread | None) -> str:
    if spread is None:
        return "n/a"
    if spread.n == 1:
        return f"{spread.mean:.3f}"
    return f"{spread.mean:.3f} ± {spread.std:.3f}"


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def verdict(
    rows: Sequence[StrategySummary], *, metric: str, target: float | None, epochs: int
) -> Verdict:
    """Sentences about ``rows`` (from :func:`lrkit.compare.summary.summarize`)."""
    best = winner(rows)
    sentences = []
    if best is None:
        sentences.append("No strategy finished without diverging, so there is no winner.")
    else:
        sentence = (
            f"{best.name} won with a final validation {metric} of {_score(best.final_score)} "
            f"({_seeds(best.runs)}; best {_score(best.best_score)})"
        )
        if best.epochs_to_target is not None and target is not None:
            seconds = best.seconds_to_target.mean if best.seconds_to_target else 0.0
            sentence += (
                f" and reached the target {target:.3f} after "
                f"{best.epochs_to_target.mean:.1f} epochs ({seconds:.1f} s of training)"
            )
        sentences.append(sentence + ".")
        sentences.extend(_close_call(best, rows))
    diverged = [r for r in rows if r.status == DIVERGED]
    if diverged:
        parts = [
            f"{r.name} (final {metric} {_score(r.final_score)}"
            + (f", batch loss up to {r.peak_loss:.3g}" if r.peak_loss is not None else "")
            + ")"
            for r in diverged
        ]
        sentences.append("Diverged: " + "; ".join(parts) + ".")
    slow = [r for r in rows if r.status == TOO_SLOW]
    if slow:
        where = f"the target {target:.3f}" if target is not None else "the target"
        parts = [f"{r.name} ({metric} {_score(r.final_score)})" for r in slow]
        sentences.append(
            f"Too slow, not reaching {where} within {epochs} epochs: " + "; ".join(parts) + "."
        )
    failed = [r for r in rows if r.status == FAILED]
    if failed:
        parts = [f"{r.name} ({r.error or 'no finished run'})" for r in failed]
        sentences.append("Failed: " + "; ".join(parts) + ".")
    return Verdict(
        winner=None if best is None else best.name,
        diverged=[r.name for r in diverged],
        too_slow=[r.name for r in slow],
        failed=[r.name for r in failed],
        sentences=sentences,
    )


def _close_call(best: StrategySummary, rows: Sequence[StrategySummary]) -> list[str]:
    """A sentence when the runner-up is within the spread over seeds of the winner."""
    others = [r for r in rows if r is not best and r.status == OK and r.final_score is not None]
    if not others or best.final_score is None:
        return []
    second = max(others, key=lambda r: r.final_score.mean if r.final_score else 0.0)
    assert second.final_score is not None
    gap = best.final_score.mean - second.final_score.mean
    noise = best.final_score.std + second.final_score.std
    if best.final_score.n > 1 and gap <= noise:
        return [
            f"Its lead over {second.name} ({_score(second.final_score)}) is within the spread "
            "over seeds; more seeds or epochs would tell them apart."
        ]
    return [f"Runner-up: {second.name} ({_score(second.final_score)})."]
