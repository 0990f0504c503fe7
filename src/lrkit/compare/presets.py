"""Ready-made comparisons that reproduce the seeds' experiments.

- ``fixed-lrs``: Adam at fixed learning rates 0.5, 0.01, 0.001, 1e-5 and 1e-7 (too large
  overshoots to chance accuracy, too small barely moves).
- ``decays``: SGD with momentum from 0.1: constant, then linear, step, time-based and
  exponential decay, each stepped once per epoch and (except linear, which reaches 0)
  ending near a tenth of the start.
- ``adaptive``: Adagrad, Adadelta, RMSprop, Adam and AdamW at their usual defaults (plus
  Prodigy and Schedule-Free AdamW when installed) against SGD with step decay.
- ``cyclical``: Smith's triangular, triangular2 and exp_range policies for SGD with momentum
  between the range test's bounds, two cycles over the run, against the range test's fixed
  suggestion.
- ``one-cycle``: the one-cycle policy for SGD with momentum (momentum mirrored), peaking at the
  range test's upper bound, against fixed learning rates.
- ``all``: every strategy above, once.

Step counts follow the budget, so a preset keeps its shape for any ``epochs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from lrkit.compare.strategy import Strategy

SGD_LR = 0.1


def fixed_lrs(epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """Adam at the seed's five fixed learning rates."""
    return [Strategy(f"adam {lr:g}", "adam", lr) for lr in (0.5, 0.01, 0.001, 1e-5, 1e-7)]


def _sgd_step_decay(epochs: int) -> Strategy:
    """SGD (momentum 0.9) from 0.1, halved every third of the run."""
    return Strategy(
        "sgd step decay",
        "momentum",
        SGD_LR,
        {"name": "step_decay", "decay_steps": max(1, epochs // 3), "gamma": 0.5},
    )


def decays(epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """SGD (momentum 0.9) from 0.1: constant, linear, step, time-based, exponential decay."""
    return [
        Strategy("sgd constant", "momentum", SGD_LR),
        Strategy(
            "sgd linear decay",
            "momentum",
            schedule={"name": "linear", "start": SGD_LR, "end": 0.0, "total_steps": "budget"},
        ),
        _sgd_step_decay(epochs),
        Strategy(
            "sgd time-based decay",
            "momentum",
            SGD_LR,
            {"name": "inverse_time", "rate": round(9.0 / epochs, 6)},
        ),
        Strategy(
            "sgd exponential decay",
            "momentum",
            SGD_LR,
            {"name": "exponential", "rate": round(math.log(10.0) / epochs, 6)},
        ),
    ]


def adaptive(epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """Adaptive optimizers at their usual default learning rates, and SGD with step decay."""
    from lrkit.torch import optimizers

    chosen = [
        Strategy("adagrad 0.01", "adagrad", 0.01),
        Strategy("adadelta 1.0", "adadelta", 1.0),
        Strategy("rmsprop 0.001", "rmsprop", 0.001),
        Strategy("adam 0.001", "adam", 0.001),
        Strategy("adamw 0.001", "adamw", 0.001),
    ]
    if optimizers.installed("prodigy"):
        chosen.append(Strategy("prodigy 1.0", "prodigy", 1.0))
    if optimizers.installed("schedulefree_adamw"):
        chosen.append(Strategy("schedule-free adamw 0.0025", "schedulefree_adamw", 0.0025))
    return [*chosen, _sgd_step_decay(epochs)]


def cyclical(epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """SGD with momentum: triangular, triangular2 and exp_range between the range test's bounds."""
    half = f"{epochs / 4:g} epochs"
    total = max(1, epochs * steps_per_epoch)
    bounds = {"unit": "step", "floor": "found.low", "lr": "found.high", "up_steps": half}
    return [
        Strategy("momentum found", "momentum", "found"),
        Strategy("clr triangular", "momentum", schedule={"name": "triangular", **bounds}),
        Strategy("clr triangular2", "momentum", schedule={"name": "triangular2", **bounds}),
        Strategy(
            "clr exp_range",
            "momentum",
            schedule={"name": "exp_range", **bounds, "gamma": round(0.1 ** (1 / total), 8)},
        ),
    ]


def one_cycle(epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """One-cycle for SGD with momentum (peak: the range test's upper bound; momentum mirrored)
    against fixed learning rates."""
    cycle = {"name": "one_cycle", "unit": "step", "lr": "found.high", "total_steps": "budget"}
    return [
        Strategy("momentum found", "momentum", "found"),
        Strategy("momentum 0.01", "momentum", 0.01),
        Strategy("one-cycle momentum", "momentum", schedule=cycle, cycle_momentum=(0.85, 0.95)),
    ]


PRESETS: dict[str, Callable[[int, int], list[Strategy]]] = {
    "fixed-lrs": fixed_lrs,
    "decays": decays,
    "adaptive": adaptive,
    "cyclical": cyclical,
    "one-cycle": one_cycle,
}


def names() -> list[str]:
    """Every preset name, ``all`` last."""
    return [*PRESETS, "all"]


def preset(name: str, *, epochs: int, steps_per_epoch: int) -> list[Strategy]:
    """The strategies of preset ``name`` for a run of ``epochs`` × ``steps_per_epoch`` batches."""
    if name == "all":
        return merge(*(make(epochs, steps_per_epoch) for make in PRESETS.values()))
    try:
        make = PRESETS[name]
    except KeyError:
        allowed = ", ".join(names())
        raise ValueError(f"preset: unknown preset {name!r}; choose one of {allowed}") from None
    return make(epochs, steps_per_epoch)


def merge(*groups: list[Strategy]) -> list[Strategy]:
    """The strategies of ``groups`` in order, each name once (same name, same definition)."""
    out: dict[str, Strategy] = {}
    for group in groups:
        for strategy in group:
            seen = out.get(strategy.name)
            if seen is not None and seen.to_dict() != strategy.to_dict():
                raise ValueError(
                    f"strategies: two different strategies are named {strategy.name!r}"
                )
            out.setdefault(strategy.name, strategy)
    return list(out.values())
