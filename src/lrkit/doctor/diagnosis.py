"""The offline doctor: :func:`diagnose` judges a whole recorded log at once.

The built-in rules run on whole arrays (:mod:`lrkit.doctor.masks`); a rule's finding is
reported where the streaming :class:`~lrkit.doctor.Doctor` would report it (once, again
only after ``cooldown`` quiet steps, and at once when it turns critical) and is made by the
rule itself, from the window at that
row, so both give exactly the same findings. Your own rule functions are judged row by row.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrkit.doctor.doctor import Doctor, DoctorWarning, report, resolve_rules, summarize
from lrkit.doctor.finding import Finding
from lrkit.doctor.masks import MASKS
from lrkit.doctor.replay import Replay
from lrkit.doctor.rules import RULES, Rule
from lrkit.doctor.thresholds import Thresholds, for_unit
from lrkit.history import History
from lrkit.trainlog import TrainingLog


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found: the findings in order, with what was watched."""

    unit: str
    steps_seen: int
    rules: list[str]
    thresholds: Thresholds
    findings: list[Finding]

    @property
    def too_short(self) -> bool:
        """Whether the log has too few training rows for the rules to judge."""
        return self.steps_seen <= self.thresholds.warmup

    def summary(self) -> str:
        """Every finding in plain words, with its advice, in the order found."""
        return summarize(self.unit, self.steps_seen, self.findings, self.thresholds.warmup)

    def report(self) -> dict[str, Any]:
        """A JSON-ready record: what was watched, with which thresholds, and what was found."""
        return report(self.unit, self.steps_seen, list(self.rules), self.thresholds, self.findings)


def diagnose(
    log: History | TrainingLog, *, rules: Iterable[str | Rule] | None = None, **thresholds: Any
) -> Diagnosis:
    """Judge a recorded ``log`` with ``rules`` (default: all built-in ones) and ``thresholds``
    (the per-step or per-epoch defaults follow the log's unit)."""
    columns = log.to_log() if isinstance(log, History) else log
    limits = for_unit(columns.unit, **thresholds)
    chosen = resolve_rules(rules)
    if all(RULES.get(name) is rule for name, rule in chosen.items()):
        findings, seen = _vectorised(columns, limits, chosen)
    else:
        findings, seen = _row_by_row(columns, chosen, **thresholds)
    return Diagnosis(columns.unit, seen, list(chosen), limits, findings)


def _vectorised(
    log: TrainingLog, t: Thresholds, rules: dict[str, Rule]
) -> tuple[list[Finding], int]:
    replay = Replay(log, t)
    windows: dict[int, Any] = {}

    def window(i: int) -> Any:
        if i not in windows:
            windows[i] = replay.window(i)
        return windows[i]

    found: list[tuple[int, int, Finding]] = []
    for order, (name, rule) in enumerate(rules.items()):
        fires, unsure, critical = MASKS[name](replay)
        fires = fires & ~unsure
        for i in np.flatnonzero(unsure).tolist():
            fires[i] = rule(window(i), t) is not None
        reported = _reported(fires, replay.count, t.cooldown)
        if critical is not None:
            reported = _escalated(fires, reported, critical)
        for i in reported.tolist():
            finding = rule(window(i), t)
            assert finding is not None  # the mask and the rule agree on this row
            found.append((i, order, finding))
    found.sort(key=lambda item: item[:2])
    return [finding for _, _, finding in found], int(replay.count[-1]) if replay.n else 0


def _reported(fires: np.ndarray, count: np.ndarray, cooldown: int) -> np.ndarray:
    """Rows where a firing rule is reported: its first firing, and each firing after a quiet
    row at which ``cooldown`` training steps had passed since it last fired."""
    rows = np.flatnonzero(fires)
    if rows.size < 2:
        return rows
    before, after = rows[:-1], rows[1:]
    again = (after - before > 1) & (count[after - 1] - count[before] >= cooldown)
    return np.concatenate((rows[:1], after[again]))


def _escalated(fires: np.ndarray, reported: np.ndarray, critical: np.ndarray) -> np.ndarray:
    """``reported`` rows with, for each stretch that a warning opened, the first row in it
    where the finding is critical (the stretch runs to the next reported row)."""
    if not reported.size:
        return reported
    rows = np.flatnonzero(fires)
    ends = np.append(np.searchsorted(rows, reported[1:]), rows.size)
    extra = []
    for first, low, high in zip(
        reported.tolist(), np.searchsorted(rows, reported).tolist(), ends.tolist(), strict=True
    ):
        if not critical[first]:
            worse = rows[low:high][critical[rows[low:high]]]
            if worse.size:
                extra.append(int(worse[0]))
    return np.sort(np.concatenate((reported, np.array(extra, dtype=reported.dtype))))


def _row_by_row(
    log: TrainingLog, rules: dict[str, Rule], **thresholds: Any
) -> tuple[list[Finding], int]:
    doctor = Doctor(list(rules.values()), unit=log.unit, verbose=False, **thresholds)
    names = ("loss", "lr", "grad_norm", "val_loss", "val_metric")
    columns = [(log.values[n].tolist(), log.present[n].tolist()) for n in names if n in log.values]
    keys = [n for n in names if n in log.values]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoctorWarning)
        for i, step in enumerate(log.steps.tolist()):
            row = {key: v[i] for key, (v, has) in zip(keys, columns, strict=True) if has[i]}
            loss = row.pop("loss", None)
            doctor.observe(step, loss, **row)
    return doctor.findings, doctor.steps_seen
