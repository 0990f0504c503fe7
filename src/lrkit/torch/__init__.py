"""PyTorch adapter: the range test, schedulers and the doctor for ``torch.nn`` models.

Each module here only translates between torch objects and lrkit's framework-neutral core.
"""

from lrkit._optional import require

require("torch", "torch")

from lrkit.torch.doctor import DoctorCallback, Watch  # noqa: E402
from lrkit.torch.fit import fit  # noqa: E402
from lrkit.torch.probe import LRProbe, probe_lr  # noqa: E402
from lrkit.torch.rangetest import LRFinder, find_lr  # noqa: E402
from lrkit.torch.rollback import Rollback  # noqa: E402
from lrkit.torch.scheduler import Scheduler  # noqa: E402

__all__ = [
    "DoctorCallback",
    "LRFinder",
    "LRProbe",
    "Rollback",
    "Scheduler",
    "Watch",
    "find_lr",
    "fit",
    "probe_lr",
]
