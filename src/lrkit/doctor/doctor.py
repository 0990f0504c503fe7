"""The :class:`Doctor`: feed it each step's numbers, get back findings about the learning rate."""

from __future__ import annotations

import dataclasses
import logging
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from lrkit.doctor.finding import SEVERITIES, Finding
from lrkit.doctor.rules import RULES, Rule
from lrkit.doctor.thresholds import Thresholds, for_unit
from lrkit.doctor.window import Tracker
from lrkit.history import History
from lrkit.trainlog import NON_NEGATIVE

ON_CRITICAL = ("warn", "stop", "reduce")
_LOG = logging.getLogger("lrkit.doctor")
_LOG.addHandler(logging.NullHandler())
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


class DoctorWarning(UserWarning):
    """A critical finding, raised as a Python warning when ``on_critical="warn"``."""


class Doctor:
    """Watches a training run and reports signs of a bad learning rate.

    ``rules`` are built-in rule names (see ``lrkit.doctor.RULES``) or your own functions
    ``rule(window, thresholds) -> Finding | None``; ``None`` means all built-in rules.
    ``unit`` is ``"step"`` when each observation is one optimizer step, ``"epoch"`` when it is
    one epoch (per-epoch default thresholds). Keyword ``thresholds`` override the defaults
    (see :class:`~lrkit.doctor.Thresholds`).

    On a critical finding, ``on_critical`` says what to do: ``"warn"`` raises a
    :class:`DoctorWarning`; ``"stop"`` sets :attr:`should_stop` (the adapters stop training);
    ``"reduce"`` multiplies the learning rate by ``reduce_factor`` through the attached
    adapter (see :meth:`attach`). Every observation is recorded in :attr:`history`.
    ``verbose`` prints each new finding to stderr as it is found (critical ones in
    ``"warn"`` mode come as a :class:`DoctorWarning` instead).
    """

    def __init__(
        self,
        rules: Iterable[str | Rule] | None = None,
        *,
        unit: str = "step",
        on_critical: str = "warn",
        reduce_factor: float = 0.1,
        history: History | None = None,
        verbose: bool = True,
        **thresholds: Any,
    ) -> None:
        if on_critical not in ON_CRITICAL:
            raise ValueError(
                f"on_critical: must be one of {', '.join(ON_CRITICAL)}, got {on_critical!r}"
            )
        if isinstance(reduce_factor, bool) or not isinstance(reduce_factor, (int, float)):
            raise TypeError(f"reduce_factor: must be a number in (0, 1), got {reduce_factor!r}")
        if not 0 < reduce_factor < 1:
            raise ValueError(f"reduce_factor: must be in (0, 1), got {reduce_factor!r}")
        self.thresholds: Thresholds = for_unit(unit, **thresholds)
        self.rules: dict[str, Rule] = resolve_rules(rules)
        self.on_critical = on_critical
        self.reduce_factor = float(reduce_factor)
        self.history = history if history is not None else History(unit=unit)
        self.verbose = verbose
        self.findings: list[Finding] = []
        self.should_stop = False
        self._tracker = Tracker(self.thresholds, unit)
        # rule name -> (training steps seen when it last fired, the severity it was reported at)
        self._active: dict[str, tuple[int, int]] = {}
        self._reduce_lr: Callable[[float], None] | None = None

    def attach(self, *, reduce_lr: Callable[[float], None] | None) -> None:
        """Let the doctor change the learning rate: ``reduce_lr(factor)`` multiplies it."""
        self._reduce_lr = reduce_lr

    def observe(
        self,
        step: int,
        loss: float | None = None,
        *,
        lr: float | None = None,
        grad_norm: float | None = None,
        val_loss: float | None = None,
        val_metric: float | None = None,
    ) -> list[Finding]:
        """Record one step (or a validation at ``step``) and return the new findings.

        A rule's finding is reported once; the same rule reports again only after it has
        been silent for ``cooldown`` training steps, or at once when its finding grows more
        severe (a divergence warning that becomes critical). ``loss=None`` records a
        validation without a training step; a second training loss at one step is a
        ``ValueError``, as is a negative ``lr`` or ``grad_norm``.
        """
        values = {
            "lr": lr,
            "loss": loss,
            "grad_norm": grad_norm,
            "val_loss": val_loss,
            "val_metric": val_metric,
        }
        numbers = {name: None if v is None else _number(name, v) for name, v in values.items()}
        last = self.history[-1] if len(self.history) else {}
        if numbers["loss"] is not None and last.get("step") == step and "loss" in last:
            raise ValueError(
                f"step: step {step} already has a training loss; observe each training step "
                "once (a validation at the same step passes loss=None)"
            )
        self.history.append(step, **numbers)
        window = self._tracker.update(
            int(step),
            numbers["loss"],
            numbers["lr"],
            numbers["grad_norm"],
            numbers["val_loss"],
            numbers["val_metric"],
        )
        new: list[Finding] = []
        seen = self._tracker.count
        for name, rule in self.rules.items():
            found = rule(window, self.thresholds)
            active = self._active.get(name)
            if found is None:
                if active is not None and seen - active[0] >= self.thresholds.cooldown:
                    del self._active[name]
                continue
            rank = SEVERITIES.index(found.severity)
            self._active[name] = (seen, rank if active is None else max(rank, active[1]))
            if active is not None and rank <= active[1]:
                continue
            warned = False
            if found.severity == "critical":
                found, warned = self._act(found)
            _LOG.log(_LEVELS[found.severity], "%s", found)
            if self.verbose and not warned:
                print(f"lrkit doctor: {found}", file=sys.stderr)
            new.append(found)
        self.findings.extend(new)
        return new

    def _act(self, found: Finding) -> tuple[Finding, bool]:
        """Carry out ``on_critical``; return the finding with its action, and whether a
        :class:`DoctorWarning` was raised."""
        if self.on_critical == "stop":
            self.should_stop = True
            return _with_action(found, "asked training to stop"), False
        if self.on_critical == "reduce" and self._reduce_lr is not None:
            self._reduce_lr(self.reduce_factor)
            factor = f"{self.reduce_factor:g}"
            return _with_action(found, f"multiplied the learning rate by {factor}"), False
        if self.on_critical == "reduce":
            found = _with_action(found, "nothing attached can change the learning rate")
        warnings.warn(str(found), DoctorWarning, stacklevel=4)
        return found, True

    @property
    def steps_seen(self) -> int:
        """How many training steps have been observed."""
        return self._tracker.count

    def summary(self) -> str:
        """Every finding in plain words, with its advice, in the order found."""
        return summarize(self.history.unit, self.steps_seen, self.findings, self.thresholds.warmup)

    def report(self) -> dict[str, Any]:
        """A JSON-ready record: what was watched, with which thresholds, and what was found."""
        return report(
            self.history.unit, self.steps_seen, list(self.rules), self.thresholds, self.findings
        )


def validation_results(val_loss: Any, val_metric: Any) -> dict[str, float | None] | None:
    """A framework's validation results (numbers or scalar tensors) as the floats
    :meth:`Doctor.observe` takes, ``{"val_loss": ..., "val_metric": ...}``; ``None`` when both
    are missing."""
    if val_loss is None and val_metric is None:
        return None
    return {
        "val_loss": None if val_loss is None else float(val_loss),
        "val_metric": None if val_metric is None else float(val_metric),
    }


def _number(name: str, value: Any) -> float:
    """``value`` (a number, or a one-element array or tensor, detached) as a float."""
    if hasattr(value, "detach"):
        value = value.detach()
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: must be a number, got {value!r}") from None
    if name in NON_NEGATIVE and number < 0:
        what = NON_NEGATIVE[name]
        raise ValueError(f"{name}: must be >= 0 ({what} cannot be negative), got {value!r}")
    return number


def _with_action(found: Finding, action: str) -> Finding:
    return Finding(
        kind=found.kind,
        step=found.step,
        severity=found.severity,
        message=found.message,
        advice=found.advice,
        evidence=found.evidence,
        action=action,
    )


def resolve_rules(rules: Iterable[str | Rule] | None) -> dict[str, Rule]:
    """Rule names and functions to ``{name: rule}``; ``None`` means all built-in rules."""
    if rules is None:
        return dict(RULES)
    if isinstance(rules, str):
        rules = [rules]
    chosen: dict[str, Rule] = {}
    for rule in rules:
        if isinstance(rule, str):
            if rule not in RULES:
                raise ValueError(
                    f"rules: unknown rule {rule!r}; built-in rules are {', '.join(RULES)}"
                )
            chosen[rule] = RULES[rule]
        elif callable(rule):
            chosen[getattr(rule, "__name__", repr(rule))] = rule
        else:
            raise TypeError(f"rules: each rule must be a name or a function, got {rule!r}")
    if not chosen:
        raise ValueError("rules: give at least one rule, got none")
    return chosen


def summarize(unit: str, seen: int, findings: list[Finding], warmup: int) -> str:
    """The findings in plain words, with their advice; a run of at most ``warmup`` steps with
    no finding is too short to judge."""
    head = f"lrkit doctor: {seen} {unit}{'' if seen == 1 else 's'} watched"
    if not findings:
        if seen <= warmup:
            return f"{head}: too short to judge (the rules need more than {warmup} {unit}s)."
        return head + ", no sign of a learning-rate problem."
    counts = {s: sum(f.severity == s for f in findings) for s in reversed(SEVERITIES)}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"{head}, {len(findings)} finding(s): {tally}."]
    for found in findings:
        lines.append(
            f"  {unit} {found.step}  {found.severity.upper():8s} {found.kind}: {found.message}"
        )
        lines.append(f"      advice: {found.advice}")
        if found.action:
            lines.append(f"      done: {found.action}")
    return "\n".join(lines)


def report(
    unit: str, seen: int, rules: list[str], thresholds: Thresholds, findings: list[Finding]
) -> dict[str, Any]:
    """A JSON-ready record: what was watched, with which thresholds, and what was found."""
    return {
        "unit": unit,
        "steps_watched": seen,
        "rules": rules,
        "thresholds": dataclasses.asdict(thresholds),
        "findings": [found.to_dict() for found in findings],
    }
