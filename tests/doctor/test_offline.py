"""The offline doctor (``diagnose``, on whole arrays) gives the streaming doctor's findings."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrkit.doctor import Doctor, DoctorWarning, diagnose
from lrkit.doctor.masks import _CHUNK as CHUNK
from lrkit.trainlog import TrainingLog

RUNS = Path(__file__).parents[2] / "benchmarks" / "results" / "doctor_quality_runs.jsonl"
#: small windows and cooldowns, so that short logs reach every rule and report it again
SMALL = {
    "spike_window": 16,
    "osc_window": 48,
    "plateau_patience": 60,
    "flat_steps": 40,
    "cooldown": 10,
    "grad_settle": 30,
    "diverge_fast_give_back": 0.5,
}


def stream(rows: list[dict[str, float]], unit: str, **thresholds: Any) -> list[dict[str, Any]]:
    doctor = Doctor(unit=unit, verbose=False, **thresholds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoctorWarning)
        for row in rows:
            values = {k: v for k, v in row.items() if k not in ("step", "loss")}
            doctor.observe(int(row["step"]), row.get("loss"), **values)
    return [found.to_dict() for found in doctor.findings]


def offline(rows: list[dict[str, float]], unit: str, **thresholds: Any) -> list[dict[str, Any]]:
    log = TrainingLog.from_rows(rows, unit=unit)
    return [found.to_dict() for found in diagnose(log, **thresholds).findings]


def generated(shape: str, seed: int, n: int = 1200) -> list[dict[str, float]]:
    """A log of ``n`` steps: a noisy fall, then what ``shape`` says."""
    rng = np.random.default_rng(seed)
    step = np.arange(n)
    loss = 2.0 * np.exp(-step / (n / 6)) + 0.1
    lr = np.full(n, 1e-3)
    grad = np.exp(rng.normal(0, 0.3, n))
    if shape == "raised":
        lr[n // 2 :] *= 50
        loss[n // 2 :] += 0.01 * (step[n // 2 :] - n // 2)
        grad[n // 2 :] *= 20
    elif shape == "raised_in_part":  # a new rate; the loss gives back 45 % of its fall
        lr[n // 2 :] *= 20
        loss[n // 2 :] += 0.45 * (loss[0] - loss[n // 2])
    elif shape == "warm_restarts":  # cosine cycles back to the first peak, loss bumps after
        cycle = n // 4
        lr = 1e-3 * (0.5 + 0.5 * np.cos(np.pi * (step % cycle) / cycle))
        loss = loss + 0.3 * np.exp(-(step % cycle) / 20.0) * (step >= cycle)
        loss[cycle + 2 :: cycle] *= 10  # a batch far above its range, and gradients too
        grad[cycle + 2 :: cycle] *= 30
        grad[cycle + 3 :: cycle] *= 30
    elif shape == "flat":
        loss = np.full(n, 2.3)
    elif shape == "oscillating":
        loss = loss + 0.5 * ((step // 8) % 2)
    elif shape == "near_zero":
        loss = 0.87 * np.exp(-step / 150) + 1e-4
    elif shape == "negative":
        loss = loss - 3.0
    elif shape == "blown_start":  # a leap at the first steps, then back only to the start
        loss = np.full(n, 2.3)
        loss[1:6] = [5e3, 800.0, 60.0, 9.0, 3.0]
    elif shape == "near_zero_blow_up":  # near zero, then a jump the smoothed loss lags
        loss = 0.87 * np.exp(-step / 100) + 1e-4
        loss[n // 2 : n // 2 + 40] = 1.0
    elif shape == "near_zero_spikes":  # batches far above their tiny neighbours, or not
        loss = 0.87 * np.exp(-step / 100) + 1e-5
        loss[n // 2 :: 97] *= rng.choice([30.0, 3e3, 3e4], size=loss[n // 2 :: 97].size)
    loss = loss * np.exp(rng.normal(0, 0.2, n)) if shape != "negative" else loss
    loss = loss + (rng.normal(0, 0.05, n) if shape == "negative" else 0)
    rows: list[dict[str, float]] = []
    for i in range(n):
        row: dict[str, float] = {"step": i, "loss": float(loss[i])}
        if shape != "no_lr":
            row["lr"] = float(lr[i])
        if shape not in ("no_grad", "no_lr"):
            row["grad_norm"] = float(grad[i])
        if shape == "nan" and i in (300, 301, 700):
            row["loss"] = math.nan if i != 700 else math.inf
        if i % 25 == 24:
            row["val_loss"] = float(loss[i] * (1 + 0.002 * max(i - n / 3, 0)))
            row["val_metric"] = float(rng.uniform())
        rows.append(row)
    if shape == "validation_rows":  # validations on their own rows, between training rows
        rows = [
            part
            for row in rows
            for part in (
                [{k: v for k, v in row.items() if not k.startswith("val_")}]
                + (
                    [{"step": row["step"] + 0.5, "val_loss": row["val_loss"]}]
                    if "val_loss" in row
                    else []
                )
            )
        ]
        rows = [{**r, "step": r["step"] * 2} for r in rows]
    return rows


SHAPES = [
    "healthy",
    "raised",
    "raised_in_part",
    "warm_restarts",
    "flat",
    "oscillating",
    "near_zero",
    "negative",
    "blown_start",
    "near_zero_spikes",
    "near_zero_blow_up",
    "nan",
    "no_grad",
    "no_lr",
    "validation_rows",
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("thresholds", [{}, SMALL], ids=["defaults", "small"])
def test_generated_logs_give_the_same_findings(shape: str, thresholds: dict[str, Any]) -> None:
    messages = []
    for seed in range(3):
        rows = generated(shape, seed)
        expected = stream(rows, "step", **thresholds)
        assert offline(rows, "step", **thresholds) == expected
        messages += [f["message"] for f in expected]
    if shape in ("near_zero_blow_up", "raised_in_part"):  # the fast test is reached
        assert any(m.startswith("the median of the last") for m in messages)
    if shape == "warm_restarts":  # back to the first peak, never a new rate: no divergence,
        # and the jumps just after each restart are expected
        assert not any(m.startswith("the median of the last") for m in messages)
        assert not any(m.startswith(("loss ", "the gradient norm")) for m in messages)
    quiet = ("healthy", "no_grad", "negative", "near_zero", "no_lr", "warm_restarts")
    assert expected or shape in quiet


@pytest.mark.parametrize("shape", ["raised_in_part", "near_zero_blow_up"])
def test_logs_longer_than_a_chunk_give_the_same_findings(shape: str) -> None:
    # the offline rules work through long logs in chunks of rows; the event at n // 2 lands
    # just after a chunk boundary, so the fast test that finds it looks across two chunks
    n = 2 * CHUNK + 10
    rows = generated(shape, 11, n=n)
    expected = stream(rows, "step")
    assert offline(rows, "step") == expected
    first = next(f for f in expected if f["kind"] == "divergence" and f["step"] >= n // 2)
    assert first["step"] < n // 2 + 16
    assert first["message"].startswith("the median of the last 16 losses")


def test_epoch_logs_give_the_same_findings() -> None:
    rng = np.random.default_rng(5)
    for shape in ("healthy", "flat", "oscillating"):
        rows = generated(shape, 7, n=60)
        for row in rows:
            row["val_loss"] = float(row["loss"] * rng.uniform(0.9, 1.6))
        assert offline(rows, "epoch") == stream(rows, "epoch")


def _labelled_sample() -> list[dict[str, Any]]:
    with RUNS.open() as handle:
        runs = [json.loads(line) for line in handle]
    return runs[::23]  # 23 is prime to the 10 labels of a task: every label is sampled


@pytest.mark.parametrize("thresholds", [{}, SMALL], ids=["defaults", "small"])
def test_labelled_training_runs_give_the_same_findings(thresholds: dict[str, Any]) -> None:
    found = 0
    for run in _labelled_sample():
        rows = [{k: float(v) for k, v in row.items()} for row in run["rows"]]
        expected = stream(rows, "step", **thresholds)
        assert offline(rows, "step", **thresholds) == expected, run["key"]
        found += len(expected)
    assert found > 20  # the sample reaches the rules


def test_the_sample_covers_every_kind_of_run() -> None:
    assert {run["label"] for run in _labelled_sample()} >= {"healthy", "raised", "nan", "too_low"}
