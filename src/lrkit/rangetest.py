"""The learning-rate range test, independent of any framework.

The engine drives a ``step(lr) -> loss`` callable over a sweep of learning rates, smooths the
loss with a bias-corrected exponential moving average (:mod:`lrkit.smoothing`) and stops
early when the run diverges:

    avg_i      = β·avg_{i-1} + (1 - β)·loss_i,     avg_{-1} = 0
    smoothed_i = avg_i / (1 - β^(i+1))

The sweep stops when ``smoothed_i > diverge_factor · min_{j<=i} smoothed_j`` or when a loss is
not finite. Adapters (``lrkit.torch``, ``lrkit.keras``) build the ``step`` callable.

A curve no rule can read — the loss never fell, or it blew up within its first points, or
its fall is less than :data:`READABLE_Z` times its noise (:func:`lrkit.suggest.fall_to_noise`;
the rules would read the noise) — is not yet a verdict on the model: given a ``reset()``
that puts the model back, the engine sweeps again, as a practitioner would, with
:data:`RETRY_FACTOR` times the steps over fewer decades below the rate where the last sweep
stopped; retry ``k`` (1, 2, ...) covers

    [lr_stop / 10^(RETRY_DECADES / k), lr_stop],   steps = RETRY_FACTOR · num_steps

(``lr_stop`` is ``end_lr`` for a sweep that completed), up to :data:`MAX_SWEEPS` sweeps and
``max_steps`` steps in all. That is 50, then 100 steps a decade where the first sweep had 12,
and a lower start when the first blew up at once. ``result.sweeps`` records each sweep, where
it stopped (``stop_lr``) and why the next one was run.

When the last sweep is still unreadable, the default rule does not read its noise: it falls
back to :data:`FALLBACK_DECADES` decades below the curve's edge (:attr:`RangeTestResult.edge_lr`:
the lowest rate at which a sweep blew up or the last curve rose, :func:`lrkit.suggest.rise`),
method ``"default (fallback)"``: the model trains, the curve only cannot say how fast. Only a
model whose loss neither fell nor rose in any sweep is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrkit import suggest as rules
from lrkit._jsonfile import read_json_result, write_json
from lrkit.progress import progress_bar
from lrkit.smoothing import EMA
from lrkit.sweep import RangeTestSettings, lr_sweep

BATCH_RULES = ("linear", "sqrt")

#: Why a sweep ended.
COMPLETED, DIVERGED, NON_FINITE = "completed", "diverged", "non-finite"
#: ... or :meth:`RangeTest.result` was asked for before the sweep ended.
STOPPED = "stopped"
#: What :meth:`RangeTest.tell` answers.
STEP, RESTART, DONE = "step", "restart", "done"
#: Sweeps in all (the first and its retries) when the curve cannot be read.
MAX_SWEEPS = 3
#: A retry sweeps this many times the first sweep's steps ...
RETRY_FACTOR = 2
#: ... over this many decades below the rate where the sweep before it stopped.
RETRY_DECADES = 4
#: A retry shorter than this (when ``max_steps`` leaves no more) is not run.
MIN_RETRY_STEPS = 20
#: A curve whose fall is less than this many times its noise is swept again.
READABLE_Z = 10.0
#: An unreadable curve whose edge is ``lr`` suggests ``lr / 10^FALLBACK_DECADES``.
FALLBACK_DECADES = 1.5
FALLBACK = "default (fallback)"

StepFn = Callable[[float], float]
ProgressFn = Callable[[int, float, float], None]
ResetFn = Callable[[], None]


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
        if method == "default" and not _readable(self):
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


class RangeTest:
    """The range test as a push engine, for any training loop.

    The loop reads :attr:`lr`, takes one optimizer step at it, and hands the step's loss to
    :meth:`tell`, which answers :data:`STEP` (go on at the new :attr:`lr`), :data:`RESTART`
    (put the model back as it was before the first step, then go on: a retry sweep begins)
    or :data:`DONE`. :meth:`result` is then the curve; called before, it ends the sweep
    where it is (``stop_reason="stopped"``). With ``retry=False`` a curve no rule can read is
    returned as it is; otherwise see the module docstring.

    The sweep is ``settings`` (a :class:`~lrkit.sweep.RangeTestSettings`; default: its
    defaults), each keyword given replacing that field; ``result().settings`` records
    :data:`~lrkit.sweep.RECORDED` and the sweeps.
    """

    _lrs: list[float]
    _losses: list[float]
    _smoothed: list[float]
    _ema: EMA
    _best: float
    _advance: Callable[[str], None]

    def __init__(
        self,
        settings: RangeTestSettings | None = None,
        *,
        start_lr: float | None = None,
        end_lr: float | None = None,
        num_steps: int | None = None,
        mode: str | None = None,
        smoothing: float | None = None,
        diverge_factor: float | None = None,
        retry: bool | None = None,
        max_steps: int | None = None,
        progress: bool = False,
    ) -> None:
        settings = RangeTestSettings.merged(
            settings,
            start_lr=start_lr,
            end_lr=end_lr,
            num_steps=num_steps,
            mode=mode,
            smoothing=smoothing,
            diverge_factor=diverge_factor,
            retry=retry,
            max_steps=max_steps,
        )
        #: The sweep's settings (each keyword given replaces that field of ``settings``).
        self.settings = settings
        num_steps = settings.num_steps
        max_steps = settings.max_steps
        if max_steps is None:
            max_steps = num_steps * (1 + (MAX_SWEEPS - 1) * RETRY_FACTOR)
        self._retry, self._max_steps, self._progress = settings.retry, max_steps, progress
        self._sweeps: list[dict[str, Any]] = []
        self._previous: RangeTestResult | None = None
        self._result: RangeTestResult | None = None
        self._bar = ExitStack()
        self._begin(float(settings.start_lr), float(settings.end_lr), num_steps)

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        if self._result is not None:
            raise RuntimeError("range test: finished; read result() instead of lr")
        return float(self._schedule[len(self._lrs)])

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def sweep(self) -> int:
        """The number of the sweep under way (1 for the first)."""
        return len(self._sweeps)

    def tell(self, loss: float) -> str:
        """Record the loss of the step just taken at :attr:`lr`; say what comes next."""
        lr, loss = self.lr, float(loss)
        self._lrs.append(lr)
        self._losses.append(loss)
        self._advance(f"lr {lr:.2e}  loss {loss:.4f}")
        if not math.isfinite(loss):
            self._smoothed.append(math.nan)
            return self._end(NON_FINITE)
        value = self._ema.update(loss)
        self._smoothed.append(value)
        self._best = min(self._best, value)
        if value > self.settings.diverge_factor * self._best:
            return self._end(DIVERGED)
        if len(self._lrs) == len(self._schedule):
            return self._end(COMPLETED)
        return STEP

    def result(self) -> RangeTestResult:
        """The curve (of the last sweep) and every sweep's record in ``settings["sweeps"]``."""
        if self._result is None:
            if self._lrs or self._previous is None:
                self._end(STOPPED)
            else:  # stopped before a retry took its first step: the last curve stands
                self._bar.close()
                self._sweeps.pop()
                self._sweeps[-1].pop("unreadable", None)
                self._finish(self._previous)
        assert self._result is not None
        return self._result

    def _begin(self, low: float, high: float, steps: int) -> None:
        self._schedule = lr_sweep(low, high, steps, self.settings.mode)
        self._lrs, self._losses, self._smoothed = [], [], []
        self._ema, self._best = EMA(self.settings.smoothing), math.inf
        self._sweeps.append({"start_lr": low, "end_lr": high, "num_steps": steps})
        label = "range test" if self.sweep == 1 else f"range test, sweep {self.sweep}"
        self._advance = self._bar.enter_context(progress_bar(label, steps, enabled=self._progress))

    def _end(self, reason: str) -> str:
        self._bar.close()
        current = self._sweeps[-1]
        current.update(
            steps=len(self._lrs), stop_reason=reason, stop_lr=self._lrs[-1] if self._lrs else None
        )
        result = RangeTestResult(self._lrs, self._losses, self._smoothed, reason)
        why = _unreadable(result) if reason != STOPPED else None
        spent = sum(s["steps"] for s in self._sweeps)
        steps = min(RETRY_FACTOR * self.settings.num_steps, self._max_steps - spent)
        if (
            why is None
            or not self._retry
            or len(self._sweeps) == MAX_SWEEPS
            or steps < MIN_RETRY_STEPS
        ):
            self._finish(result)
            return DONE
        current["unreadable"] = why
        high = self._lrs[-1] if reason != COMPLETED else current["end_lr"]
        self._previous = result
        self._begin(high / 10 ** (RETRY_DECADES / len(self._sweeps)), high, steps)
        return RESTART

    def _finish(self, result: RangeTestResult) -> None:
        result.settings = {**self.settings.record(), "sweeps": self._sweeps}
        self._result = result


def range_test(
    step: StepFn,
    *,
    settings: RangeTestSettings | None = None,
    start_lr: float | None = None,
    end_lr: float | None = None,
    num_steps: int | None = None,
    mode: str | None = None,
    smoothing: float | None = None,
    diverge_factor: float | None = None,
    reset: ResetFn | None = None,
    max_steps: int | None = None,
    on_step: ProgressFn | None = None,
    progress: bool = False,
) -> RangeTestResult:
    """Sweep ``step(lr) -> loss`` from ``start_lr`` to ``end_lr`` and record the curve: a loop
    over :class:`RangeTest`.

    The sweep is ``settings`` (a :class:`~lrkit.sweep.RangeTestSettings`; default: its
    defaults, 100 steps from ``1e-7`` to ``10``), each keyword given replacing that field.
    ``on_step(i, lr, loss)`` is called after every step (``i`` counts within the sweep);
    ``progress=True`` shows a progress bar. The sweep stops early, keeping the offending
    point, when the smoothed loss exceeds ``diverge_factor`` times its best or the loss is not
    finite; ``stop_reason`` says which.

    With ``reset`` (a callable that puts the model back as it was before the first step), a
    curve the default rule cannot read is swept again (see the module docstring; not when
    ``settings.retry`` is ``False``), up to ``max_steps`` steps in all (default:
    ``num_steps · (1 + 2·RETRY_FACTOR)``, every retry that :data:`MAX_SWEEPS` allows).
    """
    settings = RangeTestSettings.merged(
        settings,
        start_lr=start_lr,
        end_lr=end_lr,
        num_steps=num_steps,
        mode=mode,
        smoothing=smoothing,
        diverge_factor=diverge_factor,
        max_steps=max_steps,
    )
    engine = RangeTest(settings, retry=settings.retry and reset is not None, progress=progress)
    i = 0
    while not engine.done:
        lr = engine.lr
        loss = float(step(lr))
        event = engine.tell(loss)
        if on_step is not None:
            on_step(i, lr, loss)
        i = 0 if event == RESTART else i + 1
        if event == RESTART and reset is not None:
            reset()
    return engine.result()


def _unreadable(result: RangeTestResult) -> str | None:
    """Why the default rule cannot read ``result``'s curve, or ``None`` when it can."""
    try:
        result._rule("default")
    except rules.SuggestionError as exc:
        return str(exc)
    z = rules.fall_to_noise(result.lrs, result.losses)
    if z < READABLE_Z:
        return f"its fall is only {z:.1f}× its noise (at least {READABLE_Z:g}× is read)"
    return None


def _readable(result: RangeTestResult) -> bool:
    """Whether the last curve's fall is at least :data:`READABLE_Z` times its noise."""
    return rules.fall_to_noise(result.lrs, result.losses) >= READABLE_Z
