"""Learning-rate (and momentum) schedules: pure, immutable functions of the step.

>>> from lrkit import schedules
>>> s = schedules.warmup(schedules.cosine(lr=0.1, total_steps=900), steps=100)
>>> round(s(50), 6), round(s(100), 6), round(s(1000), 6)
(0.05, 0.1, 0.0)

Every schedule takes a step number or an array of them, holds its final value past its
planned length (``duration``), and round-trips through ``to_dict()`` / :func:`from_dict`.
No deep-learning framework is imported here; see ``lrkit.torch.Scheduler`` and
``lrkit.keras.KerasSchedule`` for the adapters. Under JAX a schedule is an optax schedule as
it is (``optax.sgd(learning_rate=schedule)``), ``jax.jit`` included.
"""

from lrkit.schedules.base import Schedule
from lrkit.schedules.combinators import scale, sequence, warmup
from lrkit.schedules.cyclical import exp_range, triangular, triangular2
from lrkit.schedules.decay import (
    cosine,
    cosine_restarts,
    exponential,
    inverse_time,
    linear,
    polynomial,
)
from lrkit.schedules.phased import interpolate, one_cycle, wsd
from lrkit.schedules.plateau import ReduceOnPlateau
from lrkit.schedules.plot import plot_schedule
from lrkit.schedules.registry import Parameter, from_dict, get, names, parameters
from lrkit.schedules.stepwise import constant, multistep, piecewise_constant, step_decay

__all__ = [
    "Parameter",
    "ReduceOnPlateau",
    "Schedule",
    "constant",
    "cosine",
    "cosine_restarts",
    "exp_range",
    "exponential",
    "from_dict",
    "get",
    "interpolate",
    "inverse_time",
    "linear",
    "multistep",
    "names",
    "one_cycle",
    "parameters",
    "piecewise_constant",
    "plot_schedule",
    "polynomial",
    "scale",
    "sequence",
    "step_decay",
    "triangular",
    "triangular2",
    "warmup",
    "wsd",
]
