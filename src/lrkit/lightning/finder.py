"""Renamed :mod:`lrkit.lightning.rangetest` (as in the torch and Keras adapters); importing
``lrkit.lightning.finder`` warns and gives the same names."""

import warnings

from lrkit.lightning.rangetest import LRFinder

__all__ = ["LRFinder"]

warnings.warn(
    "lrkit.lightning.finder is now lrkit.lightning.rangetest; import from there",
    DeprecationWarning,
    stacklevel=2,
)
