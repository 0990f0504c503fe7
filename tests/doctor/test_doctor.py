"""The Doctor's API: thresholds, rules, actions on critical findings, summary and report."""

from __future__ import annotations

import json
import math
import re
import warnings

import pytest

from lrkit.doctor import (
    RULES,
    Doctor,
    DoctorWarning,
    Finding,
    Thresholds,
    Window,
    describe,
    diagnose,
    for_unit,
)
from lrkit.history import History


def diverge(doctor: Doctor) -> list[Finding]:
    found = []
    for step in range(100):
        found += doctor.observe(step, 1.0 if step < 60 else 50.0, lr=0.1)
    return found


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("diverge_give_back", 1.5, "diverge_give_back: must be in (0, 1], got 1.5"),
        ("diverge_min_fall", 1.0, "diverge_min_fall: must be in [0, 1), got 1.0"),
        ("diverge_noise", -1.0, "diverge_noise: must be >= 0, got -1.0"),
        ("smoothing", 1.0, "smoothing: must be in [0, 1), got 1.0"),
        ("grad_ema", 0.0, "grad_ema: must be in (0, 1), got 0.0"),
        ("spike_window", 1, "spike_window: must be >= 2, got 1"),
        ("flat_drop", -0.1, "flat_drop: must be in (0, 1), got -0.1"),
        ("plateau_patience", 0, "plateau_patience: must be >= 1, got 0"),
        ("spike_sigma", math.nan, "spike_sigma: must be > 0, got nan"),
        ("lr_rise", 1.0, "lr_rise: must be > 1, got 1.0"),
        ("diverge_raised_give_back", 0.0, "diverge_raised_give_back: must be in (0, 1], got 0.0"),
        ("dead_critical", 0.5, "dead_critical: must be >= 1, got 0.5"),
    ],
)
def test_out_of_range_thresholds_are_rejected_by_name(
    name: str, value: float, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Doctor(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"), [("spike_window", 12.5), ("osc_turns", "3"), ("diverge_noise", True)]
)
def test_thresholds_of_the_wrong_type_are_rejected(name: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"{name}: must be an? (integer|number)"):
        Doctor(**{name: value})


def test_unknown_threshold_names_the_known_ones() -> None:
    with pytest.raises(TypeError, match="unknown threshold 'diverge'; known thresholds are"):
        Doctor(diverge=3.0)


def test_osc_blocks_cannot_exceed_osc_window() -> None:
    with pytest.raises(ValueError, match=r"osc_blocks: must be <= osc_window \(10\), got 12"):
        Thresholds(osc_window=10, osc_blocks=12)


def test_every_threshold_is_documented_and_valid_by_default() -> None:
    rows = describe()
    assert [row[0] for row in rows] == list(Thresholds.__dataclass_fields__)
    assert all(row[3] and row[2] for row in rows)
    assert Thresholds().horizon() == 501  # plateau_patience 500 + 1


def test_epoch_unit_uses_epoch_defaults_and_overrides_apply() -> None:
    epoch = for_unit("epoch", plateau_patience=7)
    assert (epoch.smoothing, epoch.flat_steps, epoch.plateau_patience) == (0.0, 4, 7)
    assert Doctor(unit="epoch").thresholds.spike_window == 10
    with pytest.raises(ValueError, match="unit: must be 'step' or 'epoch', got 'batch'"):
        for_unit("batch")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"on_critical": "panic"}, ValueError, "on_critical: must be one of warn, stop, reduce"),
        ({"reduce_factor": 1.5}, ValueError, r"reduce_factor: must be in \(0, 1\), got 1.5"),
        ({"reduce_factor": "x"}, TypeError, "reduce_factor: must be a number"),
        ({"rules": ["divergence", "nope"]}, ValueError, "rules: unknown rule 'nope'"),
        ({"rules": [42]}, TypeError, "rules: each rule must be a name or a function"),
        ({"rules": []}, ValueError, "rules: give at least one rule"),
    ],
)
def test_bad_doctor_options(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Doctor(**kwargs)  # type: ignore[arg-type]


def test_observe_rejects_non_numbers_and_backward_steps() -> None:
    doctor = Doctor(verbose=False)
    with pytest.raises(TypeError, match="loss: must be a number, got 'high'"):
        doctor.observe(0, "high")  # type: ignore[arg-type]
    doctor.observe(5, 1.0)
    with pytest.raises(ValueError, match="step: must not go backwards, got 4 after 5"):
        doctor.observe(4, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"loss": True}, TypeError, "loss: must be a number, got True"),
        ({"loss": 1.0, "lr": -0.1}, ValueError, r"lr: must be >= 0 \(a learning rate cannot"),
        ({"loss": 1.0, "grad_norm": -2}, ValueError, "grad_norm: must be >= 0 .* got -2"),
    ],
)
def test_observe_refuses_what_a_log_file_may_not_hold(
    kwargs: dict[str, object], error: type, message: str
) -> None:
    doctor = Doctor(verbose=False)
    with pytest.raises(error, match=message):
        doctor.observe(0, **kwargs)  # type: ignore[arg-type]
    assert doctor.steps_seen == 0 and len(doctor.history) == 0


def test_a_step_has_one_training_loss_and_may_add_a_validation() -> None:
    doctor = Doctor(verbose=False)
    doctor.observe(3, 1.0, lr=0.1)
    doctor.observe(3, None, val_loss=1.2)
    with pytest.raises(ValueError, match="step: step 3 already has a training loss"):
        doctor.observe(3, 0.9)
    assert doctor.steps_seen == 1
    assert list(doctor.history) == [{"step": 3.0, "loss": 1.0, "lr": 0.1, "val_loss": 1.2}]


def test_observe_takes_a_loss_tensor_that_still_needs_its_gradient() -> None:
    torch = pytest.importorskip("torch")
    loss = torch.tensor(2.0, requires_grad=True) * 1.5
    doctor = Doctor(verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        doctor.observe(0, loss, lr=torch.tensor(0.1))
    assert list(doctor.history)[0]["loss"] == 3.0


def test_warn_raises_a_doctor_warning_once() -> None:
    with pytest.warns(DoctorWarning, match="CRITICAL divergence") as caught:
        found = diverge(Doctor(verbose=False))
    assert [f.kind for f in found] == ["divergence"]
    assert len([w for w in caught if issubclass(w.category, DoctorWarning)]) == 1
    assert found[0].action is None


def test_stop_sets_should_stop() -> None:
    doctor = Doctor(on_critical="stop", verbose=False)
    assert not doctor.should_stop
    found = diverge(doctor)
    assert doctor.should_stop
    assert found[0].action == "asked training to stop"


def test_reduce_calls_the_attached_adapter_with_the_factor() -> None:
    calls: list[float] = []
    doctor = Doctor(on_critical="reduce", reduce_factor=0.25, verbose=False)
    doctor.attach(reduce_lr=calls.append)
    found = diverge(doctor)
    assert calls == [0.25]
    assert found[0].action == "multiplied the learning rate by 0.25"
    assert not doctor.should_stop


def test_reduce_without_an_adapter_warns_instead() -> None:
    with pytest.warns(DoctorWarning, match="nothing attached can change the learning rate"):
        diverge(Doctor(on_critical="reduce", verbose=False))


def test_verbose_prints_findings_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    diverge(Doctor(on_critical="stop"))
    assert "lrkit doctor: step 60: CRITICAL divergence" in capsys.readouterr().err


def test_custom_rule_functions_run_beside_built_in_ones() -> None:
    def lr_above_one(window: Window, thresholds: Thresholds) -> Finding | None:
        if window.lr is not None and window.lr > 1:
            return Finding("lr_above_one", window.step, "info", "lr > 1.", "lower it.")
        return None

    doctor = Doctor(rules=["non_finite", lr_above_one], verbose=False)
    assert list(doctor.rules) == ["non_finite", "lr_above_one"]
    found = [f for step in range(5) for f in doctor.observe(step, 1.0, lr=0.5 * step)]
    assert [(f.kind, f.step) for f in found] == [("lr_above_one", 3)]


def test_summary_and_report() -> None:
    doctor = Doctor(on_critical="stop", verbose=False)
    assert doctor.summary() == (
        "lrkit doctor: 0 steps watched: too short to judge (the rules need more than 20 steps)."
    )
    diverge(doctor)
    text = doctor.summary()
    assert text.startswith("lrkit doctor: 100 steps watched, 1 finding(s): 1 critical.")
    assert "step 60  CRITICAL divergence:" in text
    assert "has climbed above its first value 1 (best 1 at step" in text
    assert "advice: divide the learning rate by 10" in text
    assert "done: asked training to stop" in text
    report = json.loads(json.dumps(doctor.report(), allow_nan=False))
    assert report["steps_watched"] == 100
    assert report["rules"] == list(RULES)
    assert report["thresholds"]["diverge_give_back"] == 0.5
    assert report["findings"][0]["kind"] == "divergence"
    # 60 losses of 1 (no noise: the margin is min_fall x s_0 = 0.1), then the first 50 lifts
    # the smoothed loss to (0.98 (1 - 0.98^60) + 0.02 x 50) / (1 - 0.98^61) = 2.38 > 1.1
    beta = 0.98
    smoothed = (beta * (1 - beta**60) + (1 - beta) * 50) / (1 - beta**61)
    assert smoothed == pytest.approx(2.384, abs=1e-3)
    evidence = report["findings"][0]["evidence"]
    assert evidence["smoothed_loss"] == pytest.approx(smoothed)
    assert evidence["start_loss"] == 1.0
    assert "given_back" not in evidence  # it climbed above its start, it had nothing to give


def test_history_records_every_observation() -> None:
    doctor = Doctor(verbose=False)
    doctor.observe(0, 2.0, lr=0.1, grad_norm=1.5)
    doctor.observe(0, val_loss=1.8, val_metric=0.4)
    doctor.observe(1, 1.9, lr=0.1)
    assert list(doctor.history) == [
        {"step": 0, "lr": 0.1, "loss": 2.0, "grad_norm": 1.5, "val_loss": 1.8, "val_metric": 0.4},
        {"step": 1, "lr": 0.1, "loss": 1.9},
    ]
    assert doctor.steps_seen == 2


def test_finding_checks_severity_and_serialises_non_finite_evidence() -> None:
    with pytest.raises(ValueError, match="severity: must be one of info, warning, critical"):
        Finding("x", 1, "fatal", "m", "a")
    found = Finding("non_finite", 3, "critical", "loss is nan.", "restart.", {"loss": math.nan})
    assert found.to_dict()["evidence"] == {"loss": "nan"}
    assert str(found) == "step 3: CRITICAL non_finite: loss is nan. Advice: restart."


def test_diagnose_replays_a_history_with_its_unit() -> None:
    history = History(unit="epoch")
    for epoch, loss in enumerate([2.3, 2.3, 2.3, 2.3, 2.3, 2.3]):
        history.append(epoch, loss=loss, lr=1e-6)
    diagnosis = diagnose(history)
    assert diagnosis.unit == "epoch"
    assert [(f.kind, f.step) for f in diagnosis.findings] == [("lr_too_low", 3)]
    assert "over the first 4 epochs" in diagnosis.findings[0].message


def test_a_long_line_is_thinned_for_the_plot_keeping_its_extremes() -> None:
    import numpy as np

    from lrkit.doctor.plot import _thin

    x = np.arange(10_000)
    y = np.sin(x / 100.0)
    y[1234], y[777], y[5000] = 50.0, -9.0, math.nan
    xs, ys = _thin(x, y, bins=100)
    assert xs.size <= 200 and np.all(np.diff(xs) > 0)
    assert (xs[np.argmax(ys)], ys.max()) == (1234, 50.0)
    assert (xs[np.argmin(ys)], ys.min()) == (777, -9.0)
    assert np.array_equal(ys, y[xs])
    short = _thin(x[:150], y[:150], bins=100)
    assert short[0].size == 150
