"""The doctor's thresholds: every number a rule compares against, documented and checked.

Defaults suit per-step training losses (one row per optimizer step); :func:`for_unit` gives
the per-epoch defaults used for logs with one row per epoch (such as Keras' ``CSVLogger``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _spec(default: float | int, rule: str, allowed: str, check: Callable[[Any], bool]) -> Any:
    return field(default=default, metadata={"doc": rule, "allowed": allowed, "check": check})


@dataclass(frozen=True)
class Thresholds:
    """Numbers the rules compare against; each field's metadata says what it means."""

    smoothing: float = _spec(
        0.98,
        "EMA factor β of the smoothed loss s_t = β s_{t-1} + (1-β) loss_t (bias-corrected)",
        "in [0, 1)",
        lambda v: 0 <= v < 1,
    )
    warmup: int = _spec(
        20, "steps before divergence and gradient checks start", ">= 0", lambda v: v >= 0
    )
    diverge_give_back: float = _spec(
        0.5,
        "divergence: the smoothed loss has given back this fraction of its fall, "
        "s_t > s* + diverge_give_back x (s_0 - s*)",
        "in (0, 1]",
        lambda v: 0 < v <= 1,
    )
    diverge_critical: float = _spec(
        0.9,
        "divergence is critical (the run has lost what it learned) once the smoothed loss has "
        "given back diverge_give_back of a fall beyond diverge_noise x σ / sqrt(warmup) (σ of "
        "one loss at the start) and the median m_t of the last "
        "diverge_fast_steps losses (s_t when that test is off) this fraction of it, "
        "m_t >= s* + diverge_critical x (s_0 - s*), or once s_t has climbed above s_0; "
        "a warning before",
        "in (0, 1]",
        lambda v: 0 < v <= 1,
    )
    diverge_min_fall: float = _spec(
        0.1,
        "divergence: judged once the fall is real, s_0 - s* >= diverge_min_fall x |s_0|",
        "in [0, 1)",
        lambda v: 0 <= v < 1,
    )
    diverge_noise: float = _spec(
        4.0,
        "divergence: the fall, and the rise above the best, must also exceed this many "
        "standard deviations of the smoothed loss, plus sqrt(2 ln n) for a best chosen from "
        "n effectively independent values (the rise after a new rate: this many alone)",
        ">= 0",
        lambda v: v >= 0,
    )
    diverge_fast_steps: int = _spec(
        16,
        "divergence, fast test: the median m_t of the last diverge_fast_steps losses has "
        "given back diverge_fast_give_back of the fall, m_t > s* + max(diverge_fast_give_back "
        "x (s_0 - s*), (diverge_noise + sqrt(2 ln n)) x σ / sqrt(diverge_fast_steps)), σ as "
        "for the rise above s_0 (0: no fast test)",
        ">= 0",
        lambda v: v >= 0,
    )
    diverge_fast_give_back: float = _spec(
        0.9,
        "divergence, fast test: the fraction of the fall the median must have given back",
        "in (0, 1]",
        lambda v: 0 < v <= 1,
    )
    lr_rise: float = _spec(
        3.0,
        "a rate rise: divergence asks only diverge_raised_give_back of the fall while the rate "
        "is at least lr_rise x every rate before the last diverge_fast_steps losses (a level "
        "the run never used); a warm restart is the rate jumping lr_rise x in one step back "
        "to a level it has used (see restart_settle)",
        "> 1",
        lambda v: v > 1,
    )
    diverge_raised_give_back: float = _spec(
        0.15,
        "divergence after a rate rise: the fraction of the fall the median must have given back",
        "in (0, 1]",
        lambda v: 0 < v <= 1,
    )
    spike_sigma: float = _spec(
        6.0,
        "spike: log-loss (raw loss when any is <= 0) > mean + spike_sigma x std of the "
        "previous spike_window",
        "> 0",
        lambda v: v > 0,
    )
    spike_window: int = _spec(128, "spike: how many previous losses", ">= 2", lambda v: v >= 2)
    spike_min_rise: float = _spec(
        0.05,
        "spike: the jump above the typical loss must also be at least this fraction of the "
        "run's fall so far, s_0 - s* (when it has fallen), so that noise near zero is no spike",
        ">= 0",
        lambda v: v >= 0,
    )
    grad_z: float = _spec(
        2.5,
        "gradient explosion: z-score of log(grad norm) against its EMA mean and variance",
        "> 0",
        lambda v: v > 0,
    )
    grad_ema: float = _spec(
        0.02,
        "gradient explosion: EMA weight of the running mean and variance",
        "in (0, 1)",
        lambda v: 0 < v < 1,
    )
    grad_min_ratio: float = _spec(
        5.0,
        "gradient explosion: the norm must also be at least this many times its typical "
        "(EMA) level",
        ">= 1",
        lambda v: v >= 1,
    )
    grad_settle: int = _spec(
        100,
        "gradient explosion: not judged over the first grad_settle steps, while the "
        "gradient norms of a fresh network settle",
        ">= 0",
        lambda v: v >= 0,
    )
    restart_settle: int = _spec(
        100,
        "spike and gradient explosion: not judged over this many steps after a warm restart "
        "(the rate jumping lr_rise x in one step back to a level it has used), while the "
        "loss and the gradients settle at the higher rate",
        ">= 0",
        lambda v: v >= 0,
    )
    grad_patience: int = _spec(
        2, "gradient explosion: consecutive steps above grad_z", ">= 1", lambda v: v >= 1
    )
    flat_steps: int = _spec(
        200,
        "LR too low / dead start: judged once, over the first flat_steps losses",
        ">= 4",
        lambda v: v >= 4,
    )
    flat_drop: float = _spec(
        0.05,
        "LR too low: loss moved by less than this fraction either way (first vs last quarter)",
        "in (0, 1)",
        lambda v: 0 < v < 1,
    )
    dead_blowup: float = _spec(
        2.0,
        "dead start: some loss of the first flat_steps rose above dead_blowup x |first loss| "
        "and the last quarter fell by less than flat_drop from the first loss",
        "> 1",
        lambda v: v > 1,
    )
    dead_critical: float = _spec(
        10.0,
        "dead start: a blow-up knocked back is critical when some loss rose above "
        "dead_critical x |first loss| (a warning below: one batch far above the first can "
        "look like a smaller one)",
        ">= 1",
        lambda v: v >= 1,
    )
    plateau_patience: int = _spec(
        500, "plateau: steps without improvement", ">= 1", lambda v: v >= 1
    )
    plateau_min_delta: float = _spec(
        0.01,
        "plateau: an improvement is a fall of the smoothed loss by this fraction of its best",
        "in [0, 1)",
        lambda v: 0 <= v < 1,
    )
    osc_window: int = _spec(256, "oscillation: how many recent losses", ">= 3", lambda v: v >= 3)
    osc_blocks: int = _spec(
        8,
        "oscillation: the window is cut into this many blocks whose means are compared",
        ">= 3",
        lambda v: v >= 3,
    )
    osc_turns: int = _spec(
        3, "oscillation: changes of direction between block means", ">= 1", lambda v: v >= 1
    )
    osc_swing: float = _spec(
        0.02,
        "oscillation: a move between blocks counts when larger than 2 standard errors and "
        "than osc_swing x the starting loss",
        ">= 0",
        lambda v: v >= 0,
    )
    osc_validations: int = _spec(
        0,
        "oscillation: how many of the latest validation losses are judged too, as block means "
        "(0: none; a validation loss comes with no noise estimate, so only epoch logs judge "
        "them by default)",
        "0 or >= 3",
        lambda v: v == 0 or v >= 3,
    )
    osc_trend: float = _spec(
        0.05,
        "oscillation: 'no downward trend' means the fitted fall over the window is below "
        "this fraction of the window's mean loss",
        ">= 0",
        lambda v: v >= 0,
    )
    overfit_patience: int = _spec(
        5,
        "overfitting: validation losses are averaged over this many validations, and the "
        "best average must be at least this many validations old",
        ">= 1",
        lambda v: v >= 1,
    )
    overfit_min_rise: float = _spec(
        0.2,
        "overfitting: averaged validation loss above its best by more than this fraction",
        ">= 0",
        lambda v: v >= 0,
    )
    overfit_train_fall: float = _spec(
        0.1,
        "overfitting: the smoothed training loss must have fallen by more than this fraction "
        "since the best validation",
        "in [0, 1)",
        lambda v: 0 <= v < 1,
    )
    cooldown: int = _spec(
        100,
        "a kind already reported is reported again only after its rule has been silent "
        "for this many steps",
        ">= 0",
        lambda v: v >= 0,
    )

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check(spec, getattr(self, spec.name))
        if self.osc_blocks > self.osc_window:
            raise ValueError(
                f"osc_blocks: must be <= osc_window ({self.osc_window}), got {self.osc_blocks}"
            )

    def horizon(self) -> int:
        """How many recent steps the rules look at."""
        return max(
            self.spike_window + 1,
            self.osc_window,
            self.plateau_patience + 1,
            self.diverge_fast_steps,
        )


def _check(spec: dataclasses.Field[Any], value: Any) -> None:
    integer = spec.type in (int, "int")
    kind = "an integer" if integer else "a number"
    allowed = spec.metadata["allowed"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{spec.name}: must be {kind} {allowed}, got {value!r}")
    if integer and not isinstance(value, int):
        raise TypeError(f"{spec.name}: must be {kind} {allowed}, got {value!r}")
    if value != value or not spec.metadata["check"](value):
        raise ValueError(f"{spec.name}: must be {allowed}, got {value!r}")


#: Per-epoch defaults: epoch losses are already averages, windows count epochs.
EPOCH_DEFAULTS: Mapping[str, float | int] = {
    "smoothing": 0.0,
    "warmup": 1,
    "diverge_fast_steps": 0,
    "grad_settle": 1,
    "restart_settle": 1,
    "spike_window": 10,
    "flat_steps": 4,
    "plateau_patience": 10,
    "osc_window": 10,
    "osc_blocks": 10,
    "osc_turns": 4,
    "osc_validations": 10,
    "cooldown": 3,
}


def names() -> list[str]:
    """The names of all thresholds."""
    return [spec.name for spec in dataclasses.fields(Thresholds)]


def describe() -> list[tuple[str, Any, str, str]]:
    """(name, step default, allowed values, meaning) for every threshold."""
    return [
        (spec.name, spec.default, spec.metadata["allowed"], spec.metadata["doc"])
        for spec in dataclasses.fields(Thresholds)
    ]


def for_unit(unit: str = "step", **overrides: Any) -> Thresholds:
    """Thresholds for rows that are optimizer steps or epochs, with ``overrides`` applied.

    Unknown names raise ``TypeError``; values out of range raise ``ValueError``.
    """
    if unit not in ("step", "epoch"):
        raise ValueError(f"unit: must be 'step' or 'epoch', got {unit!r}")
    unknown = sorted(set(overrides) - set(names()))
    if unknown:
        raise TypeError(
            f"thresholds: unknown threshold {unknown[0]!r}; known thresholds are "
            f"{', '.join(names())}"
        )
    values: dict[str, Any] = dict(EPOCH_DEFAULTS) if unit == "epoch" else {}
    values.update(overrides)
    return Thresholds(**values)
