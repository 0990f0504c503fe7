"""The range test as a Lightning callback, run outside the trainer's loops.

:class:`LRFinder` sweeps with :func:`lrkit.torch.find_lr`, calling the module's own
``training_step`` on batches of the trainer's training dataloader. The trainer's loops never
run during the sweep, so its step and epoch counters, progress and logged metrics are untouched;
the model, the optimizer and the random-number generators (torch, numpy, ``random``) are
restored afterwards, so training continues exactly as it would have without the finder.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.parsing import lightning_hasattr, lightning_setattr

from lrkit.probe import ProbeResult, probe_steps
from lrkit.rangetest import RangeTestResult, RangeTestSettings
from lrkit.suggest import Rule, SuggestionError
from lrkit.torch.probe import probe_lr
from lrkit.torch.rangetest import find_lr
from lrkit.torch.state import randomness_preserved

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lrkit.rangetest.settings import SweepKeywords

#: Attributes searched, in order, for the learning rate ``configure_optimizers`` reads.
LR_ATTRIBUTES = ("lr", "learning_rate")


class LRFinder(pl.Callback):
    """Run the range test when training starts and train at its suggested learning rate.

    At ``on_train_start`` the callback sweeps ``num_steps`` batches (see :meth:`find`), keeps the
    curve in :attr:`result` and, with ``update_lr``, sets the suggestion of rule ``method`` as
    the module's learning rate: it writes ``attr_name`` (by default the first of ``lr``,
    ``learning_rate`` found on the module, its ``hparams`` or the datamodule) and calls
    ``configure_optimizers`` again, so schedulers are built around the new value. A module
    without such an attribute and without schedulers gets the rate written into its optimizer.

    With ``probe=True`` the rate set is not a rule's but the suggestion of the probe (see
    :mod:`lrkit.probe`): each of the curve's two candidates trains for a third of the planned
    run (``trainer.estimated_stepping_batches``) from the same state and batches, and
    everything is restored before training starts; the scores are in :attr:`probe_result`.

    The sweep is ``settings`` (a :class:`lrkit.RangeTestSettings`; default: its defaults),
    each keyword given replacing that field. With ``run_at_start=False`` nothing happens by
    itself; call :meth:`find` (and :meth:`probe`) from any training hook to sweep on demand.
    A curve no rule can read (it
    never falls) leaves the learning rate unchanged, with a warning.
    """

    def __init__(
        self,
        settings: RangeTestSettings | None = None,
        *,
        method: str | Rule = "default",
        update_lr: bool = True,
        attr_name: str | None = None,
        run_at_start: bool = True,
        probe: bool = False,
        progress: bool = True,
        **sweep: Unpack[SweepKeywords],
    ) -> None:
        #: The sweep: ``settings`` (default: its defaults), each keyword given replacing a field.
        self.settings = RangeTestSettings.merged(settings, **sweep)
        self.method = method
        self.update_lr = update_lr
        self.attr_name = attr_name
        self.run_at_start = run_at_start
        self.probe_at_start = probe
        self.progress = progress
        #: The curve of the last sweep.
        self.result: RangeTestResult | None = None
        #: The learning rate set after the last sweep, if any.
        self.lr: float | None = None
        #: The scores of the last probe, if any.
        self.probe_result: ProbeResult | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.run_at_start:
            return
        if trainer.ckpt_path is not None:
            rank_zero_warn("LRFinder: training resumes from a checkpoint; skipping the range test")
            return
        if getattr(trainer, "fast_dev_run", False):
            rank_zero_warn("LRFinder: skipping the range test under fast_dev_run")
            return
        attribute = self._lr_attribute(trainer, pl_module) if self.update_lr else None
        result = self.find(trainer, pl_module)
        if not self.update_lr:
            return
        try:
            if self.probe_at_start:
                self.lr = self.probe(trainer, pl_module, result).suggestion
            else:
                self.lr = result.suggest(self.method).lr
        except SuggestionError as exc:
            rank_zero_warn(f"LRFinder: no suggestion ({exc}); the learning rate stays as it was")
            return
        self._apply(trainer, pl_module, attribute, self.lr)

    def find(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> RangeTestResult:
        """Sweep now, from a hook of a running ``fit``; restore everything; return the curve.

        Each step runs ``training_step`` on ``accumulate_grad_batches`` batches (moved by the
        strategy, through the module's batch-transfer hooks), backward (through the precision
        plugin's grad scaler, if any), the trainer's ``gradient_clip_val`` by norm, and one
        step of the trainer's optimizer. ``self.log`` calls inside ``training_step`` are
        ignored meanwhile.
        """
        loader, step_fn = _training_steps(trainer, pl_module, "find")
        with randomness_preserved(loader), _logging_off(pl_module):
            result = find_lr(
                pl_module,
                trainer.optimizers[0],
                None,
                loader,
                step_fn=step_fn,
                accumulation_steps=trainer.accumulate_grad_batches,
                settings=self.settings,
                progress=self.progress,
                **_trainer_step(trainer),
            )
        self.result = result
        return result

    def probe(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        result: RangeTestResult | None = None,
    ) -> ProbeResult:
        """Probe the candidates of ``result`` (default: the last sweep's) now, for a third of
        ``trainer.estimated_stepping_batches`` steps each, with the module's ``training_step``
        as in :meth:`find`; restore everything; return the scores (``.suggestion`` is the rate
        to train at)."""
        result = result if result is not None else self.result
        if result is None:
            raise RuntimeError("LRFinder.probe: no range test yet; call find first")
        loader, step_fn = _training_steps(trainer, pl_module, "probe")
        planned = trainer.estimated_stepping_batches
        if not math.isfinite(planned):
            raise ValueError(
                "trainer: the planned run has no end (max_steps=-1 and max_epochs=-1), so the "
                "probe cannot take a third of it; set max_epochs or max_steps"
            )
        with randomness_preserved(loader), _logging_off(pl_module):
            probed = probe_lr(
                pl_module,
                trainer.optimizers[0],
                None,
                loader,
                candidates=result,
                steps=probe_steps(int(planned)),
                step_fn=step_fn,
                accumulation_steps=trainer.accumulate_grad_batches,
                progress=self.progress,
                **_trainer_step(trainer),
            )
        self.probe_result = probed
        return probed

    def _lr_attribute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str | None:
        """The attribute holding the learning rate, or ``None`` if the optimizer can take it."""
        if self.attr_name is not None:
            if not lightning_hasattr(pl_module, self.attr_name):
                raise ValueError(
                    f"attr_name: {self.attr_name!r} is not an attribute of the module, its "
                    "hparams or the datamodule"
                )
            return self.attr_name
        for name in LR_ATTRIBUTES:
            if lightning_hasattr(pl_module, name):
                return name
        if trainer.lr_scheduler_configs:
            raise ValueError(
                "attr_name: the module has no 'lr' or 'learning_rate' attribute (nor in hparams) "
                "and configure_optimizers returns a scheduler, so the suggestion cannot be "
                "applied; store the learning rate in self.lr and read it in "
                "configure_optimizers, pass attr_name=..., or pass update_lr=False"
            )
        return None

    @staticmethod
    def _apply(
        trainer: pl.Trainer, pl_module: pl.LightningModule, attribute: str | None, lr: float
    ) -> None:
        if attribute is not None:
            lightning_setattr(pl_module, attribute, lr)
            trainer.strategy.setup_optimizers(trainer)  # configure_optimizers, with the new rate
            return
        for optimizer in trainer.optimizers:
            first = optimizer.param_groups[0]["lr"]
            for group in optimizer.param_groups:
                group["lr"] = lr * (group["lr"] / first if first else 1.0)


def _training_steps(
    trainer: pl.Trainer, pl_module: pl.LightningModule, caller: str
) -> tuple[Any, Any]:
    """The trainer's training dataloader and a ``step_fn`` that runs the module's
    ``training_step`` on a batch moved by the strategy; clear errors when either is missing."""
    loader = trainer.train_dataloader
    if loader is None:
        raise RuntimeError(
            f"LRFinder.{caller}: the trainer has no training dataloader yet; "
            "call it from on_train_start or a later training hook"
        )
    if isinstance(loader, (Mapping, list, tuple)):
        raise ValueError(
            "trainer.train_dataloader: LRFinder sweeps a single training dataloader, "
            f"got a {type(loader).__name__} of them"
        )
    if not pl_module.automatic_optimization:
        raise ValueError(
            "pl_module: uses manual optimization; LRFinder needs automatic optimization "
            "(training_step returns the loss)"
        )
    calls = itertools.count()

    def step_fn(module: torch.nn.Module, batch: Any) -> torch.Tensor:
        batch = trainer.strategy.batch_to_device(batch)
        with trainer.precision_plugin.train_step_context():
            output = pl_module.training_step(batch, next(calls))
        return _loss_of(output)

    return loader, step_fn


def _trainer_step(trainer: pl.Trainer) -> dict[str, Any]:
    """The grad scaler and norm clipping the trainer's own steps use, as ``find_lr`` takes
    them; clipping by value, which ``find_lr`` does not do, is warned about."""
    step: dict[str, Any] = {"grad_scaler": getattr(trainer.precision_plugin, "scaler", None)}
    clip = trainer.gradient_clip_val
    if clip:
        if trainer.gradient_clip_algorithm in (None, "norm"):  # Lightning's default is norm
            step["clip_grad_norm"] = float(clip)
        else:
            rank_zero_warn(
                f"LRFinder: the trainer clips gradients by value ({clip}); the sweep and the "
                "probe do not (they clip by norm only)"
            )
    return step


def _loss_of(output: Any) -> torch.Tensor:
    loss = output.get("loss") if isinstance(output, Mapping) else output
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            "training_step: must return the loss tensor or a dict with 'loss' during the range "
            f"test, got {type(output).__name__}"
        )
    return loss


@contextmanager
def _logging_off(pl_module: pl.LightningModule) -> Iterator[None]:
    """Make ``self.log``/``self.log_dict`` do nothing: the trainer's loops are not running."""
    pl_module.log = _ignore  # type: ignore[method-assign]
    pl_module.log_dict = _ignore  # type: ignore[method-assign]
    try:
        yield
    finally:
        del pl_module.log
        del pl_module.log_dict


def _ignore(*args: Any, **kwargs: Any) -> None:
    """Accept any logging call and record nothing."""
