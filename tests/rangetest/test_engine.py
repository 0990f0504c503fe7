"""The framework-neutral range-test engine on synthetic loss functions."""

import dataclasses
import json
import math

import numpy as np
import pytest

from lrkit import (
    RangeTest,
    RangeTestResult,
    RangeTestSettings,
    SuggestionError,
    lr_sweep,
    range_test,
)
from lrkit.rangetest import FALLBACK_DECADES, RECORDED


def bowl(lr: float) -> float:
    """Loss that is lowest at lr = 1e-2 and grows fast above it."""
    return 1.0 + (math.log10(lr) + 2) ** 2


def test_exponential_sweep_is_geometric():
    lrs = lr_sweep(1e-4, 1.0, 5, "exp")
    np.testing.assert_allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)


def test_linear_sweep_is_even():
    np.testing.assert_allclose(lr_sweep(0.1, 0.5, 5, "linear"), [0.1, 0.2, 0.3, 0.4, 0.5])


def test_engine_records_every_step_and_bias_corrected_ema():
    seen = []
    result = range_test(
        lambda lr: seen.append(lr) or bowl(lr),
        start_lr=1e-4,
        end_lr=1e-2,
        num_steps=10,
        smoothing=0.5,
    )
    assert result.stop_reason == "completed"
    assert result.lrs == seen and len(seen) == 10
    avg, expected = 0.0, []
    for i, loss in enumerate(result.losses):
        avg = 0.5 * avg + 0.5 * loss
        expected.append(avg / (1 - 0.5 ** (i + 1)))
    np.testing.assert_allclose(result.smoothed_losses, expected, rtol=1e-12)
    assert result.smoothed_losses[0] == result.losses[0]


def test_zero_smoothing_keeps_the_raw_losses():
    result = range_test(bowl, start_lr=1e-4, end_lr=1e-2, num_steps=7, smoothing=0.0)
    assert result.smoothed_losses == result.losses


def test_engine_stops_when_the_loss_diverges():
    result = range_test(bowl, start_lr=1e-3, end_lr=1e3, num_steps=61, smoothing=0.0)
    assert result.stop_reason == "diverged"
    assert result.smoothed_losses[-1] > 4 * min(result.smoothed_losses)
    assert all(v <= 4 * min(result.smoothed_losses) for v in result.smoothed_losses[:-1])
    assert len(result.lrs) < 61


def test_engine_stops_at_the_first_non_finite_loss():
    calls = []

    def step(lr: float) -> float:
        calls.append(lr)
        return math.nan if len(calls) == 6 else 1.0

    result = range_test(step, num_steps=50)
    assert result.stop_reason == "non-finite"
    assert len(calls) == 6 and math.isnan(result.losses[-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_lr": 0.0}, "start_lr: must be > 0"),
        ({"start_lr": -1e-3}, "start_lr: must be > 0"),
        ({"end_lr": 1e-8}, "end_lr: must be greater than start_lr"),
        ({"end_lr": math.inf}, "end_lr: must be finite"),
        ({"start_lr": math.nan}, "start_lr: must be finite"),
        ({"num_steps": 1}, "num_steps: must be >= 2"),
        ({"mode": "log"}, "mode: must be one of exp, linear, got 'log'"),
        ({"smoothing": 1.0}, r"smoothing: must be in \[0, 1\)"),
        ({"smoothing": -0.1}, r"smoothing: must be in \[0, 1\)"),
        ({"diverge_factor": 1.0}, "diverge_factor: must be a finite number > 1"),
        ({"diverge_factor": math.inf}, "diverge_factor: must be a finite number > 1"),
        ({"diverge_factor": math.nan}, "diverge_factor: must be a finite number > 1"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        range_test(bowl, **kwargs)


def test_non_integer_steps_are_a_type_error():
    with pytest.raises(TypeError, match="num_steps: must be an integer"):
        range_test(bowl, num_steps=10.5)  # type: ignore[arg-type]


def test_json_round_trip_keeps_everything_including_nan(tmp_path):
    losses = iter([3.0, 2.0, 1.5, 1.0, 0.9, math.nan])
    result = range_test(lambda lr: next(losses), start_lr=1e-3, end_lr=1.0, num_steps=6)
    text = result.to_json()
    json.loads(text)  # strict JSON: NaN is written as null
    assert "NaN" not in text
    again = RangeTestResult.from_json(text)
    assert again.lrs == result.lrs
    assert again.losses[:-1] == result.losses[:-1] and math.isnan(again.losses[-1])
    assert again.stop_reason == "non-finite"
    assert again.settings == result.settings
    path = tmp_path / "result.json"
    result.to_json(path)
    assert RangeTestResult.from_json(path).lrs == result.lrs


def test_to_json_never_overwrites_silently(tmp_path):
    result = range_test(bowl, start_lr=1e-4, end_lr=1e-2, num_steps=5)
    path = tmp_path / "kept.json"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.to_json(path)
    assert path.read_text() == "precious"
    result.to_json(path, overwrite=True)
    assert RangeTestResult.from_json(path).lrs == result.lrs


def test_from_dict_names_a_missing_field():
    with pytest.raises(ValueError, match="missing field 'lrs'"):
        RangeTestResult.from_dict({"losses": []})


def test_result_suggestions_and_bounds_come_from_the_smoothed_curve():
    result = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=101, smoothing=0.0)
    assert result.suggest("minimum").lr == pytest.approx(1e-3, rel=1e-9)
    assert result.suggestion == result.suggest("centred").lr
    base_lr, max_lr = result.clr_bounds()
    assert 1e-5 <= base_lr < max_lr <= 1e-2
    assert set(result.suggestions()) == {
        "default",
        "steepest",
        "valley",
        "minimum",
        "slide",
        "centred",
    }


def test_plot_marks_every_suggestion(tmp_path):
    result = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=101, smoothing=0.0)
    path = tmp_path / "curve.png"
    ax = result.plot(path)
    assert path.stat().st_size > 10_000
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("minimum: 1.00e-03") for label in labels)
    assert any(label.startswith("valley") for label in labels)
    assert any(label.startswith("steepest") for label in labels)


def test_suggestion_interval_brackets_the_suggestion():
    result = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=101, smoothing=0.0)
    low, high = result.suggestion_interval
    assert low < result.suggestion < high


def slow_learner(rate: float = 3e-4, diverges_above: float = 0.3):
    """A model that learns ``rate`` per step at lr >= 1e-2 (proportionally less below) and
    blows up above ``diverges_above``: a sparse sweep crosses its useful range too fast to
    see the loss fall."""
    state = {"progress": 0.0, "resets": 0}

    def step(lr: float) -> float:
        if lr > diverges_above:
            return math.inf
        state["progress"] += rate * min(lr / 1e-2, 1.0)
        return 1.0 - state["progress"]

    def reset() -> None:
        state["progress"] = 0.0
        state["resets"] += 1

    return step, reset, state


def test_a_curve_that_needs_more_steps_gets_them():
    step, reset, state = slow_learner()
    once = range_test(step, smoothing=0.0)  # no reset: one sweep, as before
    with pytest.raises(SuggestionError, match="never fell by 1%"):
        once.suggest("centred")
    assert once.suggest().method == "default (fallback)"  # it blew up: FALLBACK_DECADES below
    assert once.suggest().lr == pytest.approx(once.lrs[-1] / 10**FALLBACK_DECADES)
    step, reset, state = slow_learner()
    result = range_test(step, smoothing=0.0, reset=reset)
    assert state["resets"] == 1 and len(result.sweeps) == 2
    first, second = result.sweeps
    assert first["stop_reason"] == "non-finite" and "never fell by 1%" in first["unreadable"]
    # the retry: twice the steps over the four decades below where the first sweep stopped
    stopped = once.lrs[-1]
    assert second["start_lr"] == pytest.approx(stopped / 1e4)
    assert second["end_lr"] == pytest.approx(stopped)
    assert second["num_steps"] == 2 * 100 and "unreadable" not in second
    assert result.lrs[0] == pytest.approx(stopped / 1e4) and len(result.lrs) == second["steps"]
    assert result.steps_run == first["steps"] + second["steps"]
    assert 1e-2 < result.suggestion < 0.3
    assert result.settings["num_steps"] == 100  # what was asked for stays recorded


def test_a_model_that_cannot_learn_is_refused_after_every_sweep_with_the_reason():
    resets = []
    result = range_test(lambda lr: 1.0, reset=lambda: resets.append(1))
    assert len(resets) == 2 and len(result.sweeps) == 3  # MAX_SWEEPS
    assert [s["num_steps"] for s in result.sweeps] == [100, 200, 200]
    # each retry: fewer decades below where the sweep before stopped (4, then 2)
    assert [s["start_lr"] for s in result.sweeps] == pytest.approx([1e-7, 1e-3, 1e-1])
    assert {s["end_lr"] for s in result.sweeps} == {10.0}
    assert result.steps_run == 500  # the bound: num_steps · (1 + 2 · RETRY_FACTOR)
    with pytest.raises(SuggestionError, match=r"never fell by 1%.*in all 3 sweeps, the last"):
        result.suggest()


def test_a_curve_that_never_falls_but_blows_up_falls_back_below_the_blow_up():
    def step(lr: float) -> float:
        return 1.0 if lr < 0.5 else math.inf

    result = range_test(step, reset=lambda: None)
    assert len(result.sweeps) == 3 and result.blowup_lr == pytest.approx(0.5, rel=0.2)
    suggestion = result.suggest()
    assert suggestion.method == "default (fallback)"
    assert suggestion.lr == pytest.approx(result.blowup_lr / 10**FALLBACK_DECADES)
    assert result.suggestion_interval is None
    with pytest.raises(SuggestionError, match="in all 3 sweeps"):
        result.suggest("valley")
    from lrkit.probe import probe_candidates

    assert probe_candidates(result) == pytest.approx([suggestion.lr * 4.5, suggestion.lr])


def test_max_steps_bounds_every_sweep_together():
    resets = []
    result = range_test(lambda lr: 1.0, reset=lambda: resets.append(1), max_steps=160)
    assert [s["steps"] for s in result.sweeps] == [100, 60]  # the retry gets what is left
    result = range_test(lambda lr: 1.0, reset=lambda: resets.append(1), max_steps=110)
    assert len(result.sweeps) == 1  # 10 steps left: too few for a retry
    with pytest.raises(ValueError, match="max_steps: must be >= num_steps"):
        range_test(lambda lr: 1.0, max_steps=50)


def test_a_readable_curve_is_swept_once_and_old_results_read_as_one_sweep():
    resets = []
    result = range_test(lambda lr: 1 + (math.log10(lr) + 2) ** 2, reset=lambda: resets.append(1))
    assert not resets and len(result.sweeps) == 1 and result.steps_run == 100
    data = result.to_dict()
    del data["settings"]["sweeps"]
    old = RangeTestResult.from_dict(data)
    assert old.sweeps == [
        {
            "start_lr": 1e-7,
            "end_lr": 10.0,
            "num_steps": 100,
            "steps": 100,
            "stop_reason": "completed",
        }
    ]


# --- the push engine ------------------------------------------------------------------------


def test_engine_driven_by_hand_gives_the_curve_range_test_gives():
    def loss_at(lr: float) -> float:
        return 2.0 - 0.1 * math.log10(lr) if lr < 1e-2 else 2.0 + 100 * lr

    engine = RangeTest(start_lr=1e-6, end_lr=1.0, num_steps=40)
    events = []
    while not engine.done:
        events.append(engine.tell(loss_at(engine.lr)))
    pushed = engine.result()
    pulled = range_test(loss_at, start_lr=1e-6, end_lr=1.0, num_steps=40)
    assert pushed.lrs == pulled.lrs and pushed.losses == pulled.losses
    assert pushed.stop_reason == pulled.stop_reason == "diverged"
    assert events[-1] == "done" and set(events[:-1]) == {"step"}


def test_engine_asks_for_a_restart_before_each_retry_sweep():
    engine = RangeTest(start_lr=1e-6, end_lr=1.0, num_steps=20)
    events = []
    while not engine.done:
        events.append(engine.tell(1.0))  # a model that cannot learn
    assert events.count("restart") == 2 and events[-1] == "done"
    assert [s["steps"] for s in engine.result().sweeps] == [20, 40, 40]
    with pytest.raises(RuntimeError, match="finished"):
        engine.tell(1.0)


def test_result_asked_for_early_ends_the_sweep_as_stopped():
    engine = RangeTest(start_lr=1e-5, end_lr=1.0, num_steps=50)
    for _ in range(7):
        engine.tell(1.0)
    result = engine.result()
    assert len(result.lrs) == 7 and result.stop_reason == "stopped"
    assert engine.done and result.sweeps[0]["steps"] == 7


def test_stopping_before_a_retry_takes_a_step_keeps_the_last_curve():
    engine = RangeTest(start_lr=1e-6, end_lr=1.0, num_steps=20)
    while engine.tell(1.0) != "restart":
        pass
    result = engine.result()
    assert len(result.lrs) == 20 and result.stop_reason == "completed"
    assert len(result.sweeps) == 1 and "unreadable" not in result.sweeps[0]


def test_a_fall_within_the_noise_is_swept_again():
    rng = np.random.default_rng(0)

    def noisy(lr: float) -> float:  # a 3 % dip in 5 % noise: the 1 % rule reads it
        return 1.0 + rng.normal(0.0, 0.05) - (0.03 if 1e-3 < lr < 1e-1 else 0.0)

    once = range_test(noisy, start_lr=1e-6, end_lr=1.0, num_steps=60)
    assert once.suggest().method == "default (centred)"  # readable by the rule alone ...
    assert rules_z(once) < 10  # ... but its fall is within its noise
    again = range_test(noisy, start_lr=1e-6, end_lr=1.0, num_steps=60, reset=lambda: None)
    assert len(again.sweeps) > 1 and "noise" in again.sweeps[0]["unreadable"]
    clean = range_test(lambda lr: 1 + (math.log10(lr) + 2) ** 2, reset=lambda: None)
    assert len(clean.sweeps) == 1 and rules_z(clean) > 10


def rules_z(result: RangeTestResult) -> float:
    from lrkit.suggest import fall_to_noise

    return fall_to_noise(result.lrs, result.losses)


def test_the_json_holds_every_rules_answer_beside_the_curve():
    result = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=101, smoothing=0.0)
    data = json.loads(result.to_json())
    assert data["suggestions"]["default"] == pytest.approx(result.suggestion)
    assert data["suggestions"]["valley"] == pytest.approx(result.suggest("valley").lr)
    assert RangeTestResult.from_dict(data).suggestion == pytest.approx(result.suggestion)
    flat = range_test(lambda lr: 1.0, num_steps=20)
    assert flat.to_dict()["suggestions"]["default"] is None


def test_an_unreadable_curve_is_not_read_for_its_noise_but_placed_below_where_it_rose():
    # The loss wanders within its noise (a dip at 0.3 that is only noise), then rises from
    # 0.5 on without ever blowing up: the fallback stands FALLBACK_DECADES below the rise.
    rng = np.random.default_rng(0)

    def step(lr: float) -> float:
        return (
            1.0
            + 0.02 * rng.standard_normal()
            - (0.01 if 0.2 < lr < 0.4 else 0.0)
            + (2.0 * math.log10(lr / 0.5) if lr > 0.5 else 0.0)
        )

    result = range_test(step, start_lr=1e-3, end_lr=10.0, num_steps=100, diverge_factor=100)
    assert result.stop_reason == "completed" and result.blowup_lr is None
    edge = result.edge_lr
    assert edge is not None and 0.5 < edge < 1.0  # +10 % above the start: lr ≈ 0.56
    found = result.suggest()
    assert found.method == "default (fallback)"
    assert found.lr == pytest.approx(edge / 10**FALLBACK_DECADES)
    assert result.suggest("centred").lr != found.lr  # the rule alone would read the noise


def test_a_readable_curve_keeps_its_rule_whatever_its_edge():
    def step(lr: float) -> float:  # falls by 0.9 in a clean valley, then rises
        return 1.0 - 0.9 * math.exp(-(math.log10(lr / 1e-2) ** 2))

    result = range_test(step, start_lr=1e-5, end_lr=10.0, num_steps=100, smoothing=0.0)
    assert result.edge_lr is not None
    assert result.suggest().method == "default (centred)"


def test_settings_object_and_keywords_give_the_same_curve():
    settings = RangeTestSettings(start_lr=1e-5, end_lr=1.0, num_steps=40, smoothing=0.9)
    by_object = range_test(bowl, settings=settings)
    by_keywords = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=40, smoothing=0.9)
    assert by_object.lrs == by_keywords.lrs
    assert by_object.smoothed_losses == by_keywords.smoothed_losses
    assert by_object.settings == by_keywords.settings
    assert list(by_object.settings) == [*RECORDED, "sweeps"]


def test_a_keyword_replaces_one_field_of_the_settings():
    settings = RangeTestSettings(start_lr=1e-5, end_lr=1.0, num_steps=40)
    engine = RangeTest(settings, num_steps=30, mode="linear")
    assert engine.settings == RangeTestSettings(
        start_lr=1e-5, end_lr=1.0, num_steps=30, mode="linear"
    )
    assert settings.num_steps == 40  # frozen: the object given is untouched
    result = range_test(bowl, settings=settings, end_lr=0.5)
    assert result.settings["end_lr"] == 0.5 and result.settings["num_steps"] == 40


def test_one_set_of_defaults():
    defaults = RangeTestSettings()
    assert RangeTest().settings == defaults
    result = range_test(bowl)
    assert {k: result.settings[k] for k in RECORDED} == defaults.record()
    assert defaults.num_steps == 100 and defaults.start_lr == 1e-7 and defaults.end_lr == 10.0


def test_settings_round_trip_through_a_dict():
    settings = RangeTestSettings(num_steps=50, mode="linear", retry=False, max_steps=80)
    data = json.loads(json.dumps(settings.to_dict()))
    assert RangeTestSettings.from_dict(data) == settings
    assert RangeTestSettings.from_dict({"num_steps": 50}) == RangeTestSettings(num_steps=50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.num_steps = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"num_steps": 1}, ValueError, "num_steps: must be >= 2"),
        ({"mode": "log"}, ValueError, "mode: must be one of exp, linear"),
        ({"end_lr": 1e-8}, ValueError, "end_lr: must be greater than start_lr"),
        ({"smoothing": 1.0}, ValueError, r"smoothing: must be in \[0, 1\)"),
        ({"diverge_factor": 1.0}, ValueError, "diverge_factor: must be a finite number > 1"),
        ({"retry": "yes"}, TypeError, "retry: must be True or False"),
        ({"max_steps": 50}, ValueError, r"max_steps: must be >= num_steps \(100\)"),
        ({"max_steps": 0}, ValueError, "max_steps: must be >= 1"),
    ],
)
def test_settings_name_what_is_not_allowed(changes, error, message):
    with pytest.raises(error, match=message):
        RangeTestSettings(**changes)
    with pytest.raises(error, match=message):
        RangeTest(**changes)


def test_a_keyword_that_is_no_setting_is_refused_naming_it():
    with pytest.raises(TypeError, match="'num_step'; the range-test settings are start_lr"):
        RangeTest(num_step=30)
    with pytest.raises(TypeError, match="unexpected keyword argument 'start'"):
        range_test(bowl, start=1e-5)


@pytest.mark.parametrize("name", ["start_lr", "num_steps", "smoothing", "diverge_factor"])
def test_a_setting_made_none_is_refused(name):
    with pytest.raises(TypeError, match=f"{name}: must be a"):
        RangeTestSettings(**{name: None})


def test_from_dict_and_settings_refuse_what_they_cannot_read():
    with pytest.raises(ValueError, match="settings: unknown range-test setting 'steps'; allowed"):
        RangeTestSettings.from_dict({"steps": 10})
    with pytest.raises(TypeError, match="settings: must be a RangeTestSettings or None, got dict"):
        range_test(bowl, settings={"num_steps": 10})  # type: ignore[arg-type]


def test_result_suggest_takes_a_rule_of_your_own():
    result = range_test(bowl, start_lr=1e-5, end_lr=1.0, num_steps=60)
    received = []

    def lowest_raw(lrs, losses):
        received.append((list(lrs), list(losses)))
        return float(lrs[np.argmin(losses)])

    found = result.suggest(lowest_raw)
    assert received == [(result.lrs, result.losses)]  # the raw curve, not the EMA
    assert found.method == "lowest_raw" and found.lr == pytest.approx(1e-2, rel=0.2)
    assert result.for_batch_size(64, batch_size=32, method=lowest_raw) == 2 * found.lr
    with pytest.raises(TypeError, match="rule: <lambda> returned list"):
        result.suggest(lambda lrs, losses: [1e-3])
