"""The range test for a compiled Keras 3 model: :func:`find_lr`, and :class:`LRFinder` for ``fit``.

Both drive lrkit's push engine (:class:`lrkit.RangeTest`; :func:`find_lr` through its loop,
:func:`lrkit.range_test`), one batch per step and each batch once, and record the loss of each
batch, not the running epoch mean Keras logs. Before the sweep every model variable (weights,
non-trainable state such as batch-norm statistics, random-seed state) and every optimizer
variable (iteration count, learning rate, moment slots) is copied to host memory; afterwards
they are assigned back, so all are bit-identical to before — whether the sweep completed,
diverged, hit a NaN, raised or was interrupted. The compiled metrics and the global random
generators (``random``, numpy's, and torch's on the torch backend) are restored too.

Works on every Keras backend; the learning rate must be a plain value, not a schedule.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from lrkit.keras.batches import batch_length, batch_stream, split_validation
from lrkit.rangetest import DONE, RESTART, RangeTest, RangeTestResult, RangeTestSettings, range_test
from lrkit.sweep import check_count

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lrkit.rangetest.settings import SweepKeywords


def find_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 32,
    settings: RangeTestSettings | None = None,
    shuffle: bool = True,
    seed: int = 0,
    validation_data: Any = None,
    val_batches: int = 4,
    progress: bool = True,
    **sweep: Unpack[SweepKeywords],
) -> RangeTestResult:
    """Run the learning-rate range test on a compiled ``model``; restore it and its optimizer after.

    ``x``/``y`` are arrays (or dicts/lists of arrays) cut into batches of ``batch_size``,
    reshuffled with ``seed`` on every pass when ``shuffle``; or ``x`` alone is a
    ``keras.utils.PyDataset`` (anything with ``len`` and ``[i]``) or an iterable of batches
    (``(x, y)`` or ``(x, y, sample_weight)``), used in order and restarted when exhausted.

    Each of the ``num_steps`` steps sets the optimizer's learning rate and trains on one batch
    (``model.train_on_batch``); the recorded loss is that batch's loss, or with
    ``validation_data`` the mean loss over its first ``val_batches`` batches after the step.
    See :func:`lrkit.range_test` for the sweep and stopping rules, and for the retries that a
    curve no rule can read gets (``retry=False`` turns them off; ``max_steps`` bounds the
    steps of all sweeps together). The sweep is ``settings`` (a :class:`lrkit.RangeTestSettings`;
    default: its defaults), each keyword given replacing that field.
    """
    settings = RangeTestSettings.merged(settings, **sweep)
    check_count("batch_size", batch_size)
    check_count("val_batches", val_batches)
    optimizer = checked_optimizer(model)
    batches = batch_stream(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, name="x")
    first = next(batches)
    batches = itertools.chain([first], batches)
    val_slice = None
    if validation_data is not None:
        val_x, val_y = split_validation(validation_data)
        val_iter = batch_stream(
            val_x, val_y, batch_size=batch_size, shuffle=False, seed=seed, name="validation_data"
        )
        val_slice = list(itertools.islice(val_iter, val_batches))

    def step(lr: float) -> float:
        optimizer.learning_rate.assign(lr)
        batch_x, batch_y, weight = next(batches)
        logs = model.train_on_batch(batch_x, batch_y, sample_weight=weight, return_dict=True)
        if val_slice is None:
            return float(logs["loss"])
        total = 0.0
        for val_x, val_y, val_weight in val_slice:
            val_logs = model.test_on_batch(val_x, val_y, sample_weight=val_weight, return_dict=True)
            total += float(val_logs["loss"])
        return total / len(val_slice)

    build_variables(model, first[0])
    with preserved(model) as restore:
        result = range_test(step, settings=settings, reset=restore, progress=progress)
    result.settings.update(
        batch_size=batch_length(first[0]),
        curve="validation" if val_slice is not None else "training",
        optimizer=type(optimizer).__name__,
        backend=keras.backend.backend(),
    )
    return result


class LRFinder(keras.callbacks.Callback):
    """Run the range test inside ``model.fit``: one batch per step, then restore and stop.

    From the first batch on, the callback sets the learning rate of each batch, hands that
    batch's loss to the core engine (:class:`lrkit.RangeTest`), and stops training when the
    test is done; a retry sweep (see :func:`lrkit.range_test`) first puts the model and
    optimizer back. At the end of ``fit`` the model, optimizer and metrics are restored and
    the curve is in :attr:`result`. ``fit`` must run at least ``num_steps`` batches
    (``epochs × steps per epoch``); retries need more (up to ``max_steps``), and a ``fit``
    that ends during one keeps the curve so far.

    >>> finder = LRFinder(num_steps=100)
    >>> model.fit(x, y, batch_size=64, epochs=5, callbacks=[finder], verbose=0)
    >>> finder.result.suggestion
    """

    def __init__(
        self,
        settings: RangeTestSettings | None = None,
        *,
        progress: bool = True,
        **sweep: Unpack[SweepKeywords],
    ) -> None:
        super().__init__()
        #: The sweep: ``settings`` (default: its defaults), each keyword given replacing a field.
        self.settings = RangeTestSettings.merged(settings, **sweep)
        self.progress = progress
        #: The curve of the last ``fit``; ``None`` until a sweep has finished.
        self.result: RangeTestResult | None = None
        self._engine: RangeTest | None = None
        self._saved: _Snapshot | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = self.model
        optimizer = checked_optimizer(model)
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        num_steps = self.settings.num_steps
        if epochs is not None and steps is not None and epochs * steps < num_steps:
            raise ValueError(
                f"num_steps: fit runs {epochs} epoch(s) of {steps} batches, fewer than "
                f"num_steps={num_steps}; pass epochs={math.ceil(num_steps / steps)} to fit"
            )
        self.result = None
        self._saved = _Snapshot(model)
        self._engine = RangeTest(self.settings, progress=self.progress)
        optimizer.learning_rate.assign(self._engine.lr)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        engine = self._engine
        if engine is None or engine.done:
            return
        model = self.model
        event = engine.tell(float(np.asarray((logs or {})["loss"])))
        if event == DONE:
            model.stop_training = True
            return
        if event == RESTART and self._saved is not None:
            self._saved.restore(model)
        model.optimizer.learning_rate.assign(engine.lr)
        model.reset_metrics()  # so the next batch's logged loss is that batch's alone

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        optimizer = self.model.optimizer
        if self._saved is not None:
            self._saved.restore(self.model)
        self._saved = None
        if not engine.done and engine.sweep == 1:
            steps = engine.result().steps_run
            raise RuntimeError(
                f"LRFinder: fit ended after {steps} of {self.settings.num_steps} sweep "
                "steps; run fit for more epochs"
            )
        result = engine.result()
        result.settings.update(
            curve="training", optimizer=type(optimizer).__name__, backend=keras.backend.backend()
        )
        self.result = result


def checked_optimizer(model: Any) -> Any:
    """The model's optimizer, once it is known to be compiled with a settable learning rate."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: must be a keras.Model, got {type(model).__name__}")
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            "model: is not compiled; call model.compile(optimizer=..., loss=...) before the "
            "range test"
        )
    optimizer = model.optimizer
    if not isinstance(optimizer.learning_rate, keras.Variable):
        schedule = getattr(optimizer, "_learning_rate", optimizer.learning_rate)
        raise TypeError(
            f"model.optimizer: its learning rate comes from a {type(schedule).__name__}, "
            "which the range test cannot override; compile with a float learning_rate for the "
            "test, then with the schedule for training"
        )
    return optimizer


def build_variables(model: keras.Model, batch_x: Any) -> None:
    """Create every model and optimizer variable now, so the snapshot holds all of them."""
    if not model.built:
        model(batch_x, training=False)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


class _Snapshot:
    """Host copies of every model, optimizer and metric variable and of the global generators.

    The generators (``random``, numpy, and torch's on the torch backend, where unseeded dropout
    draws from it) come back too, so training after the sweep is the training without it.
    """

    def __init__(self, model: keras.Model) -> None:
        variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
        self.values = [
            (v, np.array(keras.ops.convert_to_numpy(v.value), copy=True)) for v in variables
        ]
        self.python_rng = random.getstate()
        self.numpy_rng = np.random.get_state()  # noqa: NPY002 (the user's global generator)
        self.torch_rng = None
        if keras.backend.backend() == "torch":
            import torch

            cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
            self.torch_rng = (torch.get_rng_state(), cuda)

    def restore(self, model: keras.Model) -> None:
        model.reset_metrics()  # metrics first built during the sweep start from zero again
        for variable, value in self.values:
            variable.assign(value)
        random.setstate(self.python_rng)
        np.random.set_state(self.numpy_rng)  # noqa: NPY002
        if self.torch_rng is not None:
            import torch

            cpu, cuda = self.torch_rng
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)


@contextmanager
def preserved(model: keras.Model) -> Iterator[Callable[[], None]]:
    """Restore ``model``'s variables, its optimizer's, its metrics' and the generators on exit;
    yields a ``restore()`` that does the same at any time inside."""
    saved = _Snapshot(model)
    try:
        yield lambda: saved.restore(model)
    finally:
        saved.restore(model)
