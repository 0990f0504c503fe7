"""lrkit.torch.fit and lrkit auto: history shape, the schedule applied, state after training."""

import importlib
import itertools
import json
import math

import pytest
import torch

from lrkit import RangeTestResult, RangeTestSettings, SuggestionError, range_test
from lrkit.cli import main
from lrkit.plan import (
    ONE_CYCLE_PEAK,
    POLICIES,
    overhead_budget,
    policy_schedule,
    probe_budget,
    sweep_budget,
)
from lrkit.probe import PROBE_FRACTION, ProbeResult, probe_candidates
from lrkit.torch import find_lr, fit, probe_lr


def bowl_result() -> RangeTestResult:
    return range_test(
        lambda lr: 1 + (math.log10(lr) + 2) ** 2,
        start_lr=1e-5,
        end_lr=1.0,
        num_steps=101,
        smoothing=0.0,
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_schedules_come_from_the_curve(policy):
    result = bowl_result()
    schedule = policy_schedule(result, policy, total_steps=200, steps_per_epoch=20)
    values = schedule([1, 50, 100, 199])
    assert all(v > 0 for v in values)
    if policy == "constant":
        assert list(values) == pytest.approx([result.suggestion] * 4)
    if policy == "one_cycle":
        assert schedule.bounds()[1] == pytest.approx(ONE_CYCLE_PEAK * result.suggestion)
    if policy in ("triangular", "triangular2", "exp_range"):
        assert schedule.bounds() == pytest.approx(result.clr_bounds())


@pytest.mark.parametrize("policy", ["wsd", "one_cycle", "cosine", "constant"])
def test_a_given_rate_replaces_the_suggestion(policy):
    result = bowl_result()
    chosen = policy_schedule(result, policy, 200, 20, lr=3 * result.suggestion)
    default = policy_schedule(result, policy, 200, 20)
    assert chosen.bounds()[1] == pytest.approx(3 * default.bounds()[1])


def test_wsd_warms_up_holds_the_rate_then_decays_to_zero():
    lr = 0.3
    schedule = policy_schedule(bowl_result(), "wsd", total_steps=200, steps_per_epoch=20, lr=lr)
    # hand-derived: warm-up over 5 % (10 steps), hold until the last 20 % (step 160), decay
    # linearly to 0 at step 200: lr · (1 − (t − 160)/40)
    expected = [0.0, lr * 5 / 10, lr, lr, lr, lr * (1 - 20 / 40), lr * (1 - 39 / 40)]
    assert schedule([0, 5, 10, 100, 160, 180, 199]) == pytest.approx(expected)


def fell_to(*scores: float) -> list[list[float]]:
    return [[3.0] * 3 + [score] * 7 for score in scores]


@pytest.mark.parametrize("policy", ["wsd", "one_cycle", "cosine", "constant"])
def test_fit_builds_every_rate_policy_on_the_probes_suggestion(policy, monkeypatch):
    from lrkit import tasks

    fit_module = importlib.import_module("lrkit.torch.fit")
    # the bold candidate won: suggestion 0.3 / 1.5 = 0.2, while .hold would be 0.3
    bold_won = ProbeResult(lrs=[0.3, 0.05], losses=fell_to(1.0, 2.0), steps=10)
    assert bold_won.suggestion == pytest.approx(0.2) and bold_won.hold == 0.3
    monkeypatch.setattr(fit_module, "probe_lr", lambda *args, **kwargs: bold_won)
    task = tasks.get("tabular-mlp", seed=0)
    history = fit(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        1,
        range_test=bowl_result(),
        policy=policy,
        guard=False,
        progress=False,
    )
    assert history.plan.lr == pytest.approx(0.2)


def test_unknown_policy_and_bad_rate_are_named():
    with pytest.raises(ValueError, match="policy: must be one of wsd, one_cycle"):
        policy_schedule(bowl_result(), "warp", 100, 10)
    with pytest.raises(ValueError, match="lr: must be a positive finite learning rate"):
        policy_schedule(bowl_result(), "constant", 100, 10, lr=-1.0)


def test_fit_trains_with_the_schedule_and_records_history():
    from lrkit import tasks

    task = tasks.get("tabular-mlp", seed=0)
    optimizer = task.make_optimizer("momentum")
    found = find_lr(task.model, optimizer, task.loss_fn, task.train_loader, progress=False)
    steps_per_epoch = len(task.train_loader)
    probed = probe_lr(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        candidates=found,
        steps=round(PROBE_FRACTION * 3 * steps_per_epoch),
        progress=False,
    )
    before = task.evaluate()["accuracy"]
    history = fit(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        3,
        val_loader=task.val_loader,
        metric=task.metric,
        metric_name="accuracy",
        policy="one_cycle",
        range_test=found,
        progress=False,
    )
    assert len(history) == 3 * steps_per_epoch
    # fit's own probe saw what probe_lr saw: the probe restores the model and random state
    schedule = policy_schedule(
        found, "one_cycle", 3 * steps_per_epoch, steps_per_epoch, lr=probed.suggestion
    )
    assert history.column("lr") == pytest.approx(schedule(history.steps))
    assert history.column("lr").max() == pytest.approx(ONE_CYCLE_PEAK * probed.suggestion, rel=0.01)
    val = history.column("val_metric")
    assert (~torch.isnan(torch.tensor(val))).sum() == 3  # one per epoch, at its last step
    assert val[-1] == pytest.approx(task.evaluate()["accuracy"])
    assert val[-1] > before
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.95)  # mirrored curve ends


def test_fit_runs_the_range_test_itself_and_rejects_bad_input():
    from lrkit import tasks

    task = tasks.get("tabular-mlp", seed=1)
    optimizer = task.make_optimizer("adam")
    history = fit(
        task.model, optimizer, task.loss_fn, task.train_loader, 1, policy="cosine", progress=False
    )
    assert history.column("lr")[-1] < history.column("lr")[0]
    found = find_lr(task.model, optimizer, task.loss_fn, task.train_loader, progress=False)
    unprobed = fit(
        task.model,
        optimizer,
        task.loss_fn,
        task.train_loader,
        1,
        policy="constant",
        range_test=found,
        probe=False,
        progress=False,
    )
    assert unprobed.column("lr") == pytest.approx(found.suggestion)
    with pytest.raises(ValueError, match="epochs: must be an integer >= 1"):
        fit(task.model, optimizer, task.loss_fn, task.train_loader, 0, progress=False)
    with pytest.raises(ValueError, match="policy: must be one of"):
        fit(task.model, optimizer, task.loss_fn, task.train_loader, 1, policy="?", progress=False)


def test_for_batch_size_rescales_the_suggestion():
    result = bowl_result()
    result.settings["batch_size"] = 32
    lr = result.suggestion
    assert result.for_batch_size(128) == pytest.approx(4 * lr)
    assert result.for_batch_size(128, "sqrt") == pytest.approx(2 * lr)
    assert result.for_batch_size(8, batch_size=16) == pytest.approx(lr / 2)
    with pytest.raises(ValueError, match="rule: must be one of linear, sqrt"):
        result.for_batch_size(64, "cubic")
    with pytest.raises(ValueError, match="new_batch_size: must be an integer >= 1"):
        result.for_batch_size(0)
    del result.settings["batch_size"]
    with pytest.raises(ValueError, match="batch_size: the range test did not record"):
        result.for_batch_size(64)
    with pytest.raises(ValueError, match="batch_size: must be an integer >= 1, got 0"):
        result.for_batch_size(64, batch_size=0)


def test_find_lr_records_the_effective_batch_size():
    from lrkit import tasks

    task = tasks.get("tabular-mlp", seed=0)
    found = find_lr(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        num_steps=10,
        accumulation_steps=2,
        progress=False,
    )
    assert found.settings["batch_size"] == 64


def test_auto_command_writes_everything(tmp_path, capsys):
    out = tmp_path / "auto"
    assert (
        main(["auto", "--task", "tabular-mlp", "--epochs", "2", "--out", str(out), "--no-progress"])
        == 0
    )
    printed = capsys.readouterr().out
    for name in ("auto.json", "history.csv", "lr_find.png", "training.png"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "auto.json").read_text())
    probed = ProbeResult.from_dict(summary["probe"])
    found = RangeTestResult.from_dict(summary["range_test"])
    assert probed.lrs == pytest.approx(probe_candidates(found))
    assert summary["lr"] == probed.suggestion  # wsd holds the probe's suggestion
    assert f"wsd builds on {probed.suggestion:.3g}" in printed
    assert summary["policy"] == "wsd"  # the default: it holds the probed rate
    assert summary["rollbacks"] == []  # a healthy run: the guard stays silent
    assert summary["peak_lr"] == pytest.approx(probed.suggestion)
    assert main(["auto", "--task", "tabular-mlp", "--out", str(out), "--no-progress"]) == 2


def test_auto_command_can_skip_the_probe(tmp_path):
    out = tmp_path / "auto"
    argv = ["auto", "--task", "tabular-mlp", "--epochs", "1", "--policy", "constant"]
    assert main([*argv, "--no-probe", "--no-guard", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "auto.json").read_text())
    assert summary["probe"] is None
    assert summary["lr"] == RangeTestResult.from_dict(summary["range_test"]).suggestion


def test_evaluate_weights_by_batch_size_and_restores_the_mode():
    from torch.utils.data import DataLoader, TensorDataset

    from lrkit.torch.evaluation import evaluate

    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(10, 2), torch.randn(10, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)  # batches of 4, 4 and 2
    model.train()
    scores = evaluate(model, loader, torch.nn.MSELoss(), metric=lambda out, t: float(out.mean()))
    with torch.no_grad():
        expected = float(((model(x) - y) ** 2).mean())
        expected_metric = float(model(x).mean())
    assert scores["loss"] == pytest.approx(expected, rel=1e-6)
    assert scores["metric"] == pytest.approx(expected_metric, rel=1e-6)
    assert model.training
    by_step = evaluate(model, loader, step_fn=lambda m, b: ((m(b[0]) - b[1]) ** 2).mean())
    assert by_step["loss"] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="loss_fn, step_fn: give exactly one"):
        evaluate(model, loader)


def test_validating_between_epochs_leaves_the_training_run_as_it_was():
    from lrkit import tasks

    def losses(validate: bool) -> list[float]:
        task = tasks.get("digits-cnn", seed=3)  # dropout: every step draws from torch's RNG
        history = fit(
            task.model,
            task.make_optimizer("adam"),
            task.loss_fn,
            list(itertools.islice(task.train_loader, 6)),
            3,
            val_loader=task.val_loader if validate else None,
            lr=1e-3,
            progress=False,
        )
        return list(history.column("loss"))

    assert losses(validate=True) == losses(validate=False)


def test_training_plot_marks_the_rollbacks(tmp_path, monkeypatch):
    from lrkit.history import History
    from lrkit.plotting import pyplot

    plt = pyplot()
    drawn: list[float] = []
    real_axvline = plt.Axes.axvline
    monkeypatch.setattr(
        plt.Axes, "axvline", lambda ax, x, **kw: drawn.append(x) or real_axvline(ax, x, **kw)
    )
    history = History()
    for step in range(30):
        history.append(step, lr=0.1 if step < 13 else 0.1 / 3, loss=1 / (step + 1))
        if step == 12:
            history.append(step, rollback=1 / 3)
    history.close()
    history.plot(tmp_path / "training.png", title="t")
    assert drawn == [12, 12]  # one line in each panel
    assert (tmp_path / "training.png").stat().st_size > 0


def test_the_overhead_budget_is_half_a_long_run_and_at_most_a_short_one():
    # hand-derived from the formulas in lrkit.plan: min(T, max(T // 2, 300))
    assert [overhead_budget(t) for t in (60, 115, 299, 300, 450, 600, 1000, 5000)] == [
        60,
        115,
        299,
        300,
        300,
        300,
        500,
        2500,
    ]
    assert sweep_budget(115) == (57, 115 - 2 * 19)
    assert sweep_budget(1000) == (100, 500 - 2 * 83)
    assert probe_budget(115, 57) == 29  # (115 - 57) // 2, below a third of the run
    assert probe_budget(5000, 100) == 1200
    assert probe_budget(90, 0) == 30  # a third of the run when the budget allows it
    for total in range(20, 6000, 7):
        budget = overhead_budget(total)
        assert budget <= max(total / 2, min(total, 300))
        num_steps, max_steps = sweep_budget(total)
        for spent in (num_steps, max_steps):  # one sweep, or every retry the bound allows
            assert spent + 2 * probe_budget(total, spent) <= budget


@pytest.mark.parametrize("epochs", [2, 20])
def test_fit_decides_within_its_overhead_budget(epochs):
    from lrkit import tasks

    task = tasks.get("tabular-mlp", seed=0)
    history = fit(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        epochs,
        progress=False,
    )
    plan = history.plan
    total = epochs * len(task.train_loader)
    assert plan.total_steps == total == len(history)
    found, probed = plan.range_test, plan.probe
    assert plan.overhead_steps == found.steps_run + probed.steps * len(probed.lrs)
    assert plan.overhead_steps <= overhead_budget(total)
    assert found.settings["num_steps"] == sweep_budget(total)[0]
    assert plan.lr == probed.suggestion == pytest.approx(history.column("lr").max())
    assert (plan.guard_warmup, plan.save_every) == (total // 10, max(1, total // 50))
    # a sweep the caller chose is not cut to the budget
    chosen = fit(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        epochs,
        find_kwargs={"num_steps": 120},
        progress=False,
    )
    assert chosen.plan.range_test.settings["num_steps"] == 120
    given = fit(
        task.model,
        task.make_optimizer("adam"),
        task.loss_fn,
        task.train_loader,
        epochs,
        find_kwargs={"settings": RangeTestSettings(num_steps=90)},
        progress=False,
    )
    assert given.plan.range_test.settings["num_steps"] == 90


def test_fit_refuses_a_model_that_cannot_learn_and_says_why():
    class Constant(torch.nn.Module):
        """Trainable weights that never reach the output: nothing to learn."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) * 0.0

    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randint(0, 3, (64,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    model = Constant()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    found = find_lr(model, optimizer, loss_fn, loader, progress=False)
    assert len(found.sweeps) == 3 and all("unreadable" in s for s in found.sweeps[:2])
    with pytest.raises(SuggestionError, match="never fell by 1%.*in all 3 sweeps"):
        probe_lr(model, optimizer, loss_fn, loader, candidates=found, steps=5, progress=False)
    # fit retries within its budget: a 320-step run leaves room for one more sweep
    with pytest.raises(SuggestionError, match="never fell by 1%.*in all 2 sweeps"):
        fit(model, optimizer, loss_fn, loader, 40, progress=False)
