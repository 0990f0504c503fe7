"""``KerasSchedule``: an lrkit schedule as a ``keras.optimizers.schedules.LearningRateSchedule``.

The schedule's formula runs on ``keras.ops``, so it works on every Keras backend and inside
compiled train steps; nothing is copied or re-implemented here.
"""

from __future__ import annotations

from typing import Any

import keras

from lrkit.schedules.base import Schedule
from lrkit.schedules.registry import from_dict


@keras.saving.register_keras_serializable(package="lrkit")
class KerasSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Pass as ``learning_rate=`` to any Keras optimizer; the value at training step ``t``
    (``optimizer.iterations``) is ``schedule(t)``, computed in Keras's float type.

    ``get_config()`` holds ``schedule.to_dict()``, so a model saved with this optimizer loads
    back with the same schedule.
    """

    def __init__(self, schedule: Schedule) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule: must be an lrkit schedule, got {schedule!r}")
        self.schedule = schedule

    def __call__(self, step: Any) -> Any:
        t = keras.ops.cast(step, keras.config.floatx())
        return self.schedule.evaluate(t, keras.ops)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasSchedule:
        return cls(from_dict(config["schedule"]))
