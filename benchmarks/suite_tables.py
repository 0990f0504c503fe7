"""The tables of ``suite_quality.py``: regret per split, per task, against the LR-free
optimizers, and what ``auto`` spent deciding; written to ``results/suite_quality.md``."""

from __future__ import annotations

from typing import Any

import numpy as np

import suggestion_quality as sq
import suite
from suite_quality import (
    LR_FREE,
    METHODS,
    RULES,
    WSD_OFFSETS,
    grid,
    hindsight_lr,
    key,
    lr_free_pair,
    pairs,
    suggestions,
)

#: Methods whose refusals are counted: a rule with no answer, a ``fit`` that raised.
REFUSING = [*RULES, "probe", "auto"]


def regrets(
    done: dict[str, Any], name: str, opt: str, seed: int, seeds: list[int]
) -> dict[str, float]:
    """Method -> regret (points) for one task, optimizer and seed; methods whose runs are not
    (yet) cached are left out, a refusal scores as the grid's lowest rate."""
    runs = {lr: done.get(key("grid", name, opt, seed, f"{lr:.6g}")) for lr in grid(opt)}
    if not all(runs.values()):
        return {}
    best = max(r["score"] for r in runs.values())
    floor = runs[grid(opt)[0]]["score"]
    out: dict[str, float] = {}
    found = done.get(key("range", name, opt, seed))
    if found is not None:
        for rule, lr in suggestions(found["range"]).items():
            run = done.get(key("rule", name, opt, seed, f"{lr:.6g}")) if lr else None
            if lr is None or run is not None:
                out[rule] = best - (run["score"] if run else floor)
    probe = done.get(key("probe", name, opt, seed))
    if probe is not None:
        run = done.get(key("rule", name, opt, seed, f"{probe['lr']:.6g}")) if probe["lr"] else None
        if probe["lr"] is None or run is not None:
            out["probe"] = best - (run["score"] if run else floor)
    auto = done.get(key("auto", name, opt, seed))
    if auto is not None:
        out["auto"] = best - (auto["score"] if auto["score"] is not None else floor)
    if opt == lr_free_pair(name):
        for method in LR_FREE:
            run = done.get(key(method, name, "-", seed))
            if run is not None:
                out[method] = best - run["score"]
    try:
        peak = hindsight_lr(done, name, opt, seeds)
    except KeyError:  # another seed's grid is still running
        return out
    wsd = [
        done.get(key("wsd", name, opt, seed, f"{peak * 10 ** (k / 3):.6g}")) for k in WSD_OFFSETS
    ]
    if all(wsd):
        out["wsd hindsight"] = best - max(r["score"] for r in wsd)  # type: ignore[index]
    return out


def refused(done: dict[str, Any], name: str, opt: str, seed: int) -> set[str]:
    """The methods that gave no learning rate on this task, optimizer and seed."""
    out = set()
    found = done.get(key("range", name, opt, seed))
    if found is not None:
        out |= {rule for rule, lr in suggestions(found["range"]).items() if lr is None}
    probe = done.get(key("probe", name, opt, seed))
    if probe is not None and probe["lr"] is None:
        out.add("probe")
    auto = done.get(key("auto", name, opt, seed))
    if auto is not None and auto["score"] is None:
        out.add("auto")
    return out


def write_table(done: dict[str, Any], splits: dict[str, str], seeds: list[int]) -> None:
    names = [t.name for t in suite.all_tasks()]
    cells: dict[tuple[str, str], dict[str, list[float]]] = {}  # pair -> method -> regrets
    refusals: dict[str, dict[str, int]] = {"design": {}, "test": {}}
    runs: dict[str, int] = {"design": 0, "test": 0}
    for name, opt in pairs(names):
        per_method: dict[str, list[float]] = {}
        for seed in seeds:
            for method, value in regrets(done, name, opt, seed, seeds).items():
                per_method.setdefault(method, []).append(value)
            if key("range", name, opt, seed) in done:
                runs[splits[name]] += 1
            for method in refused(done, name, opt, seed):
                count = refusals[splits[name]]
                count[method] = count.get(method, 0) + 1
        if per_method:  # the pair has runs beyond its grid
            _hindsight(done, name, opt, seeds, per_method)
            cells[(name, opt)] = per_method
    lines = [
        "# Suite quality: tasks lrkit was never tuned on",
        "",
        f"{sq.dated_machine()} Seeds: {seeds}. Tasks: {len(names)} "
        f"({sum(s == 'test' for n, s in splits.items() if n in names)} test, "
        f"{sum(s == 'design' for n, s in splits.items() if n in names)} design); the split is "
        "fixed by the rule in `benchmarks/suite/__init__.py`. Test tasks were never looked at "
        "while choosing anything in lrkit. " + sq.provenance(done.values()),
        "",
        "Regret = the seed's best fixed-rate grid score − the method's score, in points "
        "(accuracy or R² × 100, floored at 0), averaged over seeds per task and optimizer "
        "(a *pair*), then over pairs. A refusal (a rule with no answer, a `fit` that raised) "
        "scores as the grid's lowest rate. `hindsight`: the one grid rate per pair with the "
        "best mean over seeds; `wsd hindsight`: `wsd` at the best of 7 peak rates per seed — "
        "neither is a method, both are floors. Pairs still running are left out of the "
        "means; the counts say how many are in.",
        "",
    ]
    for split in ("test", "design"):
        lines += _summary(split, cells, splits, refusals[split], runs[split])
    lines += _per_pair(cells, splits)
    lines += _against_lr_free(done, names, seeds)
    lines += _overhead(done, names, seeds, splits)
    lines += [
        "Regenerate: `python benchmarks/suite_quality.py` (runs are cached in "
        "`benchmarks/results/suite_quality_runs.jsonl`; `--table` rewrites this page from the "
        "cache).",
        "",
    ]
    sq.publish("suite_quality.md", lines)


def _hindsight(
    done: dict[str, Any], name: str, opt: str, seeds: list[int], per_method: dict[str, list]
) -> None:
    """Add the constant-rate hindsight floor: the grid rate with the best mean over seeds."""
    table = {
        lr: [done.get(key("grid", name, opt, s, f"{lr:.6g}")) for s in seeds] for lr in grid(opt)
    }
    if not all(r for runs in table.values() for r in runs):
        return
    scores = {lr: [r["score"] for r in runs] for lr, runs in table.items()}
    chosen = max(scores, key=lambda lr: np.mean(scores[lr]))
    bests = [max(scores[lr][i] for lr in scores) for i in range(len(seeds))]
    per_method["hindsight"] = [b - s for b, s in zip(bests, scores[chosen], strict=True)]


def _summary(
    split: str,
    cells: dict[tuple[str, str], dict[str, list[float]]],
    splits: dict[str, str],
    refusals: dict[str, int],
    runs: int,
) -> list[str]:
    chosen = {pair: v for pair, v in cells.items() if splits[pair[0]] == split}
    header = ["method", "mean regret", "worst pair", "pairs", "refusals"]
    rows = []
    for method in METHODS:
        per_pair = {p: float(np.mean(v[method])) for p, v in chosen.items() if method in v}
        if not per_pair:
            continue
        worst = max(per_pair, key=lambda p: per_pair[p])
        refused = f"{refusals.get(method, 0)} of {runs}" if method in REFUSING else "—"
        rows.append(
            [
                method,
                f"{np.mean(list(per_pair.values())):.2f}",
                f"{per_pair[worst]:.1f} ({worst[0]}, {worst[1]})",
                str(len(per_pair)),
                refused,
            ]
        )
    return [f"## {split.capitalize()} split", "", *sq.markdown_table(header, rows), ""]


def _per_pair(
    cells: dict[tuple[str, str], dict[str, list[float]]], splits: dict[str, str]
) -> list[str]:
    header = ["task", "split", "optimizer", *METHODS]
    rows = [
        [name, splits[name], opt, *(_mean(values.get(m)) for m in METHODS)]
        for (name, opt), values in sorted(cells.items(), key=lambda c: (splits[c[0][0]], c[0]))
    ]
    return [
        "## Mean regret per task and optimizer (points)",
        "",
        *sq.markdown_table(header, rows),
        "",
    ]


def _against_lr_free(done: dict[str, Any], names: list[str], seeds: list[int]) -> list[str]:
    """``auto`` − each LR-free optimizer, paired by seed, on each task's first Adam-family
    optimizer (the one the LR-free runs are scored against)."""
    header = ["task", "optimizer", *(f"auto − {m}" for m in LR_FREE)]
    rows = []
    for name in names:
        opt = lr_free_pair(name)
        if opt is None or key("auto", name, opt, seeds[0]) not in done:
            continue
        auto = [done.get(key("auto", name, opt, s)) for s in seeds]
        gaps = []
        for method in LR_FREE:
            other = [done.get(key(method, name, "-", s)) for s in seeds]
            paired = [
                a["score"] - o["score"]
                for a, o in zip(auto, other, strict=True)
                if a and o and a["score"] is not None
            ]
            gaps.append(sq._gap(paired))
        rows.append([name, opt, *gaps])
    return [
        "## `auto` against the learning-rate-free optimizers (points, paired by seed)",
        "",
        *sq.markdown_table(header, rows),
        "",
        "Positive: `auto` scored higher. `±` is the standard error over the seeds.",
        "",
    ]


def _overhead(
    done: dict[str, Any], names: list[str], seeds: list[int], splits: dict[str, str]
) -> list[str]:
    header = ["task", "split", "run steps", "auto overhead", "range-test sweeps", "probe verdicts"]
    rows = []
    for name in names:
        records = [
            done[k]
            for opt in suite.get(name).optimizers
            for s in seeds
            if (k := key("auto", name, opt, s)) in done and done[k].get("steps")
        ]
        if not records:
            continue
        share = [r["overhead_steps"] / r["steps"] for r in records if r["score"] is not None]
        sweeps = [r["sweeps"] for r in records if r["score"] is not None]
        ties = sum(
            r["verdict"] != "the candidates differ by more than their noise"
            for r in records
            if r["score"] is not None
        )
        rows.append(
            [
                name,
                splits[name],
                str(records[0]["steps"]),
                f"{np.mean(share):.2f}× (max {max(share):.2f}×)" if share else "—",
                f"{np.mean(sweeps):.1f}" if sweeps else "—",
                f"{ties} of {len(share)} kept the lower rate",
            ]
        )
    return [
        "## What `auto` spent deciding",
        "",
        *sq.markdown_table(header, rows),
        "",
        "Overhead = range-test steps (every sweep) + probe steps, as a multiple of the run's "
        "steps; the budget is the run itself up to 300 steps, 300 steps up to a run of 600 and "
        "half the run beyond (`lrkit.plan.overhead_budget`). Probe verdicts: runs whose "
        "probe could not tell the candidates apart beyond their noise and kept the lower rate.",
        "",
    ]


def _mean(values: list[float] | None) -> str:
    return f"{np.mean(values):.1f}" if values else "—"
