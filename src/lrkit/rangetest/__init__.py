"""The learning-rate range test, independent of any framework.

The engine drives a ``step(lr) -> loss`` callable over a sweep of learning rates, smooths the
loss with a bias-corrected exponential moving average (:mod:`lrkit.smoothing`) and stops
early when the run diverges:

    avg_i      = β·avg_{i-1} + (1 - β)·loss_i,     avg_{-1} = 0
    smoothed_i = avg_i / (1 - β^(i+1))

The sweep stops when ``smoothed_i > diverge_factor · min_{j<=i} smoothed_j`` or when a loss is
not finite. Adapters (``lrkit.torch``, ``lrkit.keras``) build the ``step`` callable.

A curve no rule can read — the loss never fell, or it blew up within its first points, or
its fall is less than :data:`READABLE_Z` times its noise (:func:`lrkit.suggest.fall_to_noise`;
the rules would read the noise) — is not yet a verdict on the model: given a ``reset()``
that puts the model back, the engine sweeps again, as a practitioner would, with
:data:`RETRY_FACTOR` times the steps over fewer decades below the rate where the last sweep
stopped; retry ``k`` (1, 2, ...) covers

    [lr_stop / 10^(RETRY_DECADES / k), lr_stop],   steps = RETRY_FACTOR · num_steps

(``lr_stop`` is ``end_lr`` for a sweep that completed), up to :data:`MAX_SWEEPS` sweeps and
``max_steps`` steps in all. That is 50, then 100 steps a decade where the first sweep had 12,
and a lower start when the first blew up at once. ``result.sweeps`` records each sweep, where
it stopped (``stop_lr``) and why the next one was run.

When the last sweep is still unreadable, the default rule does not read its noise: it falls
back to :data:`FALLBACK_DECADES` decades below the curve's edge (:attr:`RangeTestResult.edge_lr`:
the lowest rate at which a sweep blew up or the last curve rose, :func:`lrkit.suggest.rise`),
method ``"default (fallback)"``: the model trains, the curve only cannot say how fast. Only a
model whose loss neither fell nor rose in any sweep is refused.
"""

from lrkit.rangetest.engine import (
    DONE,
    RESTART,
    STEP,
    ProgressFn,
    RangeTest,
    ResetFn,
    StepFn,
    range_test,
)
from lrkit.rangetest.result import (
    BATCH_RULES,
    COMPLETED,
    DIVERGED,
    FALLBACK,
    FALLBACK_DECADES,
    NON_FINITE,
    STOPPED,
    RangeTestResult,
)
from lrkit.rangetest.retry import (
    MAX_SWEEPS,
    MIN_RETRY_STEPS,
    READABLE_Z,
    RETRY_DECADES,
    RETRY_FACTOR,
)
from lrkit.rangetest.settings import RECORDED, RangeTestSettings

__all__ = [
    "BATCH_RULES",
    "COMPLETED",
    "DIVERGED",
    "DONE",
    "FALLBACK",
    "FALLBACK_DECADES",
    "MAX_SWEEPS",
    "MIN_RETRY_STEPS",
    "NON_FINITE",
    "READABLE_Z",
    "RECORDED",
    "RESTART",
    "RETRY_DECADES",
    "RETRY_FACTOR",
    "STEP",
    "STOPPED",
    "ProgressFn",
    "RangeTest",
    "RangeTestResult",
    "RangeTestSettings",
    "ResetFn",
    "StepFn",
    "range_test",
]
