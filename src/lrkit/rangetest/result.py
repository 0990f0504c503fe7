"""What a range test measured (:class:`RangeTestResult`): its curve, its sweeps, the rules'
suggestions on it and, for a curve no rule can read, the default rule's fallback
(:data:`FALLBACK_DECADES` below the curve's edge)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrkit import suggest as rules
from lrkit._jsonfile import read_json_result, write_json
from lrkit.rangetest.retry import readable

BATCH_RULES = ("linear", "sqrt")

#: Why a sweep ended.
COMPLETED, DIVERGED, NON_FINITE = "completed", "diverged", "non-finite"
#: ... or :meth:`lrkit.RangeTest.result` was asked for before the sweep ended.
STOPPED = "stopped"
#: An unreadable curve whose edge is ``lr`` suggests ``lr / 10^FALLBACK_DECADES``.
FALLBACK_DECADES = 1.5
FALLBACK = "default (fallback)"


@dataclass
class RangeTestResult:
    """What a range test measured, why it stopped, and the learning rates it suggests."""

    lrs: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def sweeps(self) -> list[dict[str, Any]]:
        """Each sweep that was run, in order: its ``start_lr``, ``end_lr``, ``num_steps``,
        ``steps`` taken, ``stop_reason`` and, for all but the last, ``unreadable`` (why the
        next sweep was run). The curve is the last sweep's."""
        recorded = self.settings.get("sweeps")
        if recorded:
            return [dict(s) for s in recorded]
        return [
            {
                "start_lr": self.settings.get("start_lr", self.lrs[0] if self.lrs else None),
                "end_lr": self.settings.get("end_lr", self.lrs[-1] if self.lrs else None),
                "num_steps": self.settings.get("num_steps", len(self.lrs)),
                "steps": len(self.lrs),
                "stop_reason": self.stop_reason,
            }
        ]

    @property
    def blowup_lr(self) -> float | None:
        """The lowest rate at which a sweep diverged or went non-finite; ``None``: none did."""
        sweeps = self.sweeps
        last = len(sweeps) - 1  # results saved before stop_lr: the curve is the last sweep's
        stops = [
            s.get("stop_lr", self.lrs[-1] if i == last else None)
            for i, s in enumerate(sweeps)
            if s["stop_reason"] in (DIVERGED, NON_FINITE)
        ]
        found = [float(lr) for lr in stops if lr is not None]
        return min(found) if found else None

    @property
    def edge_lr(self) -> float | None:
        """The lowest rate at which a sweep blew up (:attr:`blowup_lr`) or the last curve rose
        (:func:`lrkit.suggest.rise`); ``None``: the loss never got worse."""
        found = [lr for lr in (self.blowup_lr, rules.rise(self.lrs, self.losses)) if lr]
        return min(found) if found else None

    @property
    def steps_run(self) -> int:
        """Optimizer steps the range test took, over all its sweeps."""
        return sum(int(s["steps"]) for s in self.sweeps)

    @property
    def suggestion(self) -> float:
        """The learning rate of lrkit's default rule."""
        return self.suggest("default").lr

    @property
    def suggestion_interval(self) -> tuple[float, float] | None:
        """``(low, high)`` around the default suggestion where the curve is about as good
        (see :func:`lrkit.suggest.centred_interval`); ``None`` when the default rule has no
        interval or falls back (see the module docstring)."""
        if rules.resolve("default") != "centred" or self.suggest().method == FALLBACK:
            return None
        return rules.centred_interval(self.lrs, self.losses)

    def suggest(self, method: str | rules.Rule = "default") -> rules.Suggestion:
        """The suggestion of rule ``method`` on the curve it reads: a rule's name (see
        :mod:`lrkit.suggest`) or a rule of your own, ``rule(lrs, losses) -> float |
        Suggestion``, given the raw curve up to its first non-finite loss::

            result.suggest(lambda lrs, losses: lrs[losses.argmin()] / 10)
        """
        try:
            found = self._rule(method)
        except rules.SuggestionError as exc:
            fallback = self._fallback() if method == "default" else None
            if fallback is not None:
                return fallback
            sweeps = self.sweeps
            if len(sweeps) < 2:
                raise
            last = sweeps[-1]
            raise rules.SuggestionError(
                f"{exc} — in all {len(sweeps)} sweeps, the last from {last['start_lr']:.3g} to "
                f"{last['end_lr']:.3g} in {last['num_steps']} steps"
            ) from None
        if method == "default" and not readable(self):
            return self._fallback() or found
        return found

    def _fallback(self) -> rules.Suggestion | None:
        """:data:`FALLBACK_DECADES` below :attr:`edge_lr`; ``None`` when there is no edge."""
        edge = self.edge_lr
        if edge is None:
            return None
        lr = edge / 10**FALLBACK_DECADES
        index = int(np.argmin(np.abs(np.log(self.lrs) - math.log(lr))))
        return rules.Suggestion(lr, index, FALLBACK)

    def _rule(self, method: str | rules.Rule) -> rules.Suggestion:
        raw = callable(method) or rules.resolve(method) in rules.READS_RAW
        return rules.suggest(self.lrs, self.losses if raw else self.smoothed_losses, method)

    def suggestions(self) -> dict[str, rules.Suggestion | rules.SuggestionError]:
        """Every rule's suggestion, or the reason it has none, by rule name."""
        out: dict[str, rules.Suggestion | rules.SuggestionError] = {}
        for name in ("default", *rules.RULES):
            try:
                out[name] = self.suggest(name)
            except rules.SuggestionError as exc:
                out[name] = exc
        return out

    def for_batch_size(
        self,
        new_batch_size: int,
        rule: str = "linear",
        *,
        batch_size: int | None = None,
        method: str | rules.Rule = "default",
    ) -> float:
        """The suggestion rescaled from the test's batch size ``b`` to ``new_batch_size`` ``B``.

        ``rule="linear"``: ``lr·B/b`` (the linear scaling rule for SGD; holds up to a few
        thousand examples per batch, with warm-up when ``B ≫ b``); ``rule="sqrt"``:
        ``lr·√(B/b)`` (closer for Adam-style optimizers). Both are first guesses — a range test
        at the new batch size is the check. ``b`` comes from ``settings["batch_size"]``
        (recorded by the adapters) unless ``batch_size`` is given.
        """
        if rule not in BATCH_RULES:
            raise ValueError(f"rule: must be one of {', '.join(BATCH_RULES)}, got {rule!r}")
        old = batch_size if batch_size is not None else self.settings.get("batch_size")
        if old is None:
            raise ValueError(
                "batch_size: the range test did not record the batch size it ran at (its "
                "loader has no batch_size); pass it as for_batch_size(..., batch_size=N)"
            )
        for name, value in (("new_batch_size", new_batch_size), ("batch_size", old)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        ratio = new_batch_size / old
        return self.suggest(method).lr * (ratio if rule == "linear" else math.sqrt(ratio))

    def clr_bounds(self) -> tuple[float, float]:
        """``(base_lr, max_lr)`` for cyclical and one-cycle schedules (Smith's rule)."""
        return rules.clr_bounds(self.lrs, self.losses)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; non-finite losses become ``None`` so the JSON stays standard. Every
        rule's suggestion (``None`` where it has none) is stored beside the curve for whoever
        reads the file; :meth:`from_dict` recomputes them from the curve."""
        found = self.suggestions() if self.lrs else {}
        return {
            "lrs": list(self.lrs),
            "losses": [_finite_or_none(v) for v in self.losses],
            "smoothed_losses": [_finite_or_none(v) for v in self.smoothed_losses],
            "stop_reason": self.stop_reason,
            "settings": dict(self.settings),
            "suggestions": {
                name: s.lr if isinstance(s, rules.Suggestion) else None for name, s in found.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeTestResult:
        """The inverse of :meth:`to_dict`."""
        try:
            return cls(
                lrs=[float(v) for v in data["lrs"]],
                losses=[math.nan if v is None else float(v) for v in data["losses"]],
                smoothed_losses=[
                    math.nan if v is None else float(v) for v in data["smoothed_losses"]
                ],
                stop_reason=str(data["stop_reason"]),
                settings=dict(data.get("settings", {})),
            )
        except KeyError as exc:
            raise ValueError(f"range-test result: missing field {exc.args[0]!r}") from None

    def to_json(self, path: str | Path | None = None, *, overwrite: bool = False) -> str:
        """The result as JSON text; also written to ``path`` when given.

        An existing file is only replaced with ``overwrite=True``.
        """
        return write_json(self.to_dict(), path, overwrite=overwrite)

    @classmethod
    def from_json(cls, source: str | Path) -> RangeTestResult:
        """Read a result from JSON text or from a path to a JSON file (named in its errors)."""
        return read_json_result(source, cls.from_dict)

    def plot(self, path: str | Path | None = None, ax: Any = None) -> Any:
        """Loss against learning rate with every suggestion marked; see :mod:`lrkit.plotting`."""
        from lrkit.plotting import plot_range_test

        return plot_range_test(self, path=path, ax=ax)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
