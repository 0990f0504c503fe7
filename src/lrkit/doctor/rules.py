"""The doctor's rules: each a pure function ``rule(window, thresholds) -> Finding | None``.

A rule looks at one :class:`~lrkit.doctor.window.Window` and says whether the sign it
knows is present *now*; the :class:`~lrkit.doctor.Doctor` reports a rule again only after
it has been silent for ``cooldown`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lrkit.divergence import best_spread, climbed, diverged, given_back
from lrkit.doctor.finding import Finding
from lrkit.doctor.thresholds import Thresholds
from lrkit.doctor.window import Window
from lrkit.smoothing import running_median

Rule = Callable[[Window, Thresholds], Finding | None]


def _g(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g}"


def _ev(**values: float | None) -> dict[str, float]:
    """Evidence: the given numbers, leaving out those not measured."""
    return {name: float(value) for name, value in values.items() if value is not None}


def _clip_advice(window: Window) -> str:
    if math.isfinite(window.grad_typical):
        level = _g(2 * window.grad_typical)
        return (
            f"clip gradients at about {level} (twice the typical norm), e.g. "
            f"torch.nn.utils.clip_grad_norm_(model.parameters(), {level}) or Keras "
            f"clipnorm={level}"
        )
    return "clip gradients (torch.nn.utils.clip_grad_norm_, Keras clipnorm)"


def non_finite(window: Window, t: Thresholds) -> Finding | None:
    """Critical when the latest loss or gradient norm is NaN or infinite."""
    bad = {
        name: value
        for name, value in (("loss", window.loss), ("grad_norm", window.grad_norm))
        if value is not None and not math.isfinite(value)
    }
    if not bad:
        return None
    what = " and ".join(f"{name} is {value}" for name, value in bad.items())
    return Finding(
        kind="non_finite",
        step=int(window.steps[-1]),
        severity="critical",
        message=f"{what}: the weights have blown up.",
        advice="restart from the last good checkpoint with the learning rate divided by 10, "
        f"and {_clip_advice(window)}; add warm-up if it happens early.",
        evidence=_ev(loss=window.loss, grad_norm=window.grad_norm, lr=window.lr),
    )


def divergence(window: Window, t: Thresholds) -> Finding | None:
    """When the smoothed loss s_t has climbed above its first value s_0 by more than
    max(``diverge_min_fall`` x |s_0|, ``diverge_noise`` x σ), σ the standard deviation of one
    loss over the first ``warmup``; or when it has fallen to its best s* by at least
    max(``diverge_min_fall`` x |s_0|, a x the standard deviation of the smoothed loss at its
    best) and given back ``diverge_give_back`` of that fall, a = ``diverge_noise`` +
    sqrt(2 ln n) for a best chosen from n effectively independent values
    (:func:`lrkit.divergence.best_spread`); or when the median m_t of the last
    k = ``diverge_fast_steps`` losses has given back ``diverge_fast_give_back`` of the fall to
    the best s* before them, beyond a x σ / sqrt(k) (the same test,
    :func:`lrkit.divergence.diverged`, on a level that follows a blow-up within a few steps),
    or only ``diverge_raised_give_back`` of it, beyond ``diverge_noise`` x σ / sqrt(k), while
    the rate is at least ``lr_rise`` x every rate before those k losses (the rate was just
    raised to a level the run never used: a warm restart back to an earlier peak is not);
    judged after ``warmup`` steps.

    Critical when the run has lost what it learned, so that stopping loses little: s_t has
    climbed above s_0, or has given back ``diverge_give_back`` of a fall beyond the noise of
    the start level (s_0 - s* >= ``diverge_noise`` x σ / sqrt(``warmup``)) while m_t (s_t
    when the fast test is off) has given back ``diverge_critical`` of it — sustained and now.
    A warning otherwise: a fall given back in part, which a run may still recover from."""
    if window.count <= t.warmup or not window.smoothed.size:
        return None
    current, start = float(window.smoothed[-1]), window.start_loss
    best, best_step, best_lr = window.best()
    values = (current, start, best, window.best_noise)
    if not all(math.isfinite(value) for value in values):
        return None
    # s* is the least of many noisy values: its margins grow with how many (best_spread)
    allowance = t.diverge_noise + best_spread(window.count, t.smoothing)
    noise = allowance * window.best_noise
    start_noise = t.diverge_noise * window.start_noise
    fast = _fast_level(window, t)
    level, name = current, "the smoothed loss"
    raised, peak = False, math.nan
    slow = diverged(
        current, start, best, t.diverge_give_back, t.diverge_min_fall, noise, start_noise
    )
    recent = fast if math.isfinite(fast) else current
    # the fall stood out from the noise of the start level (the mean of the first losses)
    learned = start - best >= start_noise / math.sqrt(max(t.warmup, 2))
    critical = climbed(current, start, t.diverge_min_fall, start_noise) or (
        slow and learned and given_back(recent, start, best, t.diverge_critical)
    )
    if not slow:
        if not math.isfinite(fast):  # the fast test is off, or has too few losses yet
            return None
        size = t.diverge_fast_steps
        best, best_step, best_lr = window.best(before=size)
        peak = window.lr_peak(before=size)
        raised = window.lr is not None and window.lr >= t.lr_rise * peak
        demand = t.diverge_raised_give_back if raised else t.diverge_fast_give_back
        # a new rate is one event, not a test repeated at every step: no allowance for many
        fast_noise = (t.diverge_noise if raised else allowance) * window.start_noise
        fast_noise /= math.sqrt(size)
        if not (
            math.isfinite(best)
            and math.isfinite(fast_noise)
            and diverged(fast, start, best, demand, t.diverge_min_fall, fast_noise, math.inf)
        ):
            return None
        level, name = fast, f"the median of the last {size} losses"
    unit = window.unit
    share = (level - best) / (start - best) if start > best else None
    if share is None or level > start:
        what = (
            f"has climbed above its first value {_g(start)} (best {_g(best)} at {unit} {best_step})"
        )
    else:
        what = (
            f"has given back {share:.0%} of its fall from {_g(start)} to its best {_g(best)} "
            f"({unit} {best_step})"
        )
    if critical:
        verdict = "training has diverged"
        advice = (
            "divide the learning rate by 10 and restart from the last good checkpoint "
            f"(around {unit} {best_step}); run `lrkit find` to see where the loss blows up "
            "and stay well below it."
        )
    else:
        verdict = "training is diverging"
        lower = (
            f"bring the learning rate back to {_g(peak)}, where it was before it rose, or lower"
            if raised
            else "lower the learning rate (divide it by 3 to 10)"
        )
        advice = (
            f"{lower}, or restart from the checkpoint around {unit} {best_step} with a lower "
            "one; the doctor calls it critical if the loss gives back nearly all of its fall."
        )
    rose = ""
    if window.lr is not None and math.isfinite(best_lr) and window.lr > 1.5 * best_lr:
        rose = f" The learning rate rose from {_g(best_lr)} (at the best loss) to {_g(window.lr)}."
    return Finding(
        kind="divergence",
        step=window.step,
        severity="critical" if critical else "warning",
        message=f"{name} {_g(level)} {what}: {verdict}.{rose}",
        advice=advice,
        evidence=_ev(
            smoothed_loss=current,
            recent_median=fast if math.isfinite(fast) else None,
            start_loss=start,
            best_loss=best,
            best_step=best_step,
            given_back=share if share is not None and level <= start else None,
            lr=window.lr,
            lr_at_best=best_lr,
        ),
    )


def _fast_level(window: Window, t: Thresholds) -> float:
    """m_t, the median of the finite losses among the last ``diverge_fast_steps`` (``NaN``
    when the test is off or fewer losses have been seen)."""
    size = t.diverge_fast_steps
    if not size or window.count < size:
        return math.nan
    return float(running_median(window.losses[-size:], size)[-1])


def spike(window: Window, t: Thresholds) -> Finding | None:
    """Warning when the loss exceeds mean + ``spike_sigma`` std of the previous
    ``spike_window`` losses, compared on a log scale when all of them are positive, and
    exceeds the typical loss (exp of the mean log) by at least ``spike_min_rise`` x the run's
    fall s_0 - s* when it has fallen.

    Mini-batch losses are heavy-tailed (one hard batch can cost 5x the mean); their logs
    are close to normal, so ``spike_sigma`` means the same thing early and late in training.
    Near zero a tiny loss is many log-deviations from a tinier one; measured against the
    run's own fall it is no spike. Not judged for ``restart_settle`` steps after a warm
    restart, whose jump in the loss is expected.
    """
    loss = window.loss
    if not window.is_train or loss is None or window.losses.size < t.spike_window + 1:
        return None
    if window.restarted(t.restart_settle):
        return None
    previous = window.losses[-t.spike_window - 1 : -1]
    previous = previous[np.isfinite(previous)]
    if previous.size < 2 or not math.isfinite(loss):
        return None
    log = bool(loss > 0 and np.all(previous > 0))
    values = np.log(previous) if log else previous
    mean, std = float(values.mean()), float(values.std())
    value = math.log(loss) if log else loss
    if value <= mean + t.spike_sigma * std:
        return None
    typical = math.exp(mean) if log else mean
    fall = window.start_loss - window.best()[0]
    if fall > 0 and loss - typical < t.spike_min_rise * fall:
        return None
    z = (value - mean) / std if std > 0 else math.inf
    return Finding(
        kind="spike",
        step=window.step,
        severity="warning",
        message=f"loss {_g(loss)} jumped far above the recent range (typical {_g(typical)}, "
        f"{z:.1f} standard deviations{' of log-loss' if log else ''} above the mean).",
        advice="check that batch for bad data; if spikes repeat, lower the learning rate or "
        f"{_clip_advice(window)}.",
        evidence=_ev(loss=loss, typical=typical, z=z, lr=window.lr),
    )


def grad_explosion(window: Window, t: Thresholds) -> Finding | None:
    """Warning when log(grad norm) is ``grad_z`` EMA standard deviations above its EMA mean
    for ``grad_patience`` steps in a row, the norm is ``grad_min_ratio`` times its typical
    level and the smoothed loss has not fallen over those steps; judged after ``warmup`` and
    ``grad_settle`` steps, and not for ``restart_settle`` steps after a warm restart (the
    transients of early training, and of a rate back at its peak, are not explosions)."""
    z = window.grad_z
    if (
        not window.is_train
        or z.size < t.grad_patience
        or not np.all(z[-t.grad_patience :] > t.grad_z)
    ):
        return None
    if window.count <= max(t.warmup, t.grad_settle) or window.smoothed.size < t.grad_patience + 1:
        return None
    if window.restarted(t.restart_settle):
        return None
    if window.grad_norm is None or not window.grad_norm >= t.grad_min_ratio * window.grad_typical:
        return None
    now, before = float(window.smoothed[-1]), float(window.smoothed[-t.grad_patience - 1])
    if now < before and not math.isclose(now, before):
        return None
    early = " early in training; add warm-up" if window.count <= 10 * max(t.warmup, 1) else ""
    return Finding(
        kind="grad_explosion",
        step=window.step,
        severity="warning",
        message=f"the gradient norm {_g(window.grad_norm)} is far above its typical "
        f"{_g(window.grad_typical)} (z = {float(z[-1]):.1f}) while the loss is not falling{early}.",
        advice=f"{_clip_advice(window)}; if it keeps happening, lower the learning rate.",
        evidence=_ev(
            grad_norm=window.grad_norm,
            typical_grad_norm=window.grad_typical,
            z=float(z[-1]),
            loss=window.loss,
            lr=window.lr,
        ),
    )


def _flat_start(window: Window, t: Thresholds) -> tuple[float, float, float] | None:
    """(start, end, drop) when, at the ``flat_steps``-th training step, the loss has moved by
    less than ``flat_drop`` either way, drop = (start - end) / |start|: the mean of the first
    quarter against the mean of the last quarter, and against that of every quarter between
    (a loss that fell and climbed back was not too low, nor was one that rose)."""
    first = window.first_losses
    if window.count != t.flat_steps or not window.is_train or not np.all(np.isfinite(first)):
        return None
    quarter = max(t.flat_steps // 4, 1)
    blocks = first[: first.size // quarter * quarter].reshape(-1, quarter).mean(axis=1)
    start, end = float(blocks[0]), float(first[-quarter:].mean())
    if start == 0:
        return None
    drop = (start - end) / abs(start)
    deepest = (start - min(float(blocks[1:].min()), end)) / abs(start)
    return (start, end, drop) if -t.flat_drop < drop and deepest < t.flat_drop else None


def _grads_collapsed(window: Window, t: Thresholds) -> tuple[float, float] | None:
    """(start, end) median gradient norms of the first and last quarter of the first
    ``flat_steps`` steps, when the end is below half the start."""
    grads = window.first_grad_norms
    quarter = max(t.flat_steps // 4, 1)
    if grads.size < t.flat_steps or not np.all(np.isfinite(grads)):
        return None
    start, end = float(np.median(grads[:quarter])), float(np.median(grads[-quarter:]))
    return (start, end) if end < 0.5 * start else None


def _knocked_back(window: Window, t: Thresholds) -> tuple[float, float, float] | None:
    """(first loss L_0, highest loss, mean of the last quarter) when, at the ``flat_steps``-th
    training step, some loss rose above ``dead_blowup`` x |L_0| and the last quarter is
    no lower than L_0 - ``flat_drop`` x |L_0|: the first updates blew the loss up and it
    came back only to where it started, or not at all."""
    first = window.first_losses
    if window.count != t.flat_steps or not window.is_train or not np.all(np.isfinite(first)):
        return None
    start, peak = float(first[0]), float(first.max())
    end = float(first[-max(t.flat_steps // 4, 1) :].mean())
    if start == 0 or peak <= t.dead_blowup * abs(start):
        return None
    return (start, peak, end) if start - end < t.flat_drop * abs(start) else None


def lr_too_low(window: Window, t: Thresholds) -> Finding | None:
    """Warning when the loss moved by less than ``flat_drop`` over the first ``flat_steps``
    steps (mean of the last quarter against the first), the gradients did not die and the
    loss was not knocked back by a blow-up (that is a rate too high: see :func:`dead_start`)."""
    flat = _flat_start(window, t)
    if flat is None or _grads_collapsed(window, t) is not None:
        return None
    if _knocked_back(window, t) is not None:
        return None
    start, end, drop = flat
    lr = window.lr
    named = "the learning rate" if lr is None else f"the learning rate {_g(lr)}"
    try_lr = "" if lr is None else f" (try {_g(10 * lr)})"
    return Finding(
        kind="lr_too_low",
        step=window.step,
        severity="warning",
        message=f"the loss went from {_g(start)} to {_g(end)} ({-drop:+.2%}) over the first "
        f"{t.flat_steps} {window.unit}s: {named} looks too low.",
        advice=f"run `lrkit find` to pick a learning rate, or multiply it by 10{try_lr}.",
        evidence=_ev(start_loss=start, end_loss=end, drop=drop, lr=lr),
    )


def dead_start(window: Window, t: Thresholds) -> Finding | None:
    """At the ``flat_steps``-th step when the first updates were too large: critical when the
    loss stayed flat while the gradient norm fell below half its starting level (units died),
    or blew up above ``dead_critical`` x |L_0| and came back no lower than where it started
    (:func:`_knocked_back`); a warning for a smaller blow-up knocked back, which a batch far
    above the first one can look like."""
    flat = _flat_start(window, t)
    grads = None if flat is None else _grads_collapsed(window, t)
    knocked = _knocked_back(window, t)
    if knocked is not None:
        start, peak, end = knocked
        critical = peak > t.dead_critical * abs(start)
        verdict = "were too large" if critical else "look too large"
        return Finding(
            kind="dead_start",
            step=window.step,
            severity="critical" if critical else "warning",
            message=f"the loss rose from {_g(start)} to {_g(peak)} in the first "
            f"{t.flat_steps} {window.unit}s and came back only to {_g(end)}: the first updates "
            f"{verdict} and the network is not learning.",
            advice="restart from the initial weights with the learning rate divided by 10, or "
            "add warm-up; run `lrkit find` to see where the loss blows up.",
            evidence=_ev(start_loss=start, peak_loss=peak, end_loss=end, lr=window.lr),
        )
    if flat is None or grads is None:
        return None
    start, end, drop = flat
    return Finding(
        kind="dead_start",
        step=window.step,
        severity="critical",
        message=f"the loss went from {_g(start)} to {_g(end)} ({-drop:+.2%}) over the first "
        f"{t.flat_steps} {window.unit}s while the gradient norm fell from {_g(grads[0])} to "
        f"{_g(grads[1])}: the first updates were too large and the network stopped learning "
        "(dead units).",
        advice="restart from the initial weights with the learning rate divided by 10, or add "
        "warm-up; run `lrkit find` to see where the loss blows up.",
        evidence=_ev(
            start_loss=start,
            end_loss=end,
            drop=drop,
            grad_norm_start=grads[0],
            grad_norm_end=grads[1],
            lr=window.lr,
        ),
    )


def plateau(window: Window, t: Thresholds) -> Finding | None:
    """Info when the smoothed loss has not fallen below (1 - ``plateau_min_delta``) times its
    earlier best for ``plateau_patience`` steps."""
    if window.count <= t.plateau_patience + t.warmup:
        return None
    earlier, best_step, _ = window.best(before=t.plateau_patience)
    recent = window.smoothed[-t.plateau_patience :]
    recent = recent[np.isfinite(recent)]
    if not recent.size or not math.isfinite(earlier):
        return None
    lowest = float(recent.min())
    if lowest < earlier - t.plateau_min_delta * abs(earlier):
        return None
    return Finding(
        kind="plateau",
        step=window.step,
        severity="info",
        message=f"the loss has not improved by {t.plateau_min_delta:.0%} for "
        f"{t.plateau_patience} {window.unit}s (best {_g(earlier)} at {window.unit} {best_step}).",
        advice="if the validation loss has stopped improving too, stop here; otherwise lower "
        "the learning rate by 10x (reduce-on-plateau or a decaying schedule).",
        evidence=_ev(best_loss=earlier, best_step=best_step, recent_best=lowest, lr=window.lr),
    )


def _turns(means: np.ndarray, errors: np.ndarray, floor: float) -> tuple[int, float]:
    """(changes of direction, relative fall) of a series of block means.

    A move between neighbours counts when larger than both 2 standard errors and ``floor``;
    the fall is -slope x (n - 1) / |mean| of the least-squares line through the means.
    """
    moves = np.diff(means)
    noise = 2 * np.sqrt(errors[:-1] ** 2 + errors[1:] ** 2)
    signs = np.sign(moves[np.abs(moves) > np.maximum(noise, floor)])
    turns = int(np.count_nonzero(signs[1:] != signs[:-1]))
    x = np.arange(means.size) - (means.size - 1) / 2
    slope = float(x @ (means - means.mean()) / (x @ x))
    level = float(abs(means.mean()))
    return turns, (-slope * (means.size - 1) / level if level > 0 else 0.0)


def oscillation(window: Window, t: Thresholds) -> Finding | None:
    """Warning when the loss keeps changing direction with no downward trend.

    Checked on the training loss (the last ``osc_window`` losses cut into ``osc_blocks``
    equal blocks, the oldest left out when they do not divide evenly) and on the last
    ``osc_validations`` validation losses (none by default for steps): at least ``osc_turns``
    changes of direction between block means (moves larger than 2 standard errors and than
    ``osc_swing`` x the starting loss) and a fall of less than ``osc_trend``.
    """
    if not math.isfinite(window.loss_scale):
        return None
    floor = t.osc_swing * abs(window.loss_scale)
    series: list[tuple[str, np.ndarray, np.ndarray]] = []
    values = window.losses[-t.osc_window :]
    if values.size == t.osc_window and np.all(np.isfinite(values)):
        size = t.osc_window // t.osc_blocks
        blocks = values[values.size - size * t.osc_blocks :].reshape(t.osc_blocks, size)
        means, errors = blocks.mean(axis=1), blocks.std(axis=1) / math.sqrt(size)
        series.append((f"last {t.osc_window} training losses", means, errors))
    val = window.val_losses[-t.osc_validations :] if t.osc_validations else window.val_losses[:0]
    if val.size == t.osc_validations > 0 and np.all(np.isfinite(val)):
        series.append((f"last {val.size} validation losses", val, np.zeros_like(val)))
    for name, means, errors in series:
        turns, fall = _turns(means, errors, floor)
        if turns >= t.osc_turns and fall < t.osc_trend:
            return Finding(
                kind="oscillation",
                step=window.step,
                severity="warning",
                message=f"over the {name} the loss changed direction {turns} times between "
                f"{_g(means.min())} and {_g(means.max())} without trending down: the "
                "learning rate is probably too high.",
                advice="divide the learning rate by 3 to 10, or use a decaying schedule (or "
                "cyclical bounds from `lrkit find`); momentum also damps oscillation.",
                evidence=_ev(
                    turns=turns,
                    low=float(means.min()),
                    high=float(means.max()),
                    fall=fall,
                    lr=window.lr,
                ),
            )
    return None


def overfitting(window: Window, t: Thresholds) -> Finding | None:
    """Warning when the validation loss, averaged over ``overfit_patience`` validations,
    is ``overfit_min_rise`` above its best average, reached at least ``overfit_patience``
    validations ago, while the smoothed training loss fell by more than
    ``overfit_train_fall`` of its value then."""
    k = t.overfit_patience
    val = window.val_losses
    if val.size < 2 * k or not np.all(np.isfinite(val)):
        return None
    rolling = np.convolve(val, np.ones(k) / k, mode="valid")
    best = int(np.argmin(rolling))
    since = rolling.size - 1 - best
    if since < k or not rolling[-1] > rolling[best] * (1 + t.overfit_min_rise):
        return None
    at_best = best + k - 1
    train_then, train_now = float(window.val_train[at_best]), float(window.val_train[-1])
    if not train_then - train_now > t.overfit_train_fall * abs(train_then):
        return None
    best_step = int(window.val_steps[at_best])
    evidence = _ev(
        best_val_loss=float(rolling[best]),
        best_step=best_step,
        val_loss=float(rolling[-1]),
        train_loss_at_best=train_then,
        train_loss=train_now,
    )
    metric = window.val_metrics
    if np.isfinite(metric[[at_best, -1]]).all():
        evidence.update(val_metric_at_best=float(metric[at_best]), val_metric=float(metric[-1]))
    return Finding(
        kind="overfitting",
        step=window.step,
        severity="warning",
        message=f"the validation loss (mean of {k} validations) rose from {_g(rolling[best])} "
        f"({window.unit} {best_step}) to {_g(rolling[-1])} while the training loss fell from "
        f"{_g(train_then)} to {_g(train_now)}: the model is overfitting.",
        advice=f"keep the weights from about {window.unit} {best_step} (early stopping with "
        "restore_best_weights); decay the learning rate so late steps stop chasing noise, or "
        "add regularisation.",
        evidence=evidence,
    )


#: Built-in rules by name, in the order the doctor applies them.
RULES: dict[str, Rule] = {
    "non_finite": non_finite,
    "divergence": divergence,
    "spike": spike,
    "grad_explosion": grad_explosion,
    "lr_too_low": lr_too_low,
    "dead_start": dead_start,
    "plateau": plateau,
    "oscillation": oscillation,
    "overfitting": overfitting,
}
