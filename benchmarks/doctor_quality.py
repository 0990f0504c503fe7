"""How well the doctor's rules read the labelled training runs of ``doctor_runs.py``.

Each run is judged by :func:`lrkit.doctor.diagnose` with the default thresholds. A rule's finding
on a run is right when the run's label is one the rule speaks of (table below) and the finding
comes at or after the label's event; for every rule:

- precision: runs where it is right / runs where it fires;
- recall: runs of its own label(s) where it is right / runs of those labels;
- delay: steps from the event to its first right finding (median and largest).

| rule | its own labels (recall) | also right on |
| --- | --- | --- |
| ``non_finite`` | nan | raised, too_high |
| ``divergence`` | raised, too_high | oscillating, diverged in fact |
| ``spike``, ``grad_explosion`` | raised | too_high, oscillating, nan, diverged in fact |
| ``lr_too_low`` | too_low | |
| ``dead_start`` | too_high | diverged in fact |
| ``plateau`` (info) | too_low | too_high |
| ``oscillation`` | oscillating | too_high, raised, diverged in fact |
| ``overfitting`` | overfitting | |

A run made to be healthy (``healthy``, ``healthy_low``, ``healthy_high``, ``warmup``) whose
training loss ended no lower than it started (mean of the last 100 losses >= mean of the first
10) has diverged in fact: it is listed and judged as a diverging run, not as a healthy one. A
``raised`` run whose loss fell after the event, or a ``nan`` run whose losses all stayed finite
(the poisoned weight unused), had no event in fact: it is listed, and any finding on it after
the event is wrong.
The goals are checked on the test runs; thresholds are tuned on the design runs only.

    python benchmarks/doctor_quality.py      # makes any missing run first (doctor_runs.py)
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lrkit._files import write_text
from lrkit.doctor import RULES, Finding, diagnose
from lrkit.trainlog import TrainingLog

sys.path.insert(0, str(Path(__file__).parent))
from doctor_runs import EVENT, RESULTS, make_runs  # noqa: E402
from suggestion_quality import dated_machine, markdown_table  # noqa: E402

HEALTHY = ("healthy", "healthy_low", "healthy_high", "warmup")
DIVERGED = "diverged in fact"
NO_EFFECT = "no effect"
OWN = {
    "non_finite": ("nan",),
    "divergence": ("raised", "too_high"),
    "spike": ("raised",),
    "grad_explosion": ("raised",),
    "lr_too_low": ("too_low",),
    "dead_start": ("too_high",),
    "plateau": ("too_low",),
    "oscillation": ("oscillating",),
    "overfitting": ("overfitting",),
}
ALSO = {
    "non_finite": ("raised", "too_high"),
    "divergence": ("oscillating", DIVERGED),
    "spike": ("too_high", "oscillating", "nan", DIVERGED),
    "grad_explosion": ("too_high", "oscillating", "nan", DIVERGED),
    "lr_too_low": (),
    "dead_start": (DIVERGED,),
    "plateau": ("too_high",),
    "oscillation": ("too_high", "raised", DIVERGED),
    "overfitting": (),
}
WITHIN = 50
GOALS = {"critical": 0, "warnings_per_2000": 1.0, "divergence": 0.95, "too_low": 0.90}


def losses(run: dict[str, Any]) -> np.ndarray:
    return np.array([float(row["loss"]) for row in run["rows"]])


def kind_of(run: dict[str, Any]) -> str:
    """The run's label; ``diverged in fact`` for a healthy-made run that ended no lower than it
    started; ``<label>, no effect`` for a ``raised`` run whose loss fell after the event (mean
    of the 100 losses after it below the mean of the 50 before) or a ``nan`` run whose losses
    all stayed finite."""
    loss, label = losses(run), str(run["label"])
    if label in HEALTHY and not np.nanmean(loss[-100:]) < np.nanmean(loss[:10]):
        return DIVERGED
    event = run["event"]
    if label == "raised" and loss[event : event + 100].mean() < loss[event - 50 : event].mean():
        return f"{label}, {NO_EFFECT}"
    if label == "nan" and np.isfinite(loss).all():
        return f"{label}, {NO_EFFECT}"
    return label


def judge(run: dict[str, Any], **thresholds: Any) -> list[Finding]:
    rows = [{k: float(v) for k, v in row.items()} for row in run["rows"]]
    return diagnose(TrainingLog.from_rows(rows), **thresholds).findings


def right(rule: str, kind: str, finding: Finding, event: int | None) -> bool:
    return kind in OWN[rule] + ALSO[rule] and (event is None or finding.step >= event)


def scores(judged: list[tuple[dict[str, Any], str, list[Finding]]]) -> dict[str, dict[str, Any]]:
    """Per rule: runs fired on, right on, own runs, found in own runs, delays."""
    out: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        fired = hits = own = found = 0
        delays: list[int] = []
        for run, kind, findings in judged:
            mine = [f for f in findings if f.kind == rule]
            good = [f for f in mine if right(rule, kind, f, run["event"])]
            fired += bool(mine)
            hits += bool(good)
            if kind in OWN[rule]:
                own += 1
                found += bool(good)
                if good and run["event"] is not None:
                    delays.append(good[0].step - run["event"])
        out[rule] = {"fired": fired, "hits": hits, "own": own, "found": found, "delays": delays}
    return out


def goals(judged: list[tuple[dict[str, Any], str, list[Finding]]]) -> dict[str, Any]:
    """The numbers the goals are about, with the runs behind each miss."""
    healthy = [(r, f) for r, k, f in judged if k in HEALTHY]
    critical = [(r["key"], f) for r, f in healthy for f in f if f.severity == "critical"]
    warnings = [(r["key"], f) for r, f in healthy for f in f if f.severity == "warning"]
    steps = sum(len(r["rows"]) for r, _ in healthy)
    diverging = [(r, f) for r, k, f in judged if k in ("raised", "nan")]
    caught, late = [], []
    for run, findings in diverging:
        event = run["event"]
        first = min(
            (
                f.step
                for f in findings
                if f.kind in ("divergence", "non_finite") and f.step >= event
            ),
            default=None,
        )
        (caught if first is not None and first - event <= WITHIN else late).append(
            (run["key"], None if first is None else first - event)
        )
    low = [(r, f) for r, k, f in judged if k == "too_low"]
    low_found = [r["key"] for r, f in low if any(x.kind == "lr_too_low" for x in f)]
    return {
        "healthy_runs": len(healthy),
        "healthy_steps": steps,
        "critical": critical,
        "warnings": warnings,
        "warnings_per_2000": 2000 * len(warnings) / steps if steps else math.nan,
        "diverging": len(diverging),
        "caught": caught,
        "late": late,
        "too_low": len(low),
        "too_low_found": low_found,
        "too_low_missed": [r["key"] for r, f in low if r["key"] not in low_found],
    }


def run_all(
    runs: Iterable[dict[str, Any]], **thresholds: Any
) -> dict[str, list[tuple[dict[str, Any], str, list[Finding]]]]:
    """Every run judged, by split."""
    out: dict[str, list[tuple[dict[str, Any], str, list[Finding]]]] = {"test": [], "design": []}
    for run in runs:
        out[run["split"]].append((run, kind_of(run), judge(run, **thresholds)))
    return out


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "-"


def _delay(delays: list[int]) -> str:
    return f"{statistics.median(delays):.0f} / {max(delays)}" if delays else "-"


def _count(findings: list[tuple[str, Finding]]) -> str:
    kinds: dict[str, int] = {}
    for _, found in findings:
        kinds[found.kind] = kinds.get(found.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"


def page(judged: dict[str, list[tuple[dict[str, Any], str, list[Finding]]]]) -> str:
    per = {split: scores(rows) for split, rows in judged.items()}
    aims = {split: goals(rows) for split, rows in judged.items()}
    test = aims["test"]
    n_test = len(judged["test"])
    lines = [
        "# The doctor on labelled training runs",
        "",
        dated_machine(),
        "",
        f"{n_test + len(judged['design'])} runs of `benchmarks/doctor_runs.py` (5 built-in tasks x "
        "Adam / SGD + momentum x 10 labels; seed 0 = design, seed 1 = test), each judged by "
        "`lrkit.doctor.diagnose` with the default thresholds. How a rule is scored is in the "
        "docstring of `benchmarks/doctor_quality.py`. Regenerate: "
        "`python benchmarks/doctor_quality.py`.",
        "",
        "## Goals, on the test runs",
        "",
    ]
    rows = [
        [
            "critical findings on healthy runs",
            f"{len(test['critical'])} ({test['healthy_runs']} runs)",
            f"{GOALS['critical']}",
            _count(test["critical"]),
        ],
        [
            "warnings per 2,000 healthy steps",
            f"{test['warnings_per_2000']:.2f} ({len(test['warnings'])} in "
            f"{test['healthy_steps']:,} steps)",
            f"<= {GOALS['warnings_per_2000']:g}",
            _count(test["warnings"]),
        ],
        [
            "the same, `overfitting` aside (the validation loss did rise)",
            f"{_per_2000(test, 'overfitting'):.2f}",
            "",
            "",
        ],
        [
            f"raised / nan runs found (divergence or non_finite) within {WITHIN} steps",
            _share(len(test["caught"]), test["diverging"]),
            f">= {GOALS['divergence']:.0%}",
            "",
        ],
        [
            "too_low runs found (lr_too_low)",
            _share(len(test["too_low_found"]), test["too_low"]),
            f">= {GOALS['too_low']:.0%}",
            "",
        ],
    ]
    lines += markdown_table(["goal", "test", "aim", "which"], rows)
    met = [
        len(test["critical"]) <= GOALS["critical"],
        test["warnings_per_2000"] <= GOALS["warnings_per_2000"],
        len(test["caught"]) >= GOALS["divergence"] * test["diverging"],
        len(test["too_low_found"]) >= GOALS["too_low"] * test["too_low"],
    ]
    names = ["no critical on healthy runs", "warning rate", "divergence found", "too low found"]
    lines += [
        "",
        "Met: "
        + ", ".join(f"{n} {'yes' if m else 'NO'}" for n, m in zip(names, met, strict=True))
        + ".",
        "",
    ]
    misses = [
        f"- critical on a healthy run: {k}, {f.kind} at step {f.step}" for k, f in test["critical"]
    ]
    misses += [
        f"- {k}: " + ("not found" if d is None else f"found {d} steps after the event")
        for k, d in test["late"]
    ]
    misses += [f"- too_low not found: {k}" for k in test["too_low_missed"]]
    if misses:
        lines += ["Misses on the test runs:", "", *misses, ""]
    lines += ["## Every rule, test runs (design runs beside)", ""]
    rows = []
    for rule in RULES:
        t, d = per["test"][rule], per["design"][rule]
        rows.append(
            [
                f"`{rule}`",
                ", ".join(OWN[rule]),
                _share(t["hits"], t["fired"]),
                _share(t["found"], t["own"]),
                _delay(t["delays"]),
                _share(d["hits"], d["fired"]),
                _share(d["found"], d["own"]),
                _delay(d["delays"]),
            ]
        )
    header = [
        "rule",
        "own labels",
        "precision (test)",
        "recall (test)",
        "delay median / max (test)",
        "precision (design)",
        "recall (design)",
        "delay (design)",
    ]
    lines += markdown_table(header, rows)
    lines += ["", "Precision counts runs: a rule that fires twice on one run counts once.", ""]
    lines += ["## Findings by label, test runs", ""]
    labels = sorted({k for _, k, _ in judged["test"]}, key=_label_order)
    rows = []
    for label in labels:
        chosen = [(r, f) for r, k, f in judged["test"] if k == label]
        found = [(r["key"], x) for r, f in chosen for x in f]
        rows.append(
            [
                label,
                str(len(chosen)),
                str(sum(x.severity == "critical" for _, x in found)),
                str(sum(x.severity == "warning" for _, x in found)),
                _count(found),
            ]
        )
    lines += markdown_table(["label", "runs", "critical", "warning", "findings"], rows)
    diverged = [r["key"] for rows_ in judged.values() for r, k, _ in rows_ if k == DIVERGED]
    idle = [r["key"] for rows_ in judged.values() for r, k, _ in rows_ if NO_EFFECT in k]
    lines += [
        "",
        f"Runs made healthy that diverged in fact ({len(diverged)}): "
        + (", ".join(f"`{k}`" for k in diverged) or "none")
        + ".",
        "",
        f"Runs whose event had no effect ({len(idle)}): "
        + (", ".join(f"`{k}`" for k in idle) or "none")
        + ".",
        "",
        "## Goals, on the design runs",
        "",
    ]
    design = aims["design"]
    lines += [
        f"- critical findings on healthy runs: {len(design['critical'])} "
        f"({_count(design['critical'])})",
        f"- warnings per 2,000 healthy steps: {design['warnings_per_2000']:.2f} "
        f"({_count(design['warnings'])}; {_per_2000(design, 'overfitting'):.2f} with "
        "`overfitting` aside)",
        f"- raised / nan found within {WITHIN} steps: "
        f"{_share(len(design['caught']), design['diverging'])}",
        f"- too_low found: {_share(len(design['too_low_found']), design['too_low'])}",
        "",
    ]
    return "\n".join(lines)


def _per_2000(aims: dict[str, Any], aside: str) -> float:
    kept = [f for _, f in aims["warnings"] if f.kind != aside]
    return 2000 * len(kept) / aims["healthy_steps"]


def _label_order(label: str) -> int:
    order = [*HEALTHY, DIVERGED, *EVENT, "overfitting"]
    return order.index(label) if label in order else len(order)


def main() -> None:
    runs = make_runs()
    text = page(run_all(runs.values()))
    write_text(RESULTS / "doctor_quality.md", text)
    print(text)


if __name__ == "__main__":
    main()
