"""Strategies, their files, their schedule specs and the presets (no training here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lrkit import schedules
from lrkit.cli import main
from lrkit.compare import Strategy, load_strategies, merge, names, preset
from lrkit.compare.resolve import Context, resolve_schedule

CTX = Context(epochs=6, steps_per_epoch=23, found=3e-3, low=1e-3, high=2e-2)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_YAML = """
strategies:
  - name: sgd step decay
    optimizer: momentum
    lr: 0.1
    schedule: {name: step_decay, decay_steps: 2, gamma: 0.5}
  - name: clr
    optimizer: adam
    schedule: {name: triangular, unit: step, floor: found.low, lr: found.high,
               up_steps: 1.5 epochs}
    cycle_momentum: [0.85, 0.95]
  - name: adamw wd
    optimizer: adamw
    lr: found
    optimizer_params: {weight_decay: 0.01}
"""


def test_yaml_file_loads_and_round_trips_through_json(tmp_path: Path) -> None:
    loaded = load_strategies(write(tmp_path, "s.yaml", GOOD_YAML))
    assert [s.name for s in loaded] == ["sgd step decay", "clr", "adamw wd"]
    assert loaded[1].cycle_momentum == (0.85, 0.95)
    assert [s.needs_range_test for s in loaded] == [False, True, True]
    as_json = write(tmp_path, "s.json", json.dumps([s.to_dict() for s in loaded]))
    assert load_strategies(as_json) == loaded


def test_resolve_replaces_words_with_numbers() -> None:
    clr = Strategy(
        "clr",
        "adam",
        schedule={
            "name": "triangular",
            "unit": "step",
            "floor": "found.low",
            "lr": "found.high",
            "up_steps": "1.5 epochs",
        },
    )
    resolved = clr.resolve(CTX)
    built = schedules.from_dict(resolved["schedule"]["schedule"])
    # 1.5 epochs of 23 batches = round(34.5) = 34 steps (banker's rounding of .5 -> even)
    assert built == schedules.triangular(floor=1e-3, lr=2e-2, up_steps=34)
    assert resolved["lr"] == pytest.approx(1e-3)  # the schedule's value at step 0


def test_missing_lr_parameter_is_the_strategy_lr_and_budget_is_the_run_length() -> None:
    spec = {"name": "cosine", "total_steps": "budget"}
    by_epoch = resolve_schedule(spec, CTX, lr="found", field="s")
    assert by_epoch == {
        "unit": "epoch",
        "schedule": {"name": "cosine", "params": {"total_steps": 6, "lr": 3e-3}},
    }
    by_step = resolve_schedule({**spec, "unit": "step"}, CTX, lr=0.1, field="s")
    assert by_step["schedule"]["params"] == {"total_steps": 6 * 23, "lr": 0.1}


def test_nested_specs_are_resolved_too() -> None:
    spec = {
        "name": "warmup",
        "unit": "step",
        "warmup_steps": "1 epoch",
        "schedule": {"name": "cosine", "lr": "found", "total_steps": "budget"},
    }
    resolved = resolve_schedule(spec, CTX, lr=None, field="s")
    built = schedules.from_dict(resolved["schedule"])
    assert built == schedules.warmup(schedules.cosine(lr=3e-3, total_steps=138), warmup_steps=23)


def test_found_without_a_range_test_value_names_the_field_and_the_reason() -> None:
    ctx = Context(epochs=5, steps_per_epoch=10, reason="the loss never fell")
    strategy = Strategy("x", "adam", "found")
    with pytest.raises(
        ValueError, match=r"strategy 'x'.lr: 'found' needs a range test.*never fell"
    ):
        strategy.resolve(ctx)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a", "optimizer": "adam", "lrr": 0.1}, r"strategies\[0\]\.lrr: unknown field"),
        ({"optimizer": "adam", "lr": 0.1}, r"strategies\[0\]\.name: missing"),
        ({"name": "a", "optimizer": "adamm", "lr": 0.1}, r"strategies\[0\]\.optimizer: unknown"),
        ({"name": "a", "optimizer": "adam", "lr": -1}, r"strategies\[0\]\.lr: must be a finite"),
        ({"name": "a", "optimizer": "adam", "lr": "fonud"}, r"strategies\[0\]\.lr: must be a num"),
        ({"name": "a", "optimizer": "adam"}, r"strategies\[0\]\.lr: missing"),
        (
            {
                "name": "a",
                "lr": 0.1,
                "schedule": {"name": "step_decay", "decay_steps": 2, "gamma": 1.5},
            },
            r"strategies\[0\]\.schedule\.gamma: must be in \(0, 1\), got 1\.5",
        ),
        (
            {"name": "a", "lr": 0.1, "schedule": {"name": "stepdecay"}},
            r"strategies\[0\]\.schedule\.name: unknown schedule 'stepdecay'",
        ),
        (
            {"name": "a", "lr": 0.1, "schedule": {"name": "cosine", "unit": "batch"}},
            r"strategies\[0\]\.schedule\.unit: must be one of epoch, step",
        ),
        (
            {
                "name": "a",
                "lr": 0.1,
                "schedule": {"name": "cosine", "total_steps": "budget", "x": 1},
            },
            r"strategies\[0\]\.schedule\.cosine: unknown parameter",
        ),
        (
            {"name": "a", "lr": 0.1, "optimizer_params": {"wd": 1}},
            r"strategies\[0\]\.optimizer_params: .*wd",
        ),
        (
            {
                "name": "a",
                "lr": 0.1,
                "schedule": {"name": "cosine", "total_steps": 9},
                "cycle_momentum": [0.85, 0.95],
            },
            r"strategies\[0\]\.cycle_momentum: schedule 'cosine' has no mirrored momentum",
        ),
        (
            {
                "name": "a",
                "optimizer": "adagrad",
                "schedule": {"name": "one_cycle", "lr": 0.1, "total_steps": 9},
                "cycle_momentum": [0.85, 0.95],
            },
            r"strategies\[0\]\.cycle_momentum: optimizer 'adagrad' has no momentum",
        ),
        (
            {
                "name": "a",
                "schedule": {"name": "one_cycle", "lr": 0.1, "total_steps": 9},
                "cycle_momentum": [0.95, 0.85],
            },
            r"strategies\[0\]\.cycle_momentum: must satisfy 0 < low <= high < 1",
        ),
    ],
)
def test_bad_strategy_files_name_the_field(tmp_path: Path, entry: dict, message: str) -> None:
    path = write(tmp_path, "bad.json", json.dumps({"strategies": [entry]}))
    with pytest.raises((ValueError, TypeError), match=message):
        load_strategies(path)


def test_duplicate_names_and_bad_top_level_are_refused(tmp_path: Path) -> None:
    twice = [{"name": "a", "lr": 0.1}, {"name": "a", "lr": 0.2}]
    with pytest.raises(ValueError, match=r"strategies\[1\]\.name: 'a' is used twice"):
        load_strategies(write(tmp_path, "twice.json", json.dumps(twice)))
    with pytest.raises(ValueError, match="non-empty list"):
        load_strategies(write(tmp_path, "empty.yaml", "strategies: []\n"))
    with pytest.raises(ValueError, match="strategiez: unknown top-level field"):
        load_strategies(write(tmp_path, "top.yaml", "strategiez: []\n"))
    with pytest.raises(ValueError, match=r"must end in \.yaml, \.yml or \.json"):
        load_strategies(write(tmp_path, "s.txt", "[]"))


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ValueError, match="not valid YAML"):
        load_strategies(write(tmp_path, "evil.yaml", evil))
    assert not marker.exists()
    with pytest.raises(ValueError, match="not valid YAML"):
        load_strategies(write(tmp_path, "broken.yaml", "strategies: [\n"))


def test_cli_reports_a_bad_strategy_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.yaml", "- {name: a, optimizer: adam, lr: 0.1, momentum: 0.9}\n")
    code = main(["compare", "--strategies", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "strategies[0].momentum: unknown field" in err


def test_cli_needs_a_preset_or_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--out", str(tmp_path)]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["compare", "--preset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


# presets --------------------------------------------------------------------------------------


def test_fixed_lrs_are_the_seeds_learning_rates() -> None:
    chosen = preset("fixed-lrs", epochs=5, steps_per_epoch=23)
    assert [(s.optimizer, s.lr, s.schedule) for s in chosen] == [
        ("adam", lr, None) for lr in (0.5, 0.01, 0.001, 1e-5, 1e-7)
    ]


@pytest.mark.parametrize("epochs", [3, 10, 30])
def test_decays_start_at_0_1_and_end_near_a_tenth(epochs: int) -> None:
    ctx = Context(epochs=epochs, steps_per_epoch=23)
    resolved_by_name = {
        s.name: s.resolve(ctx) for s in preset("decays", epochs=epochs, steps_per_epoch=23)
    }
    assert set(resolved_by_name) == {
        "sgd constant",
        "sgd linear decay",
        "sgd step decay",
        "sgd time-based decay",
        "sgd exponential decay",
    }
    for name, resolved in resolved_by_name.items():
        assert resolved["optimizer"] == "momentum"
        assert resolved["lr"] == pytest.approx(0.1)
        if resolved["schedule"] is None:
            continue
        assert resolved["schedule"]["unit"] == "epoch"
        schedule = schedules.from_dict(resolved["schedule"]["schedule"])
        assert schedule(0) == pytest.approx(0.1)
        if name in ("sgd time-based decay", "sgd exponential decay"):
            assert schedule(epochs) == pytest.approx(0.01, rel=1e-4)
        if name == "sgd linear decay":
            assert schedule(epochs) == 0.0
        if name == "sgd step decay":  # halved every third of the run
            assert schedule(max(1, epochs // 3)) == pytest.approx(0.05)


def test_cyclical_preset_runs_two_cycles_between_the_found_bounds() -> None:
    epochs, steps = 8, 23
    ctx = Context(epochs=epochs, steps_per_epoch=steps, found=3e-3, low=1e-3, high=5e-2)
    for strategy in preset("cyclical", epochs=epochs, steps_per_epoch=steps):
        resolved = strategy.resolve(ctx)
        if resolved["schedule"] is None:
            assert resolved["lr"] == 3e-3
            continue
        schedule = schedules.from_dict(resolved["schedule"]["schedule"])
        # exp_range shrinks the swing to a tenth over the run: gamma ** 184 = 0.1
        shrink = 0.1 ** (46 / 184) if strategy.name == "clr exp_range" else 1.0
        assert schedule(0) == pytest.approx(1e-3)
        assert schedule(46) == pytest.approx(1e-3 + (5e-2 - 1e-3) * shrink)  # top, 1/4 in
        assert schedule(92) == pytest.approx(1e-3)


def test_all_is_every_preset_once() -> None:
    everything = preset("all", epochs=6, steps_per_epoch=23)
    listed = [s.name for s in everything]
    assert len(listed) == len(set(listed))
    for name in names()[:-1]:
        assert {s.name for s in preset(name, epochs=6, steps_per_epoch=23)} <= set(listed)
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        preset("fast", epochs=6, steps_per_epoch=23)


def test_merge_refuses_two_definitions_under_one_name() -> None:
    a = Strategy("x", "adam", 0.1)
    assert merge([a], [Strategy("x", "adam", 0.1)]) == [a]
    with pytest.raises(ValueError, match="two different strategies are named 'x'"):
        merge([a], [Strategy("x", "adam", 0.2)])


def test_adaptive_preset_uses_the_usual_default_rates() -> None:
    chosen = {s.name: s for s in preset("adaptive", epochs=6, steps_per_epoch=23)}
    assert chosen["adagrad 0.01"].lr == 0.01
    assert chosen["adadelta 1.0"].lr == 1.0
    assert chosen["rmsprop 0.001"].lr == 0.001
    assert chosen["adam 0.001"].lr == 0.001
    assert "sgd step decay" in chosen
    assert all(math.isfinite(float(s.lr)) for s in chosen.values() if s.lr is not None)
