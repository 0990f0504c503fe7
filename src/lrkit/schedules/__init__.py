"""Learning-rate (and momentum) schedules: pure, immutable functions of the step.

>>> from lrkit import schedules
>>> s = schedules.warmup(schedules.cosine(lr=0.1, total_steps=900), warmup_steps=100)
>>> round(s(50), 6), round(s(100), 6), round(s(1000), 6)
(0.05, 0.1, 0.0)

Every schedule takes a step number or an array of them, holds its final value past its
planned length (``duration``), and round-trips through ``to_dict()`` / :func:`from_dict`.
No deep-learning framework is imported here; see ``lrkit.torch.Scheduler`` and
``lrkit.keras.KerasSchedule`` for the adapters. Under JAX a schedule is an optax schedule as
it is (``optax.sgd(learning_rate=schedule)``), ``jax.jit`` included.

Each schedule is made by a function (``cosine``, ``one_cycle``, ``warmup``, …) that returns an
instance of its class (``decay.Cosine``, …); the function is the spelling to use, the class is
the type to check against. Parameters mean the same in every schedule:

- ``lr``: the top rate, the one the schedule starts its decay from or peaks at (torch's
  ``max_lr`` for one-cycle and CLR, ``lr`` of the optimizer everywhere else);
- ``floor``: the bottom rate it decays to or starts its cycles from (torch's ``eta_min``,
  ``base_lr`` and ``min_lr``, Keras's ``end_learning_rate``);
- ``total_steps``: the length of the whole run;
- ``cycle_steps``: the length of one cycle (SGDR); ``up_steps`` / ``down_steps``: the rising
  and falling halves of a CLR cycle;
- ``warmup_steps``: the length of a warm-up, from the rate ``start``;
- ``decay_steps``: the steps per decay period (one drop of ``step_decay``, the time unit of
  ``exponential`` and ``inverse_time``, as in Keras); ``cooldown_steps``: the final decay
  phase of ``wsd`` (Hägele et al.'s name for it).

Every length of a schedule ends in ``_steps`` and every rate is ``lr``, ``floor`` or
``start``, so a reader knows what a number is without the schedule's page. ``linear`` keeps
``start`` and ``end``: its line may rise or fall, so they are its two ends, not a top and a
bottom. The old names (``max_lr``, ``low``, ``high``, ``end`` of ``polynomial``,
``step_size``, ``step_size_up``, ``step_size_down``, ``steps`` of ``warmup``, ``decay_steps``
of ``wsd``, ``min_lr`` of ``ReduceOnPlateau``) still work in the functions, the constructors
and :func:`from_dict`, with a ``DeprecationWarning``; ``Schedule.renamed`` maps them and
:func:`current_params` applies the map to a dict.
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
from lrkit.schedules.registry import Parameter, current_params, from_dict, get, names, parameters
from lrkit.schedules.stepwise import constant, multistep, piecewise_constant, step_decay

__all__ = [
    "Parameter",
    "ReduceOnPlateau",
    "Schedule",
    "constant",
    "cosine",
    "cosine_restarts",
    "current_params",
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
