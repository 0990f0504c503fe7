"""How well the doctor's rules read the labelled training runs of ``doctor_runs.py``.

Each run is judged by :func:`lrkit.doctor.diagnose` with the default thresholds.

A run's label says how it was made; what a rule can be asked to see is what happened in fact,
measured after the run from its raw losses, by tests that share no threshold with the rules
(L_0 is the first loss, m_10 the median of the first 10, "end" the mean of the last 100):

- a run made healthy (``healthy``, ``healthy_low``, ``healthy_high``, ``warmup``) has
  ``diverged in fact`` when end >= m_10, and has ``blown up, recovered`` when, after its first
  50 steps, the mean of some 25 consecutive losses is >= m_10 (the loss climbed all the way
  back to where it started, then fell again): neither is a healthy run;
- a ``too_high`` run is ``too_high, learned`` when end < L_0 / 2 (the rate was survivable),
  ``too_high, stuck`` when L_0 / 2 <= end <= 1.5 L_0 (knocked back to where it started: what
  ``dead_start`` speaks of), else (end > 1.5 L_0 or a non-finite loss) ``too_high``, diverged;
- an ``oscillating`` run is judged on the 32-step phases after its event: for each
  high-rate phase, the relative excess of its mean loss over the mean of its two low-rate
  neighbours; when the median excess is below 5 % the loss did not follow the rate: the run
  has ``diverged in fact`` when end > 2 x the mean of the 50 losses before the event (it went
  flat at a high loss), else the alternation had ``no effect``;
- a ``raised`` or ``nan`` run that, between its step 50 and its event, already climbed back
  to m_10 in the same sense (some 25 consecutive losses with mean >= m_10) has ``blown up
  before its event``: it is no healthy run to raise the rate of (or poison), so it counts
  for no recall, and a finding of a rule that speaks of blow-ups is right on it;
- a ``raised`` run whose loss fell after the event (mean of the 100 losses after it below the
  mean of the 50 before), or a ``nan`` run whose losses all stayed finite (the poisoned
  weight unused), had ``no effect``: any finding on it after the event is wrong;
- any run has **overfit in fact** when, over its validations before its event (all of them
  if none, at least 20), the mean of the last 10 is >= 1.2 x the lowest mean of 5 consecutive
  ones and the mean of its last 100 training losses (before the event) is below that of the
  100 before the best validation: that is what ``overfitting`` speaks of, whatever the label
  (a run at a healthy rate can overfit).

A finding is right when the run's kind is one its rule speaks of (table below) and it comes
at or after the event (``overfitting``: on a run that overfit in fact, before any event); for
every rule:

- precision: runs where it is right / runs where it fires;
- recall: runs of its own kind(s) where it is right / runs of those kinds;
- delay: steps from the event to its first right finding (median and largest).

| rule | its own kinds (recall) | also right on |
| --- | --- | --- |
| ``non_finite`` | nan | raised, too_high, blown up before its event |
| ``divergence`` | raised, too_high | oscillating, diverged in fact, blown up |
| ``spike``, ``grad_explosion`` | raised | too_high (all 3), oscillating, nan, diverged, blown up |
| ``lr_too_low`` | too_low | |
| ``dead_start`` | too_high, stuck | too_high, diverged in fact |
| ``plateau`` (info) | too_low | too_high, too_high stuck |
| ``oscillation`` | oscillating | too_high (all 3), raised, diverged in fact, blown up |
| ``overfitting`` | overfit in fact | |

"blown up" is either kind of blow-up. The goals are checked on the test runs (healthy: the four
healthy kinds as they happened), and on each holdout split, new runs of the test tasks made after
the rules were last changed; thresholds are tuned on the design runs only. A warning on a
healthy run that is right (an ``overfitting`` finding on a run that overfit in fact) is not a
false alarm: the goal counts false warnings, and the table gives all warnings beside it.

    python benchmarks/doctor_quality.py [--jobs N]   # makes any missing run first (doctor_runs.py)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lrkit._files import write_text
from lrkit.doctor import RULES, Finding, diagnose
from lrkit.trainlog import TrainingLog

sys.path.insert(0, str(Path(__file__).parent))
from doctor_runs import EVENT, HOLDOUTS, LABELS, RESULTS, TASKS, make_runs  # noqa: E402
from suggestion_quality import dated_machine, markdown_table  # noqa: E402

HEALTHY = ("healthy", "healthy_low", "healthy_high", "warmup")
DIVERGED = "diverged in fact"
BLOWN_UP = "blown up, recovered"
BLOWN_UP_BEFORE = "blown up before its event"
NO_EFFECT = "no effect"
STUCK = "too_high, stuck"
LEARNED = "too_high, learned"
OVERFIT = "overfit in fact"
TOO_HIGH = ("too_high", STUCK, LEARNED)
OWN = {
    "non_finite": ("nan",),
    "divergence": ("raised", "too_high"),
    "spike": ("raised",),
    "grad_explosion": ("raised",),
    "lr_too_low": ("too_low",),
    "dead_start": (STUCK,),
    "plateau": ("too_low",),
    "oscillation": ("oscillating",),
    "overfitting": (OVERFIT,),
}
ALSO = {
    "non_finite": ("raised", "too_high", BLOWN_UP_BEFORE),
    "divergence": ("oscillating", DIVERGED, BLOWN_UP, BLOWN_UP_BEFORE),
    "spike": (*TOO_HIGH, "oscillating", "nan", DIVERGED, BLOWN_UP, BLOWN_UP_BEFORE),
    "grad_explosion": (*TOO_HIGH, "oscillating", "nan", DIVERGED, BLOWN_UP, BLOWN_UP_BEFORE),
    "lr_too_low": (),
    "dead_start": ("too_high", DIVERGED),
    "plateau": ("too_high", STUCK),
    "oscillation": (*TOO_HIGH, "raised", DIVERGED, BLOWN_UP, BLOWN_UP_BEFORE),
    "overfitting": (),
}
WITHIN = 50
GOALS = {"critical": 0, "warnings_per_2000": 1.0, "divergence": 0.95, "too_low": 0.90}


def losses(run: dict[str, Any]) -> np.ndarray:
    return np.array([float(row["loss"]) for row in run["rows"]])


def _climbed_back(losses: np.ndarray, start: float) -> bool:
    """Whether the mean of some 25 consecutive ``losses`` is >= ``start``."""
    if losses.size < 25:
        return False
    return bool(np.nanmax(np.convolve(losses, np.ones(25) / 25, "valid")) >= start)


def kind_of(run: dict[str, Any]) -> str:
    """What the run did in fact, by the tests in the module docstring."""
    loss, label = losses(run), str(run["label"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: the mean is NaN
        start, end = float(np.nanmedian(loss[:10])), float(np.nanmean(loss[-100:]))
    event = run["event"]
    if label in HEALTHY:
        if not end < start:
            return DIVERGED
        return BLOWN_UP if _climbed_back(loss[50:], start) else label
    if label in ("raised", "nan") and _climbed_back(loss[50:event], start):
        return BLOWN_UP_BEFORE
    if label == "too_high":
        first = float(loss[0])
        if not np.isfinite(loss).all() or end > 1.5 * first:
            return label
        return LEARNED if end < first / 2 else STUCK
    if label == "oscillating":
        after = loss[event:]
        phases = after[: after.size // 32 * 32].reshape(-1, 32).mean(axis=1)
        excess = [
            (phases[i] - (phases[i - 1] + phases[i + 1]) / 2)
            / ((phases[i - 1] + phases[i + 1]) / 2)
            for i in range(2, phases.size - 1, 2)
        ]
        if float(np.median(excess)) < 0.05:
            flat_high = end > 2 * float(loss[event - 50 : event].mean())
            return DIVERGED if flat_high else f"{label}, {NO_EFFECT}"
        return label
    if label == "raised" and loss[event : event + 100].mean() < loss[event - 50 : event].mean():
        return f"{label}, {NO_EFFECT}"
    if label == "nan" and np.isfinite(loss).all():
        return f"{label}, {NO_EFFECT}"
    return label


def overfit_in_fact(run: dict[str, Any]) -> bool:
    """Whether the validation loss rose while the training loss fell (module docstring)."""
    event = run["event"] or None
    rows = [row for row in run["rows"] if event is None or row["step"] < event]
    val = np.array([float(row["val_loss"]) for row in rows if "val_loss" in row])
    if val.size < 20 or not np.isfinite(val).all():
        return False
    means = np.convolve(val, np.ones(5) / 5, "valid")
    best = int(np.argmin(means)) + 2  # the middle validation of the best five
    if not val[-10:].mean() >= 1.2 * means.min():
        return False
    steps = [row["step"] for row in rows if "val_loss" in row]
    train = np.array([float(row["loss"]) for row in rows])
    at = steps[best]
    before = train[max(at - 100, 0) : at + 1]
    return bool(np.isfinite(train[-100:]).all() and train[-100:].mean() < before.mean())


def judge(run: dict[str, Any], **thresholds: Any) -> list[Finding]:
    rows = [{k: float(v) for k, v in row.items()} for row in run["rows"]]
    return diagnose(TrainingLog.from_rows(rows), **thresholds).findings


def right(rule: str, kind: str, overfit: bool, finding: Finding, event: int | None) -> bool:
    if rule == "overfitting":
        return overfit and (not event or finding.step < event)
    return kind in OWN[rule] + ALSO[rule] and (event is None or finding.step >= event)


def own(rule: str, kind: str, overfit: bool) -> bool:
    """Whether a run of this kind is one the rule's recall counts."""
    return overfit if rule == "overfitting" else kind in OWN[rule]


Judged = list[tuple[dict[str, Any], str, bool, list[Finding]]]


def scores(judged: Judged) -> dict[str, dict[str, Any]]:
    """Per rule: runs fired on, right on, own runs, found in own runs, delays."""
    out: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        fired = hits = mine_own = found = 0
        delays: list[int] = []
        for run, kind, overfit, findings in judged:
            mine = [f for f in findings if f.kind == rule]
            good = [f for f in mine if right(rule, kind, overfit, f, run["event"])]
            fired += bool(mine)
            hits += bool(good)
            if own(rule, kind, overfit):
                mine_own += 1
                found += bool(good)
                if good and run["event"] is not None and rule != "overfitting":
                    delays.append(good[0].step - run["event"])
        out[rule] = {
            "fired": fired,
            "hits": hits,
            "own": mine_own,
            "found": found,
            "delays": delays,
        }
    return out


def goals(judged: Judged) -> dict[str, Any]:
    """The numbers the goals are about, with the runs behind each miss."""
    healthy = [(r, k, o, f) for r, k, o, f in judged if k in HEALTHY]
    critical = [(r["key"], x) for r, _, _, f in healthy for x in f if x.severity == "critical"]
    warnings = [(r["key"], x) for r, _, _, f in healthy for x in f if x.severity == "warning"]
    false = [
        (r["key"], x)
        for r, k, o, f in healthy
        for x in f
        if x.severity == "warning" and not right(x.kind, k, o, x, r["event"])
    ]
    steps = sum(len(r["rows"]) for r, _, _, _ in healthy)
    diverging = [(r, f) for r, k, _, f in judged if k in ("raised", "nan")]
    caught, late, stopped = [], [], []
    for run, findings in diverging:
        event = run["event"]
        after = [f for f in findings if f.kind in ("divergence", "non_finite") and f.step >= event]
        first = min((f.step for f in after), default=None)
        (caught if first is not None and first - event <= WITHIN else late).append(
            (run["key"], None if first is None else first - event)
        )
        if any(f.severity == "critical" and f.step - event <= WITHIN for f in after):
            stopped.append(run["key"])
    low = [(r, f) for r, k, _, f in judged if k == "too_low"]
    low_found = [r["key"] for r, f in low if any(x.kind == "lr_too_low" for x in f)]
    per_2000 = 2000 / steps if steps else math.nan
    return {
        "healthy_runs": len(healthy),
        "healthy_steps": steps,
        "critical": critical,
        "warnings": warnings,
        "false": false,
        "warnings_per_2000": per_2000 * len(warnings),
        "false_per_2000": per_2000 * len(false),
        "diverging": len(diverging),
        "caught": caught,
        "late": late,
        "stopped": stopped,
        "too_low": len(low),
        "too_low_found": low_found,
        "too_low_missed": [r["key"] for r, f in low if r["key"] not in low_found],
    }


def run_all(runs: Iterable[dict[str, Any]], **thresholds: Any) -> dict[str, Judged]:
    """Every run judged, by split."""
    out: dict[str, Judged] = {"test": [], "design": [], **{name: [] for name in HOLDOUTS}}
    for run in runs:
        out[run["split"]].append(
            (run, kind_of(run), overfit_in_fact(run), judge(run, **thresholds))
        )
    return out


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "-"


def _delay(delays: list[int]) -> str:
    return f"{statistics.median(delays):.0f} / {max(delays)}" if delays else "-"


def count_by_rule(findings: list[tuple[str, Finding]]) -> str:
    """How many of ``(run, finding)`` pairs each rule made, as "2 divergence, 1 spike"."""
    kinds: dict[str, int] = {}
    for _, found in findings:
        kinds[found.kind] = kinds.get(found.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"


def _met(aims: dict[str, Any]) -> list[tuple[str, bool]]:
    return [
        ("no critical on healthy runs", len(aims["critical"]) <= GOALS["critical"]),
        ("false-warning rate", aims["false_per_2000"] <= GOALS["warnings_per_2000"]),
        (
            "divergence found",
            len(aims["caught"]) >= GOALS["divergence"] * aims["diverging"],
        ),
        ("too low found", len(aims["too_low_found"]) >= GOALS["too_low"] * aims["too_low"]),
    ]


def _goal_rows(aims: dict[str, Any]) -> list[list[str]]:
    return [
        [
            "critical findings on healthy runs",
            f"{len(aims['critical'])} ({aims['healthy_runs']} runs)",
            f"{GOALS['critical']}",
            count_by_rule(aims["critical"]),
        ],
        [
            "false warnings per 2,000 healthy steps",
            f"{aims['false_per_2000']:.2f} ({len(aims['false'])} in "
            f"{aims['healthy_steps']:,} steps)",
            f"<= {GOALS['warnings_per_2000']:g}",
            count_by_rule(aims["false"]),
        ],
        [
            "all warnings per 2,000 healthy steps (with true `overfitting`)",
            f"{aims['warnings_per_2000']:.2f} ({len(aims['warnings'])})",
            "",
            count_by_rule(aims["warnings"]),
        ],
        [
            f"raised / nan runs found (divergence or non_finite) within {WITHIN} steps",
            _share(len(aims["caught"]), aims["diverging"]),
            f">= {GOALS['divergence']:.0%}",
            "",
        ],
        [
            f"... of them critical within {WITHIN} steps (what `on_critical=` acts on)",
            _share(len(aims["stopped"]), aims["diverging"]),
            "",
            "",
        ],
        [
            "too_low runs found (lr_too_low)",
            _share(len(aims["too_low_found"]), aims["too_low"]),
            f">= {GOALS['too_low']:.0%}",
            "",
        ],
    ]


def _goals(aims: dict[str, Any], split: str) -> list[str]:
    """The goals table of a split and the line saying which goals it met."""
    met = ", ".join(f"{n} {'yes' if m else 'NO'}" for n, m in _met(aims))
    return [
        *markdown_table(["goal", split, "aim", "which"], _goal_rows(aims)),
        "",
        f"Met: {met}.",
        "",
    ]


def _misses(aims: dict[str, Any]) -> list[str]:
    """One line per miss behind the goals."""
    lines = [
        f"- critical on a healthy run: {k}, {f.kind} at step {f.step}" for k, f in aims["critical"]
    ]
    lines += [
        f"- false warning on a healthy run: {k}, {f.kind} at step {f.step}"
        for k, f in aims["false"]
    ]
    lines += [
        f"- {k}: " + ("not found" if d is None else f"found {d} steps after the event")
        for k, d in aims["late"]
    ]
    return lines + [f"- too_low not found: {k}" for k in aims["too_low_missed"]]


def _tasks(judged: Judged) -> str:
    names = sorted({r["task"] for r, _, _, _ in judged})
    return ", ".join(f"`{n}`" for n in names)


def page(judged: dict[str, Judged]) -> str:
    per = {split: scores(rows) for split, rows in judged.items()}
    aims = {split: goals(rows) for split, rows in judged.items()}
    test = aims["test"]
    runs = sum(len(rows) for rows in judged.values())
    lines = [
        "# The doctor on labelled training runs",
        "",
        dated_machine(),
        "",
        f"{runs} runs of `benchmarks/doctor_runs.py` (built-in tasks x Adam / SGD + momentum x "
        "10 labels, seed 0 = design and seed 1 = test; suite tasks x their two optimizers x 10 "
        "labels, split by task as the suite's rule says; holdouts: new runs of the test tasks), "
        "each judged by "
        "`lrkit.doctor.diagnose` with the default thresholds. How a run's kind is read from "
        "what it did, and how a rule is scored, is in the docstring of "
        "`benchmarks/doctor_quality.py`. Regenerate: `python benchmarks/doctor_quality.py`.",
        "",
        f"Design tasks: {_tasks(judged['design'])}. Test tasks: {_tasks(judged['test'])} "
        "(the suite tasks among them were never looked at while choosing a threshold).",
        "",
        "## Goals, on the test runs",
        "",
    ]
    lines += _goals(test, "test")
    builtin = [row for row in judged["test"] if row[0]["task"] in TASKS]
    suite = [row for row in judged["test"] if row[0]["task"] not in TASKS]
    if builtin and suite:
        lines += ["By where the test task comes from:", ""]
        parts = {"built-in tasks (seed 1)": goals(builtin), "suite test tasks": goals(suite)}
        lines += markdown_table(
            ["goal", *parts],
            [
                [row[0], *(_goal_rows(aims)[i][1] for aims in parts.values())]
                for i, row in enumerate(_goal_rows(test))
            ],
        )
        lines += [""]
    misses = _misses(test)
    if misses:
        lines += ["Misses on the test runs:", "", *misses, ""]
    for name, (seed, suite_seed, made) in HOLDOUTS.items():
        if not judged[name]:
            continue
        lines += [
            f"## Goals, on the {name} runs",
            "",
            f"{len(judged[name])} new runs of the test tasks (built-in tasks at seed {seed}, "
            f"the suite's test tasks at seed {suite_seed}), made on {made} and not looked at "
            "until the change to the rules they judge was settled; a change made after that "
            "was checked on the design runs, not chosen on these.",
            "",
        ]
        lines += _goals(aims[name], name)
        lines += [f"Misses on the {name} runs:", "", *(_misses(aims[name]) or ["- none"]), ""]
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
        "own kinds",
        "precision (test)",
        "recall (test)",
        "delay median / max (test)",
        "precision (design)",
        "recall (design)",
        "delay (design)",
    ]
    lines += markdown_table(header, rows)
    lines += ["", "Precision counts runs: a rule that fires twice on one run counts once.", ""]
    lines += ["## Findings by kind, test runs", ""]
    kinds = sorted({k for _, k, _, _ in judged["test"]}, key=_label_order)
    rows = []
    for kind in kinds:
        chosen = [(r, o, f) for r, k, o, f in judged["test"] if k == kind]
        found = [(r["key"], x) for r, _, f in chosen for x in f]
        rows.append(
            [
                kind,
                str(len(chosen)),
                str(sum(o for _, o, _ in chosen)),
                str(sum(x.severity == "critical" for _, x in found)),
                str(sum(x.severity == "warning" for _, x in found)),
                count_by_rule(found),
            ]
        )
    lines += markdown_table(
        ["kind", "runs", "overfit in fact", "critical", "warning", "findings"], rows
    )
    lines += ["", "## Runs whose kind is not their label", ""]
    every = [row for rows_ in judged.values() for row in rows_]
    for kind in sorted({k for _, k, _, _ in every} - set(LABELS), key=_label_order):
        keys = [r["key"] for r, k, _, _ in every if k == kind]
        lines.append(f"- {kind} ({len(keys)}): " + ", ".join(f"`{k}`" for k in keys) + ".")
    lines += ["", "## Goals, on the design runs", ""]
    lines += _goals(aims["design"], "design")
    return "\n".join(lines)


def _label_order(label: str) -> tuple[int, str]:
    """Sort key of a kind: the made kinds in their order, then the rest by name (a set of
    strings iterates in a different order in every process)."""
    order = [
        *HEALTHY,
        BLOWN_UP,
        DIVERGED,
        BLOWN_UP_BEFORE,
        *TOO_HIGH,
        *[k for k in EVENT if k != "too_high"],
        "overfitting",
    ]
    return (order.index(label) if label in order else len(order), label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="missing runs made at once")
    runs = make_runs(workers=parser.parse_args().jobs)
    text = page(run_all(runs.values()))
    write_text(RESULTS / "doctor_quality.md", text)
    print(text)


if __name__ == "__main__":
    main()
