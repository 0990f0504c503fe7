"""Keras 3 adapter: the range test, the probe, schedules and the doctor for compiled
``keras.Model``\\ s.

Works on any Keras backend; each module here only translates between Keras objects and
lrkit's framework-neutral core.
"""

from lrkit._optional import require

require("keras", "keras")

from lrkit.keras.callbacks import PlateauCallback, ScheduleCallback  # noqa: E402
from lrkit.keras.doctor import DoctorCallback  # noqa: E402
from lrkit.keras.probe import probe_lr  # noqa: E402
from lrkit.keras.rangetest import LRFinder, find_lr  # noqa: E402
from lrkit.keras.schedule import KerasSchedule  # noqa: E402

__all__ = [
    "DoctorCallback",
    "KerasSchedule",
    "LRFinder",
    "PlateauCallback",
    "ScheduleCallback",
    "find_lr",
    "probe_lr",
]
