"""Each doctor rule on a series whose answer is worked out by hand (steps count from 0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrkit.doctor import Doctor, Finding, diagnose
from lrkit.trainlog import TrainingLog


def feed(
    doctor: Doctor,
    losses: list[float] | np.ndarray,
    *,
    grad_norms: list[float] | np.ndarray | None = None,
    lr: float | None = None,
    first: int = 0,
) -> list[Finding]:
    found = []
    for step, loss in enumerate(losses, first):
        grad = None if grad_norms is None else float(grad_norms[step - first])
        found += doctor.observe(step, float(loss), lr=lr, grad_norm=grad)
    return found


def doctor(*rules: str, **thresholds: float) -> Doctor:
    return Doctor(rules=list(rules), on_critical="stop", verbose=False, **thresholds)


def test_non_finite_loss_is_caught_at_its_step_and_reported_once() -> None:
    losses = [1.0] * 60
    losses[37] = math.nan
    losses[45] = math.inf  # within the cooldown of 100 steps: not reported again
    found = feed(doctor("non_finite"), losses)
    assert [(f.step, f.severity, f.kind) for f in found] == [(37, "critical", "non_finite")]
    assert math.isnan(found[0].evidence["loss"])


def test_non_finite_is_reported_again_after_its_cooldown() -> None:
    losses = [1.0] * 60
    losses[37] = math.nan
    losses[45] = math.inf
    found = feed(doctor("non_finite", cooldown=5), losses)
    assert [f.step for f in found] == [37, 45]


def test_non_finite_gradient_norm_with_a_finite_loss() -> None:
    grads = [1.0] * 30
    grads[12] = math.inf
    found = feed(doctor("non_finite"), [1.0] * 30, grad_norms=grads)
    assert [f.step for f in found] == [12]
    assert found[0].evidence["grad_norm"] == math.inf


def test_divergence_when_the_loss_climbs_above_where_it_started() -> None:
    # 100 losses of 1 (no noise: the margin is min_fall x s_0 = 0.1), then losses of 10. With
    # beta = 0.98 the first 10 gives s = (0.98 (1 - 0.98^100) + 0.02 x 10) / (1 - 0.98^101)
    # = (0.98 x 0.8674 + 0.2) / 0.8700 = 1.207 > 1.1: found at once, at step 100
    beta = 0.98
    smoothed = (beta * (1 - beta**100) + (1 - beta) * 10) / (1 - beta**101)
    assert smoothed == pytest.approx(1.207, abs=1e-3)
    found = feed(doctor("divergence"), [1.0] * 100 + [10.0] * 50)
    assert [(f.step, f.kind, f.severity) for f in found] == [(100, "divergence", "critical")]
    assert found[0].evidence["smoothed_loss"] == pytest.approx(smoothed)
    assert found[0].evidence["start_loss"] == 1.0
    assert "has climbed above its first value 1" in found[0].message


def test_no_divergence_while_the_loss_stays_within_the_margin_of_its_start() -> None:
    # a flat start: 1.09 stays within s_0 + 0.1
    assert feed(doctor("divergence", smoothing=0.0), [1.0] * 100 + [1.09] * 300) == []


FALL = [2.0] * 20 + np.linspace(2.0, 1.0, 101)[1:].tolist()  # to its best 1 at step 119


def test_divergence_when_the_loss_gives_back_half_of_its_fall() -> None:
    # smoothing 0, so s = loss: s_0 = 2, best 1 at step 119, reached in steps of 0.01, so the
    # noise at the best is small: sigma^2 is the average of d^2 / 2 over the differences,
    # at most 0.01^2 / 2, and (4 + sqrt(2 ln 120)) sigma < 0.06. The fall 1 is real, and the
    # loss must pass 1 + max(0.5 x 1, that margin) = 1.5
    assert (4 + math.sqrt(2 * math.log(120))) * math.sqrt(0.01**2 / 2) < 0.06
    quiet = feed(doctor("divergence", smoothing=0.0), FALL + [1.5] * 50)
    assert quiet == []
    found = feed(doctor("divergence", smoothing=0.0), FALL + [1.6] * 5)
    assert [f.step for f in found] == [120]
    assert found[0].evidence["given_back"] == pytest.approx(0.6)
    assert found[0].evidence["best_step"] == 119
    assert "has given back 60% of its fall from 2 to its best 1 (step 119)" in found[0].message


def test_noise_near_zero_after_a_big_fall_is_not_divergence() -> None:
    # the loss falls from 0.87 to 0.009, then sits at 0.05: the smoothed loss ends more than
    # 4x its best (which lags the loss, about 0.011), but has given back under 5 % of its fall
    losses = np.concatenate([np.geomspace(0.87, 0.009, 1500), np.full(500, 0.05)])
    assert feed(doctor("divergence"), losses) == []
    beta, average, smoothed = 0.98, 0.0, []
    for n, loss in enumerate(losses, 1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**n))
    best = min(smoothed)
    assert smoothed[-1] > 4 * best
    assert (smoothed[-1] - best) / (losses[0] - best) < 0.05


def test_the_fast_test_finds_a_blow_up_the_smoothed_loss_still_lags() -> None:
    # 50 losses of 2, 200 of 0.01, then 1.9: s_0 = 2, and the best smoothed loss before the
    # last 16 steps is about 0.01. At step 258 nine of the last 16 losses are 1.9, so their
    # median is 1.9 > s* + 0.9 (2 - s*) = 1.8 + 0.1 s* (the first 20 losses are equal: no
    # noise margin); at step 257 it is (0.01 + 1.9) / 2. The smoothed loss is then still
    # near 0.32 (beta = 0.98), far below s* + 0.5 (2 - s*): the fast test finds the blow-up
    # ~30 steps earlier. That is a warning: only once the smoothed loss has given back half of
    # its fall too (sustained) while the recent median has given back 0.9 of it (now) has the
    # run lost what it learned, and the same rule reports again at once, critical
    losses = [2.0] * 50 + [0.01] * 200 + [1.9] * 100
    watch = doctor("divergence")
    found = feed(watch, losses[:280])
    assert [(f.step, f.severity) for f in found] == [(258, "warning")]
    assert not watch.should_stop
    assert found[0].evidence["recent_median"] == 1.9
    assert "the median of the last 16 losses 1.9 has given back" in found[0].message
    found += feed(watch, losses[280:], first=280)
    beta, average, smoothed = 0.98, 0.0, []
    for n, loss in enumerate(losses, 1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**n))
    best = min(smoothed)
    half = next(i for i in range(250, 350) if smoothed[i] > best + 0.5 * (smoothed[0] - best))
    assert [(f.step, f.severity) for f in found] == [(258, "warning"), (half, "critical")]
    assert found[1].message.startswith("the smoothed loss") and watch.should_stop
    # without the fast test the smoothed loss itself must give back 0.9 of the fall, which
    # takes it 0.98^k (1.9 - s*) <= 0.1 (2 - s*), k ~ 145 steps
    longer = losses + [1.9] * 100
    slow = feed(doctor("divergence", diverge_fast_steps=0), longer)
    for n, loss in enumerate(longer[len(losses) :], len(losses) + 1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**n))
    most = next(i for i in range(250, 450) if smoothed[i] >= best + 0.9 * (smoothed[0] - best))
    assert [(f.step, f.severity) for f in slow] == [(half, "warning"), (most, "critical")]


def test_a_fall_given_back_in_part_is_a_warning_and_does_not_stop_the_run() -> None:
    # smoothing 0: from 2 to 1, then 1.6 (60 % of the fall given back, beyond half, short of
    # 0.9): a warning; then 1.95 (95 %) from step 160: once 9 of the last 16 losses are 1.95
    # (step 168) their median has given back 0.9 too, and the run has lost what it learned:
    # critical, reported at once within the warning's cooldown
    watch = doctor("divergence", smoothing=0.0)
    found = feed(watch, FALL + [1.6] * 40)
    assert [(f.step, f.severity) for f in found] == [(120, "warning")]
    assert found[0].evidence["given_back"] == pytest.approx(0.6)
    assert "has given back 60% of its fall" in found[0].message
    assert not watch.should_stop
    found = feed(watch, [1.95] * 20, first=160)
    assert [(f.step, f.severity) for f in found] == [(168, "critical")]
    assert watch.should_stop


def test_a_fall_within_the_noise_of_the_start_is_never_lost_critically() -> None:
    # smoothing 0: the first 20 losses alternate 2 and 3 (σ^2 = 1/2, and the noise of their
    # mean 4σ/sqrt(20) ≈ 0.63), then 600 quiet steps at 1.9 (the noise dies down), a gentle
    # fall to 1.5, and back to 1.98: 96 % of the fall given back, but a fall of 0.5 is inside
    # the noise of the start, so the run had not learned anything it can lose: a warning only.
    # After a clean start the same jump back is critical
    def run(start: list[float], best: float) -> list[tuple[int, str]]:
        losses = start + [1.9] * 600 + np.linspace(1.9, best, 41)[1:].tolist() + [1.98] * 20
        found = feed(doctor("divergence", smoothing=0.0, diverge_fast_steps=0), losses)
        return [(f.step, f.severity) for f in found]

    noisy, clean = [2.0, 3.0] * 10, [2.0] * 20
    assert run(noisy, 1.5) == [(660, "warning")]
    assert run(clean, 1.5) == [(660, "critical")]
    # a fall of 1.0 stands out from that noise: critical after the noisy start too
    assert run(noisy, 1.0) == [(660, "critical")]


def test_the_fast_test_needs_the_fall_to_be_older_than_its_window() -> None:
    # smoothing 0: the loss falls from 2 to 1 at step 30; the median of the last 16 is still 2
    # for the next 7 steps, which is no divergence: the best it is held against is the one
    # before those 16 losses
    found = feed(doctor("divergence", smoothing=0.0), [2.0] * 30 + [1.0] * 60)
    assert found == []


def _rates(doc: Doctor, phases: list[tuple[int, float, float]]) -> list[Finding]:
    """Feed ``(steps, loss, lr)`` phases one after another."""
    found, step = [], 0
    for steps, loss, lr in phases:
        found += feed(doc, [loss] * steps, lr=lr, first=step)
        step += steps
    return found


def test_a_loss_that_rises_when_the_rate_is_raised_is_divergence_sooner() -> None:
    # smoothing 0: from 2 to 1 at lr 0.1, then the rate goes to 1 (10x every rate before) and
    # the loss to 1.3, 30 % of the fall given back: short of half (the smoothed test) and of
    # 0.9 (the fast test), but beyond diverge_raised_give_back = 0.15 while the rate is new.
    # At step 238 nine of the last 16 losses are 1.3: their median 1.3 > 1 + 0.15 (2 - 1)
    found = _rates(
        doctor("divergence", smoothing=0.0), [(30, 2.0, 0.1), (200, 1.0, 0.1), (60, 1.3, 1.0)]
    )
    assert [(f.step, f.severity) for f in found] == [(238, "warning")]
    assert found[0].evidence["given_back"] == pytest.approx(0.3)
    assert "The learning rate rose from 0.1 (at the best loss) to 1." in found[0].message
    assert "bring the learning rate back to 0.1" in found[0].advice
    # the same losses at a constant rate are no divergence, nor is a rate raised only 2x
    assert (
        _rates(
            doctor("divergence", smoothing=0.0), [(30, 2.0, 0.1), (200, 1.0, 0.1), (60, 1.3, 0.1)]
        )
        == []
    )
    assert (
        _rates(
            doctor("divergence", smoothing=0.0), [(30, 2.0, 0.1), (200, 1.0, 0.1), (60, 1.3, 0.2)]
        )
        == []
    )


def test_a_warm_restart_back_to_an_earlier_peak_is_held_to_the_usual_test() -> None:
    # the rate starts at 1, decays to 0.01, then restarts at 1: 100x the rate at the best loss,
    # but no higher than a rate the run has used, so a 30 % rise is no divergence
    phases = [(30, 2.0, 1.0), (200, 1.0, 0.01), (60, 1.3, 1.0)]
    assert _rates(doctor("divergence", smoothing=0.0), phases) == []


def test_divergence_remembers_a_best_loss_older_than_the_window() -> None:
    # smoothing 0: the best (1.0 at step 50) has left the 256-step window by step 700. Noise at
    # the best: sigma^2 = 0.5 / 50, 4 sigma = 0.4; 1.4 stays below 1 + max(0.5, 0.4) = 1.5
    losses = [2.0] * 50 + [1.0] + [1.4] * 649 + [1.8] * 5
    found = feed(doctor("divergence", smoothing=0.0), losses, lr=0.1)
    assert [f.step for f in found] == [700]
    assert found[0].evidence["best_step"] == 50
    assert found[0].evidence["best_loss"] == 1.0
    assert found[0].evidence["given_back"] == pytest.approx(0.8)


def test_spike_above_six_sigma_of_the_log_losses() -> None:
    rng = np.random.default_rng(0)
    losses = np.exp(rng.normal(0.0, 0.1, 300))
    losses[200] = 10.0
    found = feed(doctor("spike"), losses)
    assert [(f.step, f.severity) for f in found] == [(200, "warning")]
    previous = np.log(losses[72:200])  # the 128 losses before step 200
    z = (math.log(10.0) - previous.mean()) / previous.std()
    assert found[0].evidence["z"] == pytest.approx(z)


def _restart(top: float) -> np.ndarray:
    """Rates: 1 for 150 steps, 0.01 for 150, then ``top`` (back to 1: a warm restart)."""
    return np.concatenate((np.full(150, 1.0), np.full(150, 0.01), np.full(300, top)))


def _observe(
    doc: Doctor, losses: np.ndarray, rates: np.ndarray, grads: np.ndarray
) -> list[Finding]:
    found = []
    for step, (loss, lr, grad) in enumerate(zip(losses, rates, grads, strict=True)):
        found += doc.observe(step, float(loss), lr=float(lr), grad_norm=float(grad))
    return found


def test_a_spike_or_gradient_jump_after_a_warm_restart_is_expected() -> None:
    # the rate jumps 100x at step 300, back to the 1 it had: for restart_settle = 100 steps
    # neither a loss far above its range nor a gradient norm far above its level is reported
    rng = np.random.default_rng(4)
    losses, grads = np.exp(rng.normal(0.0, 0.1, 600)), np.exp(rng.normal(0.0, 0.05, 600))
    losses[302], grads[302:304] = 10.0, 8.0
    losses[450], grads[450:452] = 10.0, 8.0  # after the settling: reported
    found = _observe(doctor("spike", "grad_explosion"), losses, _restart(1.0), grads)
    assert [(f.step, f.kind) for f in found] == [(450, "spike"), (451, "grad_explosion")]
    # a rate raised to a level the run never had is no restart: both are reported at once
    found = _observe(doctor("spike", "grad_explosion"), losses, _restart(10.0), grads)
    assert [(f.step, f.kind) for f in found][:2] == [(302, "spike"), (303, "grad_explosion")]
    # a rate resting at 0 from step 150 is no restart at every step
    found = _observe(doctor("spike"), losses, np.where(np.arange(600) < 150, 0.01, 0.0), grads)
    assert [f.step for f in found] == [302, 450]
    # restart_settle = 0 judges them as ever
    found = _observe(doctor("spike", restart_settle=0), losses, _restart(1.0), grads)
    assert [f.step for f in found] == [302, 450]


def test_spike_on_the_raw_scale_when_losses_can_be_negative() -> None:
    rng = np.random.default_rng(1)
    losses = rng.normal(-1.0, 0.05, 300)
    losses[250] = 0.0  # 20 sigma above
    found = feed(doctor("spike"), losses)
    assert [f.step for f in found] == [250]
    previous = losses[122:250]
    assert found[0].evidence["z"] == pytest.approx((0.0 - previous.mean()) / previous.std())


def test_no_spike_in_heavy_tailed_but_steady_noise() -> None:
    # mini-batch-like losses: log-normal with a wide spread, many 5x excursions
    rng = np.random.default_rng(2)
    losses = np.exp(rng.normal(-2.5, 0.6, 3000))
    assert feed(doctor("spike"), losses) == []


def test_gradient_norm_explosion_needs_grad_patience_steps_above_z() -> None:
    rng = np.random.default_rng(3)
    grads = np.exp(rng.normal(0.0, 0.05, 300))
    grads[200:202] = 8.0
    found = feed(doctor("grad_explosion"), [1.0] * 300, grad_norms=grads)
    assert [(f.step, f.severity) for f in found] == [(201, "warning")]
    assert found[0].evidence["grad_norm"] == 8.0
    # one step is enough with grad_patience=1 (grad_z raised: noise alone passes 2.5 sometimes)
    one = doctor("grad_explosion", grad_patience=1, grad_z=5.0)
    assert [f.step for f in feed(one, [1.0] * 300, grad_norms=grads)] == [200]


def test_a_gradient_norm_a_few_times_its_typical_level_is_not_an_explosion() -> None:
    # z far above grad_z, but 4x the typical norm is below grad_min_ratio (5)
    rng = np.random.default_rng(3)
    grads = np.exp(rng.normal(0.0, 0.05, 300))
    grads[200:202] = 4.0
    assert feed(doctor("grad_explosion"), [1.0] * 300, grad_norms=grads) == []
    loose = doctor("grad_explosion", grad_min_ratio=2.0)
    assert [f.step for f in feed(loose, [1.0] * 300, grad_norms=grads)] == [201]


def test_gradient_norm_rise_while_the_loss_falls_is_not_an_explosion() -> None:
    rng = np.random.default_rng(3)
    grads = np.exp(rng.normal(0.0, 0.05, 300))
    grads[200:202] = 5.0
    losses = np.linspace(2.0, 0.5, 300)
    assert feed(doctor("grad_explosion"), losses, grad_norms=grads) == []


def test_lr_too_low_when_the_loss_is_flat_for_the_first_steps() -> None:
    rng = np.random.default_rng(4)
    losses = 2.30 + rng.normal(0, 0.005, 300)
    found = feed(doctor("lr_too_low"), losses, grad_norms=np.full(300, 0.4), lr=1e-6)
    assert [(f.step, f.kind, f.severity) for f in found] == [(199, "lr_too_low", "warning")]
    drop = (losses[:50].mean() - losses[150:200].mean()) / losses[:50].mean()
    assert found[0].evidence["drop"] == pytest.approx(drop)
    assert "1e-05" in found[0].advice


def test_lr_not_too_low_when_the_loss_falls() -> None:
    losses = np.linspace(2.3, 1.5, 300)
    assert feed(doctor("lr_too_low", "dead_start"), losses, lr=1e-3) == []


def test_a_loss_that_rose_over_the_first_steps_is_no_low_lr() -> None:
    # a rise is a rate too high, never "multiply it by 10"; within flat_drop it is still flat
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.005, 300)
    rising = np.linspace(1.55, 1.80, 300) + noise
    assert feed(doctor("lr_too_low", "dead_start"), rising, grad_norms=np.full(300, 0.4)) == []
    grads = np.linspace(1.0, 0.2, 300)
    assert feed(doctor("lr_too_low", "dead_start"), rising, grad_norms=grads) == []
    barely = np.linspace(1.55, 1.58, 300) + noise
    found = feed(doctor("lr_too_low"), barely, grad_norms=np.full(300, 0.4), lr=1e-6)
    assert [f.kind for f in found] == ["lr_too_low"]
    assert found[0].evidence["drop"] < 0
    assert "(+1." in found[0].message


def test_flat_start_with_dying_gradients_is_a_dead_start_not_a_low_lr() -> None:
    losses = np.full(300, 2.30)
    grads = np.where(np.arange(300) < 50, 1.0, 0.1)
    found = feed(doctor("lr_too_low", "dead_start"), losses, grad_norms=grads, lr=0.5)
    assert [(f.step, f.kind, f.severity) for f in found] == [(199, "dead_start", "critical")]
    assert found[0].evidence["grad_norm_start"] == 1.0
    assert found[0].evidence["grad_norm_end"] == 0.1


def test_plateau_after_patience_steps_without_improvement() -> None:
    # smoothing 0: 2.0 for steps 0-49, 1.0 from step 50. The best before the last 100 steps
    # first includes step 50 at step 150, when the last 100 steps hold nothing below 0.99.
    losses = [2.0] * 50 + [1.0] * 200
    found = feed(doctor("plateau", smoothing=0.0, warmup=0, plateau_patience=100), losses)
    assert [(f.step, f.severity) for f in found] == [(150, "info")]
    assert found[0].evidence["best_step"] == 50


def test_no_plateau_while_the_loss_keeps_falling_by_more_than_min_delta() -> None:
    losses = 2.0 * 0.995 ** np.arange(600)  # 0.5% per step: 1% within two steps
    assert feed(doctor("plateau", smoothing=0.0, plateau_patience=100), losses) == []


def test_oscillating_training_loss() -> None:
    # blocks of 32 steps alternate between 1.0 and 1.5: block means turn 6 times in the
    # first full window (256 steps = 8 blocks), with no downward trend
    rng = np.random.default_rng(5)
    level = np.where((np.arange(400) // 32) % 2 == 0, 1.0, 1.5)
    losses = level + rng.normal(0, 0.01, 400)
    found = feed(doctor("oscillation"), losses)
    assert [(f.step, f.severity) for f in found] == [(255, "warning")]
    assert found[0].evidence["turns"] == 6


def test_no_oscillation_when_the_loss_trends_down() -> None:
    rng = np.random.default_rng(5)
    wave = np.where((np.arange(400) // 32) % 2 == 0, 0.0, 0.2)
    losses = np.linspace(3.0, 1.0, 400) + wave + rng.normal(0, 0.01, 400)
    assert feed(doctor("oscillation"), losses) == []


def _oscillating_validations(doc: Doctor) -> list[Finding]:
    found = []
    for i in range(8):
        for step in range(10 * i, 10 * i + 10):
            found += doc.observe(step, 1.0)
        found += doc.observe(10 * i + 9, val_loss=[0.5, 0.8][i % 2])
    return found


def test_oscillating_validation_loss() -> None:
    # 0.5, 0.8, 0.5, ... over 8 validations: 7 moves of 0.3, 6 changes of direction
    found = _oscillating_validations(doctor("oscillation", osc_validations=8))
    assert [f.step for f in found] == [79]
    assert found[0].evidence["turns"] == 6
    assert "last 8 validation losses" in found[0].message


def test_validation_losses_are_not_judged_for_oscillation_by_default_for_steps() -> None:
    assert _oscillating_validations(doctor("oscillation")) == []


def _validations(doc: Doctor, val: list[float], train: np.ndarray) -> list[Finding]:
    found = []
    for i, v in enumerate(val):
        for step in range(10 * i, 10 * i + 10):
            found += doc.observe(step, float(train[step]))
        found += doc.observe(10 * i + 9, val_loss=v, val_metric=1 - v)
    return found


def test_overfitting_validation_loss_rises_while_training_loss_falls() -> None:
    # patience 2: running means of 2 validations r = .9 .7 .55 .5 .55 .65 ...; the best
    # (0.5, ending at validation 4) is 2 validations old at validation 6, and 0.65 > 1.2 x 0.5
    val = [1.0, 0.8, 0.6, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9]
    train = np.linspace(2.0, 0.1, 90)
    found = _validations(doctor("overfitting", overfit_patience=2), val, train)
    assert [(f.step, f.severity) for f in found] == [(69, "warning")]
    assert found[0].evidence["best_val_loss"] == pytest.approx(0.5)
    assert found[0].evidence["val_loss"] == pytest.approx(0.65)
    assert found[0].evidence["best_step"] == 49
    assert found[0].evidence["val_metric"] == pytest.approx(0.3)


def test_rising_validation_loss_with_rising_training_loss_is_not_overfitting() -> None:
    val = [1.0, 0.8, 0.6, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9]
    train = np.linspace(0.1, 2.0, 90)
    assert _validations(doctor("overfitting", overfit_patience=2), val, train) == []


def test_a_jump_near_zero_after_a_big_fall_is_no_spike() -> None:
    # the loss fell from 1 to about 1e-5; a batch at 1e-3 is many log-deviations above its
    # neighbours but 0.1 % of the fall: no spike; a batch at 0.2 (20 % of the fall) is one
    rng = np.random.default_rng(5)
    losses = np.concatenate((np.geomspace(1.0, 1e-5, 200), 1e-5 * np.exp(rng.normal(0, 0.1, 300))))
    tiny = losses.copy()
    tiny[400] = 1e-3
    assert feed(doctor("spike"), tiny) == []
    big = losses.copy()
    big[400] = 0.2
    assert [f.step for f in feed(doctor("spike"), big)] == [400]
    # spike_min_rise=0 judges on the log scale alone
    assert [f.step for f in feed(doctor("spike", spike_min_rise=0.0), tiny)] == [400]


def test_a_blow_up_knocked_back_to_the_start_is_a_dead_start_not_a_low_lr() -> None:
    # a rate too high from the first step: the loss leaps 1000x, then sits at its start
    losses = np.full(300, 2.30)
    losses[1:6] = [5e3, 800.0, 60.0, 9.0, 3.0]
    found = feed(doctor("lr_too_low", "dead_start"), losses, grad_norms=np.full(300, 0.4), lr=1.0)
    assert [(f.step, f.kind, f.severity) for f in found] == [(199, "dead_start", "critical")]
    assert found[0].evidence["peak_loss"] == 5e3
    assert found[0].evidence["start_loss"] == 2.30


def test_a_smaller_blow_up_knocked_back_is_a_dead_start_warning() -> None:
    # one loss at 3x the first (above dead_blowup = 2, below dead_critical = 10), then flat:
    # a rate too high, or one batch far above a lucky first one; a warning, not a stop
    losses = np.full(300, 2.30)
    losses[40] = 6.9
    watch = doctor("lr_too_low", "dead_start")
    found = feed(watch, losses, grad_norms=np.full(300, 0.4), lr=1.0)
    assert [(f.step, f.kind, f.severity) for f in found] == [(199, "dead_start", "warning")]
    assert "the first updates look too large" in found[0].message
    assert not watch.should_stop
    losses[40] = 23.1  # above 10x the first loss: critical
    found = feed(doctor("lr_too_low", "dead_start"), losses, grad_norms=np.full(300, 0.4))
    assert [(f.step, f.severity) for f in found] == [(199, "critical")]


def test_a_blow_up_the_loss_recovers_from_is_no_dead_start() -> None:
    losses = np.linspace(2.3, 0.5, 300)
    losses[3] = 50.0
    assert feed(doctor("lr_too_low", "dead_start"), losses, grad_norms=np.full(300, 0.4)) == []


def test_overfitting_needs_the_training_loss_to_fall_by_overfit_train_fall() -> None:
    val = [1.0, 0.8, 0.6, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9]
    barely = np.linspace(1.0, 0.97, 90)  # the training loss fell 3 %, not > 10 %
    assert _validations(doctor("overfitting", overfit_patience=2), val, barely) == []
    loose = doctor("overfitting", overfit_patience=2, overfit_train_fall=0.0)
    assert [f.step for f in _validations(loose, val, barely)] == [69]


def _slow_noisy_run(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(losses, rates): a loss falling 15 % in 7,000 steps under 30 % log-normal noise."""
    rng = np.random.default_rng(seed)
    step = np.arange(n)
    loss = (2.3 * np.exp(-step / 50_000) + 0.05) * np.exp(rng.normal(0, 0.3, n))
    return loss, np.full(n, 1e-3)


def _diagnosed(losses: np.ndarray, rates: np.ndarray) -> list[Finding]:
    pairs = enumerate(zip(losses.tolist(), rates.tolist(), strict=True))
    rows = [{"step": i, "loss": v, "lr": r} for i, (v, r) in pairs]
    return diagnose(TrainingLog.from_rows(rows), rules=["divergence"]).findings


def test_a_long_slow_noisy_run_is_no_divergence() -> None:
    # its best smoothed loss is the least of ~150 effectively independent noisy values, about
    # sqrt(2 ln 150) ≈ 3.2 of their standard deviations below their level: the smoothed loss
    # climbing back from that best by 4 standard deviations is noise, not divergence
    losses, rates = _slow_noisy_run(15_000)
    assert _diagnosed(losses, rates) == []
    # a blow-up after it is still found at once: the rate raised 30x, the loss tripled
    losses = np.concatenate([losses, 3 * losses[-100:]])
    rates = np.concatenate([rates, np.full(100, 3e-2)])
    found = _diagnosed(losses, rates)
    assert found and 15_000 <= found[0].step < 15_016
