"""Lightning adapter: the range test and the doctor as ``lightning.pytorch`` callbacks.

Each module here only translates between Lightning objects and lrkit's core and torch adapter.
"""

from lrkit._optional import require

require("lightning", "lightning")

from lrkit.lightning.doctor import DoctorCallback  # noqa: E402
from lrkit.lightning.rangetest import LRFinder  # noqa: E402

__all__ = ["DoctorCallback", "LRFinder"]
