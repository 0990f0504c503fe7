"""Moved to :mod:`lrkit.schedules.plateau`; importing ``lrkit.plateau`` warns and gives the
same names."""

import warnings

from lrkit.schedules.plateau import ReduceOnPlateau

__all__ = ["ReduceOnPlateau"]

warnings.warn(
    "lrkit.plateau is now lrkit.schedules.plateau (ReduceOnPlateau is also lrkit.schedules."
    "ReduceOnPlateau); import from there",
    DeprecationWarning,
    stacklevel=2,
)
