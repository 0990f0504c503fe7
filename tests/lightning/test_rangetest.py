"""lrkit.lightning.LRFinder in a real Trainer on the built-in digits task."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from lrkit import RangeTestSettings, tasks  # noqa: E402
from lrkit.lightning import LRFinder  # noqa: E402
from lrkit.probe import probe_candidates, probe_steps  # noqa: E402
from lrkit.torch import find_lr  # noqa: E402

SWEEP = {"num_steps": 30, "progress": False}


class Digits(pl.LightningModule):
    """The digits CNN (with dropout) whose optimizer reads ``self.lr``."""

    def __init__(self, lr: float = 1e-3, scheduler: bool = False, seed: int = 0) -> None:
        super().__init__()
        task = tasks.get("digits-cnn", seed=seed)
        self.net, self.loss_fn, self.loader = task.model, task.loss_fn, task.train_loader
        self.lr, self.scheduler = lr, scheduler

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        if not self.scheduler:
            return optimizer
        cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=100)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cycle, "interval": "step"}}


def trainer(*callbacks: Any, max_epochs: int = 1, **kwargs: Any) -> Any:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=max_epochs,
        callbacks=list(callbacks),
        **kwargs,
    )


def fit(module: Digits, *callbacks: Any, max_epochs: int = 1, **kwargs: Any) -> Any:
    pl.seed_everything(0, verbose=False)
    run = trainer(*callbacks, max_epochs=max_epochs, **kwargs)
    run.fit(module, train_dataloaders=module.loader)
    return run


def progress(run: Any) -> dict[str, Any]:
    """Everything about a finished fit that a range test must leave as it was."""
    loop = run.fit_loop
    return {
        "global_step": run.global_step,
        "current_epoch": run.current_epoch,
        "epoch_progress": loop.epoch_progress.state_dict(),
        "batch_progress": loop.epoch_loop.batch_progress.state_dict(),
        "optim_progress": loop.epoch_loop.automatic_optimization.optim_progress.state_dict(),
        "metrics": {k: float(v) for k, v in run.callback_metrics.items()},
    }


def assert_same_model(a: Digits, b: Digits) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_trainer_and_model_end_exactly_as_without_the_finder():
    """A sweep that changes nothing leaves every counter, metric and weight as it would be."""
    plain = Digits()
    plain_run = fit(plain, max_epochs=2)
    swept = Digits()
    finder = LRFinder(update_lr=False, **SWEEP)
    swept_run = fit(swept, finder, max_epochs=2)
    assert finder.result is not None and len(finder.result.lrs) == 30
    assert progress(swept_run) == progress(plain_run)
    assert swept_run.global_step == 2 * len(plain.loader)
    assert_same_model(swept, plain)


def test_the_suggestion_is_applied_and_training_is_that_of_the_suggested_rate():
    swept = Digits(scheduler=True)
    finder = LRFinder(**SWEEP)
    swept_run = fit(swept, finder)
    suggestion = finder.result.suggestion
    assert finder.lr == suggestion == swept.lr
    assert finder.result.lrs[0] <= suggestion <= finder.result.lrs[-1]
    optimizer = swept_run.optimizers[0]
    assert optimizer.param_groups[0]["max_lr"] == suggestion  # the scheduler was rebuilt
    assert swept_run.lr_scheduler_configs[0].scheduler.optimizer is optimizer
    # the same module trained from the start at the suggested rate, without a finder
    direct = Digits(lr=suggestion, scheduler=True)
    direct_run = fit(direct)
    assert progress(swept_run) == progress(direct_run)
    assert_same_model(swept, direct)


def test_a_rule_of_your_own_sets_the_rate():
    def tenth_of_lowest(lrs, losses):
        return float(lrs[losses.argmin()] / 10)

    module = Digits()
    finder = LRFinder(method=tenth_of_lowest, **SWEEP)
    fit(module, finder)
    expected = finder.result.suggest(tenth_of_lowest).lr
    assert finder.lr == expected == module.lr
    lowest = int(np.nanargmin(finder.result.losses))
    assert expected == pytest.approx(finder.result.lrs[lowest] / 10)


def test_the_probe_winner_is_applied_and_training_is_that_of_the_probed_rate():
    swept = Digits()
    finder = LRFinder(probe=True, **SWEEP)
    swept_run = fit(swept, finder)
    probed = finder.probe_result
    assert probed is not None
    assert probed.lrs == pytest.approx(probe_candidates(finder.result))
    assert probed.steps == probe_steps(len(swept.loader))
    assert finder.lr == probed.suggestion == swept.lr
    # the probe left no trace: training is that of a module started at the probed rate
    direct = Digits(lr=probed.suggestion)
    direct_run = fit(direct)
    assert progress(swept_run) == progress(direct_run)
    assert_same_model(swept, direct)


def test_probe_needs_a_sweep_first():
    with pytest.raises(RuntimeError, match="LRFinder.probe: no range test yet"):
        LRFinder(**SWEEP).probe(trainer(), Digits())


def test_curve_equals_the_torch_adapter_on_the_same_model_and_data():
    shuffle_state = {}

    class Reseed(pl.Callback):
        """Fix the generators the sweep will draw from: dropout's and the loader's."""

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            torch.manual_seed(123)
            shuffle_state["state"] = trainer.train_dataloader.generator.get_state()

    module = Digits()
    finder = LRFinder(
        RangeTestSettings(num_steps=30), method="steepest", update_lr=False, progress=False
    )
    fit(module, Reseed(), finder)

    twin = Digits()
    twin.loader.generator.set_state(shuffle_state["state"])
    torch.manual_seed(123)
    direct = find_lr(
        twin.net,
        torch.optim.Adam(twin.parameters(), lr=1e-3),
        twin.loss_fn,
        twin.loader,
        num_steps=30,
        progress=False,
    )
    assert finder.result.lrs == direct.lrs
    assert finder.result.losses == direct.losses  # bit for bit: the same engine and adapter
    for rule in ("steepest", "valley", "minimum", "default"):
        assert finder.result.suggest(rule) == direct.suggest(rule)


def test_hparams_attribute_is_found_and_updated():
    class WithHparams(Digits):
        def __init__(self, learning_rate: float = 1e-3) -> None:
            super().__init__()
            del self.lr
            self.save_hyperparameters()

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    module = WithHparams()
    finder = LRFinder(**SWEEP)
    run = fit(module, finder)
    assert module.hparams.learning_rate == finder.lr
    assert run.optimizers[0].param_groups[0]["lr"] == finder.lr
    assert run.optimizers[0].state  # the rebuilt optimizer is the one that trained


def test_without_an_attribute_the_optimizer_gets_the_rate_and_group_ratios_stay():
    class Hardcoded(Digits):
        def __init__(self) -> None:
            super().__init__()
            del self.lr

        def configure_optimizers(self) -> Any:
            head = list(self.net[-1].parameters())
            body = [p for p in self.parameters() if all(p is not h for h in head)]
            return torch.optim.Adam([{"params": body, "lr": 1e-3}, {"params": head, "lr": 1e-4}])

    finder = LRFinder(**SWEEP)
    run = fit(Hardcoded(), finder, max_steps=1)
    assert finder.lr is not None
    groups = run.optimizers[0].param_groups
    assert groups[0]["lr"] == pytest.approx(finder.lr)
    assert groups[1]["lr"] == pytest.approx(finder.lr / 10)


def test_a_curve_without_a_suggestion_keeps_the_rate_with_a_warning():
    class Plain(Digits):
        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    module = Plain(lr=0.05)
    finder = LRFinder(end_lr=1e-3, **SWEEP)  # plain SGD barely moves below 1e-3 in 30 steps
    with pytest.warns(UserWarning, match="LRFinder: no suggestion .*the loss never fell"):
        run = fit(module, finder, max_steps=1)
    assert finder.result is not None and finder.lr is None
    assert module.lr == 0.05 and run.optimizers[0].param_groups[0]["lr"] == 0.05


def test_without_an_attribute_a_scheduler_is_an_error_before_any_sweep():
    class Hardcoded(Digits):
        def __init__(self) -> None:
            super().__init__(scheduler=True)
            del self.lr

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 10)]

    finder = LRFinder(**SWEEP)
    with pytest.raises(ValueError, match="attr_name: the module has no 'lr' or 'learning_rate'"):
        fit(Hardcoded(), finder)
    assert finder.result is None
    with pytest.raises(ValueError, match="attr_name: 'rate' is not an attribute"):
        fit(Digits(), LRFinder(attr_name="rate", **SWEEP))


def test_on_demand_sweep_mid_training_changes_nothing():
    finder = LRFinder(run_at_start=False, **SWEEP)
    seen: dict[str, Any] = {}

    class SweepAtEpochOne(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                seen["step"] = trainer.global_step
                seen["result"] = finder.find(trainer, pl_module)
                seen["step_after"] = trainer.global_step

    plain = Digits()
    plain_run = fit(plain, max_epochs=2)
    swept = Digits()
    swept_run = fit(swept, finder, SweepAtEpochOne(), max_epochs=2)
    assert seen["step"] == seen["step_after"] == len(plain.loader)
    assert seen["result"] is finder.result and finder.lr is None
    assert progress(swept_run) == progress(plain_run)
    assert_same_model(swept, plain)


def test_manual_optimization_and_a_missing_loss_are_named():
    class Manual(Digits):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(self.loss_fn(self.net(batch[0]), batch[1]))
            optimizer.step()

    with pytest.raises(ValueError, match="pl_module: uses manual optimization"):
        fit(Manual(), LRFinder(**SWEEP))

    class NoLoss(Digits):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"logits": self.net(batch[0])}

    with pytest.raises(TypeError, match="training_step: must return the loss tensor"):
        fit(NoLoss(), LRFinder(**SWEEP))


def test_find_outside_fit_and_bad_settings_are_named():
    with pytest.raises(RuntimeError, match="LRFinder.find: the trainer has no training dataloader"):
        LRFinder(**SWEEP).find(trainer(), Digits())
    with pytest.raises(ValueError, match="start_lr: must be > 0"):
        LRFinder(start_lr=0)
    with pytest.raises(ValueError, match="diverge_factor: must be a finite number > 1"):
        LRFinder(diverge_factor=1)
    with pytest.raises(ValueError, match="mode: must be one of exp, linear"):
        LRFinder(mode="cos")


def test_skipped_when_resuming_or_under_fast_dev_run(tmp_path):
    first = fit(Digits())
    path = tmp_path / "last.ckpt"
    first.save_checkpoint(path)
    finder = LRFinder(**SWEEP)
    with pytest.warns(UserWarning, match="resumes from a checkpoint; skipping"):
        pl.seed_everything(0, verbose=False)
        module = Digits()
        trainer(finder, max_epochs=2).fit(module, module.loader, ckpt_path=path)
    assert finder.result is None
    with pytest.warns(UserWarning, match="skipping the range test under fast_dev_run"):
        fit(Digits(), finder, fast_dev_run=True)
    assert finder.result is None


def test_import_without_lightning_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning", None)
    for name in [m for m in sys.modules if m == "lrkit" or m.startswith("lrkit.")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.import_module("lrkit")
    importlib.import_module("lrkit.torch")
    with pytest.raises(ImportError, match=r"needs 'lightning'.*pip install 'lrkit\[lightning\]'"):
        importlib.import_module("lrkit.lightning")


def test_the_sweep_clips_as_the_trainer_does_and_warns_when_it_cannot():
    module = Digits()
    norms: list[float] = []

    class Record(pl.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            def hook(*_: Any) -> None:
                grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
                norms.append(float(torch.nn.utils.get_total_norm(grads)))

            trainer.optimizers[0].register_step_pre_hook(hook)

    finder = LRFinder(update_lr=False, **SWEEP)
    fit(module, Record(), finder, max_steps=1, gradient_clip_val=0.01)
    assert len(norms) >= 30 and max(norms[:30]) <= 0.01 * (1 + 1e-5)
    with pytest.warns(UserWarning, match="clips gradients by value"):
        fit(
            Digits(),
            LRFinder(update_lr=False, **SWEEP),
            max_steps=1,
            gradient_clip_val=0.01,
            gradient_clip_algorithm="value",
        )


def test_the_earlier_module_lrkit_lightning_finder_warns_and_gives_the_same_finder() -> None:
    sys.modules.pop("lrkit.lightning.finder", None)
    with pytest.warns(DeprecationWarning, match="lrkit.lightning.finder is now lrkit.lightning"):
        module = importlib.import_module("lrkit.lightning.finder")
    assert module.LRFinder is LRFinder
