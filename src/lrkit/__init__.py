"""lrkit: take the guesswork out of learning rates.

The core (this package's top level) needs only numpy; framework adapters live in
``lrkit.torch``, ``lrkit.keras`` and ``lrkit.lightning``.
"""

from lrkit.rangetest import RangeTest, RangeTestResult, RangeTestSettings, range_test
from lrkit.suggest import Suggestion, SuggestionError
from lrkit.sweep import lr_sweep

__version__ = "0.1.0"

__all__ = [
    "RangeTest",
    "RangeTestResult",
    "RangeTestSettings",
    "Suggestion",
    "SuggestionError",
    "__version__",
    "lr_sweep",
    "range_test",
]
