"""The probe: train briefly at a few learning rates from the same start, keep the best.

A range test says where the loss stops falling — ``lr_low``, the learning rate at the lowest
point of its lag-free curve (:func:`lrkit.suggest.lagless_curve`) — but not how far below it
the best rate lies: from about half of ``lr_low`` to a tenth or less on the tasks of
``benchmarks/suggestion_quality.py``. The probe settles it by measurement. Every candidate
trains for ``steps`` steps from the same state on the same batches and is scored by its mean
training loss over the last fifth of them:

    score(lr) = mean(loss[-max(3, steps // 5):])     (∞ when a loss is not finite)

The lowest score wins. :func:`probe_candidates` gives lrkit's pair, a bold ``lr_low / 2`` and
a safe ``lr_low / 9``; probing them for a third of the planned training
(:data:`PROBE_FRACTION`) costs two thirds of a training run.

A candidate holds its rate, or, with ``cooldown = c > 0``, holds it and then decays it
linearly to 0 over the last ``c · steps`` steps (:func:`candidate_schedule`), the way a
``wsd`` run ends. A constant rate is scored at the noise floor it settles on, which a higher
rate raises, so the constant probe answers "which rate to keep"; the cooled-down probe
answers "which rate to hold before a decay", and there the bold rate wins more often.
``benchmarks/probe_cooldown.py`` measures it before ``fit``'s ``wsd``: better on reshuffled
data orders, worse on one task of the benchmark's own order, so ``fit`` keeps the constant
probe.

A third of a run rewards a high rate that the whole run cannot always sustain: on
``benchmarks/suggestion_quality.py`` the bold candidate sometimes won the probe and then
diverged late in training. So when the highest candidate wins, the constant rate to train at
(:attr:`ProbeResult.suggestion`) is a step below it, ``best / STEP_BACK``; for lrkit's pair,
``lr_low / 3``.

A bolder reading for a run that ends in a decay is :attr:`ProbeResult.hold`. The decay takes
away most of the noise floor a constant rate settles on, so the constant-rate score
overstates what a higher rate costs; a rate that stalls or diverges, though, falls far less,
not a little. So ``hold`` is the highest candidate that made at least :data:`HOLD_FRACTION`
of the largest fall from the starting loss (``fit``'s ``wsd`` builds on the
:attr:`~ProbeResult.suggestion` instead; ``benchmarks/suite_quality.py`` compares the two):

    fall_i = L0 − score_i,     hold = max{ lr_i : fall_i ≥ HOLD_FRACTION · max_j fall_j }

(``L0``: the median of the first tenth of the safest candidate's losses, at least 3). A fall is
the same on every task whatever the loss's scale or floor, where a ratio of raw losses is not.

Decisions within the noise are not made. The noise is ``σ``, the per-step spread of the losses
over the scored last fifth (pooled over the candidates):

- when no candidate fell by more than :data:`NOISE_Z` ``· σ``, the probe learned nothing it
  can rank by: every reading is the lowest candidate (:attr:`ProbeResult.informative` is
  false);
- :attr:`ProbeResult.best` is the lowest-scoring candidate only if it beats the lowest rate by
  more than ``NOISE_Z`` standard errors of their paired step-by-step difference (the same
  batches feed both); otherwise the two are tied and the lower rate is kept
  (:attr:`ProbeResult.tied`).

:attr:`ProbeResult.verdict` says in words which of these happened. The adapters
(:func:`lrkit.torch.probe_lr`) build the ``train(rate)`` callable, as they build ``step(lr)``
for the range test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrkit import suggest as rules
from lrkit.progress import progress_bar
from lrkit.rangetest import DONE, FALLBACK, RESTART, STEP, RangeTestResult
from lrkit.schedules import Schedule, constant, wsd

#: ``lr_low`` is divided by these to give the candidates: one bold, one safe.
PROBE_DIVISORS = (2.0, 9.0)
#: How long to probe, as a fraction of the planned training steps.
PROBE_FRACTION = 1 / 3
#: When the highest candidate wins, train at that rate divided by this.
STEP_BACK = 1.5
#: Before a final decay, hold the highest candidate whose fall is at least this fraction of
#: the largest fall.
HOLD_FRACTION = 0.8
#: Differences of fewer than this many noise units (or standard errors) decide nothing.
NOISE_Z = 2.0

#: ``train(rate)`` trains step ``i`` at ``rate(i)`` and yields its loss.
TrainFn = Callable[[Schedule], Iterator[float]]


def probe_steps(total_steps: int) -> int:
    """Steps per candidate for a planned run of ``total_steps``: :data:`PROBE_FRACTION` of it."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps: must be an integer >= 1, got {total_steps!r}")
    return max(1, round(PROBE_FRACTION * total_steps))


def probe_candidates(
    result: RangeTestResult, divisors: Sequence[float] = PROBE_DIVISORS
) -> list[float]:
    """``lr_low / d`` for each divisor ``d``, where ``lr_low`` is the learning rate at the
    lowest point of the range test's lag-free curve; never below the first swept rate.

    When the default rule falls back (the curve is unreadable, but got worse somewhere), its
    rate ``f`` stands for the safest candidate: ``lr_low = f · max(d)``."""
    if not divisors or any(not (math.isfinite(d) and d > 0) for d in divisors):
        raise ValueError(f"divisors: must be positive finite numbers, got {list(divisors)!r}")
    suggestion = result.suggest()  # a refused curve raises here, saying what every sweep found
    if suggestion.method == FALLBACK:
        return [suggestion.lr * max(divisors) / d for d in divisors]
    lrs, curve = rules.lagless_curve(result.lrs, result.losses, "probe")
    lr_low = float(lrs[int(np.argmin(curve))])
    return [max(lr_low / d, float(lrs[0])) for d in divisors]


def candidate_schedule(lr: float, steps: int, cooldown: float = 0.0) -> Schedule:
    """``lr`` throughout when ``cooldown`` is 0; else ``lr``, then linear decay to 0 over the
    last ``max(1, round(cooldown · steps))`` of the ``steps``."""
    if isinstance(cooldown, bool) or not (
        isinstance(cooldown, (int, float)) and 0 <= cooldown <= 1
    ):
        raise ValueError(f"cooldown: must be a fraction in [0, 1], got {cooldown!r}")
    if not cooldown:
        return constant(lr=lr)
    return wsd(lr=lr, total_steps=steps, cooldown_steps=max(1, round(cooldown * steps)))


def score_window(losses: Sequence[float]) -> int:
    """How many of the last ``losses`` a score reads: a fifth of them, at least 3."""
    return max(3, len(losses) // 5)


def probe_score(losses: Sequence[float]) -> float:
    """Mean of the last fifth of ``losses`` (at least 3 of them); ``inf`` if any is not
    finite or there are none."""
    values = np.asarray(losses, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return math.inf
    return float(values[-score_window(losses) :].mean())


@dataclass(frozen=True)
class ProbeResult:
    """The candidates, the training losses each produced, their scores, the winner
    (:attr:`best`), the constant rate to train at (:attr:`suggestion`) and the rate to hold
    before a final decay (:attr:`hold`); ``cooldown`` is the fraction of the steps each
    candidate decayed over (0: held throughout)."""

    lrs: list[float]
    losses: list[list[float]]
    steps: int
    cooldown: float = 0.0

    @property
    def scores(self) -> list[float]:
        """:func:`probe_score` of each candidate's losses."""
        return [probe_score(run) for run in self.losses]

    def _usable_scores(self) -> list[float]:
        """:attr:`scores`, or a :class:`~lrkit.suggest.SuggestionError` if none is finite."""
        scores = self.scores
        if all(math.isinf(s) for s in scores):
            raise rules.SuggestionError(
                "probe: every candidate diverged; the range test's curve may be misleading "
                "(sweep with a validation loss, or start the probe lower)"
            )
        return scores

    def _finite(self) -> list[int]:
        """Indices of the candidates with a finite score, by increasing learning rate."""
        scores = self._usable_scores()
        return sorted(
            (i for i, v in enumerate(scores) if math.isfinite(v)), key=self.lrs.__getitem__
        )

    def _lowest(self) -> int:
        """Index of the lowest-scoring candidate (the lower learning rate on a tie)."""
        scores = self.scores
        return min(self._finite(), key=lambda i: (scores[i], self.lrs[i]))

    @property
    def starting_loss(self) -> float:
        """``L0``: the median of the first tenth (at least 3) of the lowest candidate's losses."""
        safest = min(range(len(self.lrs)), key=self.lrs.__getitem__)
        return rules.start_level(np.asarray(self.losses[safest], dtype=np.float64))

    @property
    def falls(self) -> list[float]:
        """``L0 − score`` of each candidate (``-inf`` for one that diverged)."""
        start = self.starting_loss
        return [start - v if math.isfinite(v) else -math.inf for v in self.scores]

    @property
    def noise(self) -> float:
        """``σ``: the per-step standard deviation of the scored losses, pooled over the
        candidates with a finite score."""
        spreads = []
        for i in self._finite():
            run = np.asarray(self.losses[i], dtype=np.float64)
            tail = run[-score_window(self.losses[i]) :]
            spreads.append(float(tail.var(ddof=1)) if tail.size > 1 else 0.0)
        return math.sqrt(float(np.mean(spreads)))

    @property
    def informative(self) -> bool:
        """Whether some candidate fell by more than ``NOISE_Z · σ`` from the starting loss."""
        return max(self.falls) > NOISE_Z * self.noise

    @property
    def tied(self) -> bool:
        """Whether the lowest score fails to beat the lowest rate's by ``NOISE_Z`` standard
        errors of their paired difference (always false when the lowest rate scores lowest)."""
        lowest, safest = self._lowest(), self._finite()[0]
        if lowest == safest:
            return False
        n = min(score_window(self.losses[lowest]), len(self.losses[safest]))
        diff = np.asarray(self.losses[lowest][-n:]) - np.asarray(self.losses[safest][-n:])
        error = float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
        return not float(diff.mean()) + NOISE_Z * error < 0

    @property
    def best(self) -> float:
        """The candidate with the lowest score, unless the probe is not :attr:`informative`
        or the lowest score is :attr:`tied` with the lowest rate's: then the lowest rate."""
        if not self.informative or self.tied:
            return self.lrs[self._finite()[0]]
        return self.lrs[self._lowest()]

    @property
    def suggestion(self) -> float:
        """The rate to train at: :attr:`best`, or ``best / STEP_BACK`` when the highest of
        several candidates won."""
        best = self.best
        return best / STEP_BACK if len(self.lrs) > 1 and best == max(self.lrs) else best

    @property
    def hold(self) -> float:
        """The rate to hold before a final decay: the highest candidate whose fall is at least
        ``HOLD_FRACTION`` of the largest (the lowest rate when the probe is not
        :attr:`informative`)."""
        finite = self._finite()
        if not self.informative:
            return self.lrs[finite[0]]
        falls = self.falls
        largest = max(falls)
        return max(self.lrs[i] for i in finite if falls[i] >= HOLD_FRACTION * largest)

    @property
    def verdict(self) -> str:
        """In words: what the probe could tell apart, and so what it chose."""
        if not self.informative:
            return (
                f"no candidate's loss fell by more than {NOISE_Z:g}× its noise "
                f"({max(self.falls):.3g} vs σ {self.noise:.3g}): kept the lowest rate"
            )
        if self.tied:
            return "the lowest loss is within the noise of the lowest rate's: kept the lower rate"
        return "the candidates differ by more than their noise"

    def boldest_within(self, tolerance: float) -> float:
        """The highest candidate whose score is at most ``s_min + (tolerance − 1)·|s_min|``,
        ``s_min`` the lowest score: a reading by a ratio of raw losses, which
        ``benchmarks/hold_tolerance.py`` compares with :attr:`hold`."""
        if not (math.isfinite(tolerance) and tolerance >= 1):
            raise ValueError(f"tolerance: must be a finite number >= 1, got {tolerance!r}")
        scores = self._usable_scores()
        lowest = min(scores)
        within = lowest + (tolerance - 1) * abs(lowest)
        return max(lr for lr, score in zip(self.lrs, scores, strict=True) if score <= within)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; non-finite losses become ``None`` so the JSON stays standard. The
        readings (``best``, ``suggestion``, ``hold``, ``verdict``, ``scores``) are stored
        beside the losses for whoever reads the file; :meth:`from_dict` recomputes them."""
        data: dict[str, Any] = {
            "lrs": list(self.lrs),
            "losses": [[v if math.isfinite(v) else None for v in run] for run in self.losses],
            "steps": self.steps,
            "cooldown": self.cooldown,
            "scores": [s if math.isfinite(s) else None for s in self.scores],
        }
        try:
            data.update(
                best=self.best, suggestion=self.suggestion, hold=self.hold, verdict=self.verdict
            )
        except rules.SuggestionError as exc:
            data["error"] = str(exc)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        """The inverse of :meth:`to_dict`."""
        try:
            return cls(
                lrs=[float(v) for v in data["lrs"]],
                losses=[
                    [math.nan if v is None else float(v) for v in run] for run in data["losses"]
                ],
                steps=int(data["steps"]),
                cooldown=float(data.get("cooldown", 0.0)),
            )
        except KeyError as exc:
            raise ValueError(f"probe result: missing field {exc.args[0]!r}") from None


class Probe:
    """The probe as a push engine, for any training loop.

    The loop reads :attr:`lr`, takes one step at it from the candidate's start, and hands
    the loss to :meth:`tell`, which answers :data:`~lrkit.rangetest.STEP` (go on),
    :data:`~lrkit.rangetest.RESTART` (put the model, optimizer and random state back as
    they were before the first candidate, and restart the data: the next candidate begins)
    or :data:`~lrkit.rangetest.DONE`. A candidate ends after ``steps`` losses or at its
    first non-finite one. :meth:`result` is then the :class:`ProbeResult`; asked for
    before, it scores the candidates not yet run as ∞.
    """

    def __init__(
        self, lrs: Sequence[float], steps: int, *, cooldown: float = 0.0, progress: bool = True
    ) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: must be an integer >= 1, got {steps!r}")
        if not lrs or any(not (math.isfinite(lr) and lr > 0) for lr in lrs):
            raise ValueError(f"lrs: must be positive finite learning rates, got {list(lrs)!r}")
        self.lrs, self.steps, self.cooldown = [float(lr) for lr in lrs], steps, float(cooldown)
        self._rates = [candidate_schedule(lr, steps, cooldown) for lr in self.lrs]
        self._runs: list[list[float]] = [[]]
        self._result: ProbeResult | None = None
        self._bar = ExitStack()
        self._advance = self._bar.enter_context(
            progress_bar("probe", steps * len(self.lrs), enabled=progress)
        )

    @property
    def candidate(self) -> int:
        """The index of the candidate under way."""
        return len(self._runs) - 1

    @property
    def rate(self) -> Schedule:
        """The candidate's schedule: the learning rate at each of its steps."""
        if self._result is not None:
            raise RuntimeError("probe: finished; read result() instead")
        return self._rates[self.candidate]

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.rate(len(self._runs[-1])))

    @property
    def done(self) -> bool:
        return self._result is not None

    def tell(self, loss: float) -> str:
        """Record the loss of the step just taken at :attr:`lr`; say what comes next."""
        loss = float(loss)
        run = self._runs[-1]
        run.append(loss)
        self._advance(f"lr {self.lrs[self.candidate]:.2e}  loss {loss:.4f}")
        if len(run) < self.steps and math.isfinite(loss):
            return STEP
        if len(self._runs) == len(self.lrs):
            self.result()
            return DONE
        self._runs.append([])
        return RESTART

    def result(self) -> ProbeResult:
        if self._result is None:
            self._bar.close()
            runs = self._runs + [[] for _ in range(len(self.lrs) - len(self._runs))]
            self._result = ProbeResult(self.lrs, runs, self.steps, self.cooldown)
        return self._result


def probe(
    train: TrainFn,
    lrs: Sequence[float],
    steps: int,
    *,
    cooldown: float = 0.0,
    progress: bool = True,
) -> ProbeResult:
    """Score each learning rate in ``lrs`` by ``steps`` steps of
    ``train(candidate_schedule(lr, steps, cooldown))``: a loop over :class:`Probe`.

    ``train(rate)`` starts from the common initial state, trains step ``i`` at ``rate(i)``
    and yields one training loss per step; it is closed after ``steps`` losses or at the
    first non-finite one, and must restore that state when closed. ``progress`` shows a
    progress bar (with ``rich`` installed; on by default, as in every adapter; ``False`` keeps
    it quiet).
    """
    engine = Probe(lrs, steps, cooldown=cooldown, progress=progress)
    while not engine.done:
        run = train(engine.rate)
        try:
            for loss in run:
                if engine.tell(loss) != STEP:
                    break
        finally:
            close = getattr(run, "close", None)
            if close is not None:
                close()
    return engine.result()
