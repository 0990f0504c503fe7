"""Renamed :mod:`lrkit.plan`; importing ``lrkit.auto`` warns and gives the same names."""

import warnings

from lrkit.plan import (  # noqa: F401
    DECAY_FRACTION,
    ONE_CYCLE_PEAK,
    POLICIES,
    RATE_POLICIES,
    SWEEP_STEPS,
    WARMUP_FRACTION,
    overhead_budget,
    policy_schedule,
    probe_budget,
    sweep_budget,
)
from lrkit.plan import DECISION_STEPS as LONG_RUN  # noqa: F401  (its name before the rename)

warnings.warn("lrkit.auto is now lrkit.plan; import from there", DeprecationWarning, stacklevel=2)
