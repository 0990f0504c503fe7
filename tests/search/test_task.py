"""The built-in task objective: schedules, momentum, per-epoch reports on digits-cnn."""

from __future__ import annotations

import math

import pytest
import torch

from lrkit import search
from lrkit.search import SearchTrial, Space, TaskObjective
from lrkit.search.objective import describe, load
from lrkit.search.task_objective import make_schedule

LR, TOTAL = 0.1, 20


def _lrs(name: str) -> list[float]:
    """The learning rate before each of TOTAL steps under schedule ``name``."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    step = make_schedule(name, optimizer, LR, TOTAL)
    seen = []
    for _ in range(TOTAL):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step(0.0)
    seen.append(optimizer.param_groups[0]["lr"])
    return seen


def test_schedules_follow_their_formulas() -> None:
    t = range(TOTAL + 1)
    assert _lrs("constant") == [LR] * (TOTAL + 1)
    cosine = [LR * (1 + math.cos(math.pi * i / TOTAL)) / 2 for i in t]
    assert _lrs("cosine") == pytest.approx(cosine, abs=1e-12)
    step = [LR if i < 10 else LR * 0.1 if i < 15 else LR * 0.01 for i in t]
    assert _lrs("multistep") == pytest.approx(step)
    assert _lrs("exponential") == pytest.approx([LR * 0.01 ** (i / TOTAL) for i in t])
    assert _lrs("linear") == pytest.approx([LR * (1 - i / TOTAL) for i in t], abs=1e-12)
    onecycle = _lrs("one_cycle")  # fit's one-cycle: peak 2·lr, from peak / 25
    assert max(onecycle) == pytest.approx(2 * LR)
    assert onecycle[0] == pytest.approx(2 * LR / 25) and onecycle[-2] < LR / 1000
    w = 4  # wsd: warm-up over 5 % of the steps (1), lr until the last 20 % (4), then to 0
    assert _lrs("wsd")[:3] == pytest.approx([0.0, LR, LR])
    assert _lrs("wsd")[TOTAL - w :] == pytest.approx([LR * (1 - k / w) for k in range(w + 1)])


def test_the_earlier_names_of_two_schedules_still_work_with_a_warning() -> None:
    for old, new in (("onecycle", "one_cycle"), ("step", "multistep")):
        with pytest.warns(DeprecationWarning, match=f"'{old}' is now '{new}'"):
            assert _lrs(old) == _lrs(new)


def test_unknown_schedule_is_refused() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    with pytest.raises(ValueError, match="schedule: unknown schedule 'warm'"):
        make_schedule("warm", optimizer, LR, TOTAL)


def test_momentum_is_held_as_sgd_momentum_or_adam_beta1() -> None:
    params = [torch.nn.Parameter(torch.zeros(1))]
    sgd = torch.optim.SGD(params, lr=0.1)
    make_schedule("cosine", sgd, 0.1, TOTAL, momentum=0.85)(0.0)
    assert sgd.param_groups[0]["momentum"] == 0.85
    adam = torch.optim.Adam(params, lr=0.1)
    make_schedule("constant", adam, 0.1, TOTAL, momentum=0.8)(0.0)
    assert adam.param_groups[0]["betas"] == (0.8, 0.999)
    with pytest.raises(ValueError, match="momentum: Adagrad has neither momentum nor betas"):
        make_schedule("constant", torch.optim.Adagrad(params, lr=0.1), 0.1, TOTAL, momentum=0.9)


def test_task_objective_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="task: unknown task 'mnist'"):
        TaskObjective(task="mnist")
    with pytest.raises(ValueError, match="epochs: must be an integer >= 1"):
        TaskObjective(epochs=0)
    with pytest.raises(ValueError, match="optimizer: unknown optimizer 'lion'"):
        TaskObjective(optimizer="lion")
    with pytest.raises(ValueError, match=r"schedule: unknown \['warm'\]"):
        search.run("digits-cnn", space={"lr": (1e-3, 1e-1), "schedule": ["warm"]}, n_trials=1)


def test_task_objective_describes_itself_for_other_workers() -> None:
    objective = TaskObjective(task="digits-cnn", epochs=3, seed=7, optimizer="sgd")
    assert describe(objective) == {
        "kind": "task", "task": "digits-cnn", "epochs": 3, "seed": 7, "optimizer": "sgd"
    }  # fmt: skip
    assert load(describe(objective)) == objective


@pytest.mark.slow
def test_digits_search_reports_every_epoch_and_learns() -> None:
    objective = TaskObjective(task="digits-cnn", epochs=2, seed=0)
    result = search.run(
        objective,
        space={"lr": (1e-4, 3e-3), "optimizer": ["adam"]},
        sampler="log",
        n_trials=2,
        progress=False,
    )
    assert result.metric == "accuracy"
    for trial in result.trials:
        assert trial.state == "complete" and sorted(trial.intermediate) == [1, 2]
        assert trial.score == trial.intermediate[2]
    # Adam at 3e-3 learns the digits in two epochs; at 1e-4 it has barely started.
    assert result.best_lr == pytest.approx(3e-3)
    assert (result.best_score or 0) > 0.7
    # The same point gives the same score: each trial rebuilds the task with the same seed.
    again = objective(SearchTrial(0, {"lr": 3e-3, "optimizer": "adam"}, lambda s, e: None))
    assert again == result.best_score


def test_every_space_parameter_reaches_training() -> None:
    reports: list[tuple[float, int]] = []
    trial = SearchTrial(
        0,
        {"lr": 0.05, "optimizer": "sgd", "momentum": 0.9, "schedule": "one_cycle",
         "batch_size": 256},
        lambda score, epoch: reports.append((score, epoch)),
    )  # fmt: skip
    score = TaskObjective(epochs=1)(trial)
    assert [epoch for _, epoch in reports] == [1]
    assert reports[0][0] == score and 0.0 <= score <= 1.0
    space = Space(lr=(1e-3, 1e-1), schedule=("one_cycle",), momentum=(0.5, 0.9))
    TaskObjective().check(space)


@pytest.mark.slow
def test_pruning_stops_training_early_but_never_after_the_last_epoch() -> None:
    def prune(score: float, epoch: int) -> None:
        raise search.Pruned(f"stop at {epoch}")

    with pytest.raises(search.Pruned, match="stop at 1"):
        TaskObjective(epochs=2)(SearchTrial(0, {"lr": 1e-3}, prune))
    score = TaskObjective(epochs=1)(SearchTrial(0, {"lr": 1e-3}, prune))
    assert 0.0 <= score <= 1.0


def test_warmup_ramps_from_zero_then_runs_the_schedule_over_the_rest() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    step = make_schedule("cosine", optimizer, LR, TOTAL, warmup=0.25)
    seen = []
    for _ in range(TOTAL):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step(0.0)
    ramp, rest = 5, TOTAL - 5  # W = round(0.25 · 20)
    expected = [LR * t / ramp for t in range(ramp)]
    expected += [LR * (1 + math.cos(math.pi * t / rest)) / 2 for t in range(rest)]
    assert seen == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match=r"warmup: must be a fraction in \[0, 1\), got 1.0"):
        make_schedule("cosine", optimizer, LR, TOTAL, warmup=1.0)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"dropout": [0.1, 0.2]}, r"cannot use \['dropout'\]; it trains with lr, optimizer"),
        ({"weight_decay": "float:-0.1:0.1"}, r"weight_decay: must be numbers >= 0"),
        ({"weight_decay": ["none"]}, r"weight_decay: must be numbers >= 0"),
        ({"warmup": "float:0:1"}, r"warmup: must be fractions in \[0, 1\)"),
        ({"optimizer": ["lion"]}, r"optimizer: unknown \['lion'\]"),
    ],
)
def test_a_parameter_a_task_cannot_use_is_refused_before_any_trial(
    space: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(ValueError, match=message):
        search.run("digits-cnn", space={"lr": (1e-3, 1e-1), **space}, n_trials=1)


def test_weight_decay_and_warmup_reach_training() -> None:
    def score(**params: float) -> float:
        trial = SearchTrial(0, {"lr": 0.05, "optimizer": "sgd", **params}, lambda s, e: None)
        return TaskObjective(epochs=1)(trial)

    plain = score()
    assert score(weight_decay=0.0) == plain  # no decay is the optimizer's own default
    assert score(weight_decay=0.5) != plain
    assert score(warmup=0.5) != plain
    TaskObjective().check(Space(lr=(1e-3, 1e-1), weight_decay="float:0:0.1", warmup=[0, 0.1]))


def test_task_objective_names_its_tasks_own_metric() -> None:
    assert TaskObjective(task="digits-cnn").metric == "accuracy"
    assert TaskObjective(task="friedman-regression").metric == "r2"
