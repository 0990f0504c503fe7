"""An open search space: any Optuna distribution, suggest_* in objectives, the metric name,
parameter importances; real searches in memory and on a journal file."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import search_objectives
from lrkit import search
from lrkit.cli import main
from lrkit.search import SearchResult, SearchTrial
from lrkit.search.importance import MIN_TRIALS
from lrkit.search.storage import open_storage
from lrkit.search.study import join

WD = FloatDistribution(1e-6, 1e-3, log=True)


def noisy(trial: SearchTrial) -> float:
    """Set by lr alone, ``-(log10 lr + 2)^2``; ``noise`` moves it by at most 1e-6."""
    return -((math.log10(trial.params["lr"]) + 2.0) ** 2) + 1e-6 * trial.params["noise"]


def test_an_objective_asks_optuna_for_its_own_parameters() -> None:
    result = search.run(
        search_objectives.two_knobs,
        space={"lr": (1e-4, 1.0), "weight_decay": WD},
        sampler="tpe",
        n_trials=8,
        progress=False,
    )
    assert result.counts()["complete"] == 8
    for trial in result.trials:
        assert set(trial.params) == {"lr", "weight_decay", "width"}
        assert trial.params["width"] in range(1, 6)
        assert 1e-6 <= trial.params["weight_decay"] <= 1e-3
        # The objective's own parameter keeps its distribution, so it survives search.json.
        assert trial.distributions == {"width": {"type": "int", "low": 1, "high": 5}}
    again = SearchResult.from_json(result.to_json())
    assert again.trials == result.trials
    study = again.to_study()
    assert study.trials[0].distributions["width"] == IntDistribution(1, 5)
    assert study.trials[0].distributions["weight_decay"] == WD


def test_a_trial_without_optuna_behind_it_says_why_suggest_fails() -> None:
    trial = SearchTrial(0, {"lr": 1e-3}, lambda score, step: None)
    with pytest.raises(RuntimeError, match=r"suggest: .*Ray backend.*put 'width' in the search"):
        trial.suggest_int("width", 1, 5)
    with pytest.raises(RuntimeError, match="optuna_trial: this trial has no Optuna trial"):
        trial.optuna_trial  # noqa: B018


def test_suggest_methods_delegate_to_the_optuna_trial() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    trial = study.ask()
    wrapped = SearchTrial(trial.number, {}, lambda score, step: None, trial)
    assert wrapped.optuna_trial is trial
    value = wrapped.suggest_float("dropout", 0.0, 0.5, step=0.1)
    assert value in [pytest.approx(v / 10) for v in range(6)]
    assert isinstance(wrapped.suggest_int("layers", 2, 32, log=True), int)
    assert wrapped.suggest_categorical("act", ["relu", "gelu"]) in ("relu", "gelu")
    assert trial.distributions == {
        "dropout": FloatDistribution(0.0, 0.5, step=0.1),
        "layers": IntDistribution(2, 32, log=True),
        "act": CategoricalDistribution(["relu", "gelu"]),
    }
    assert wrapped.suggest_int("layers", 2, 32, log=True) == trial.params["layers"]


def test_a_journal_study_keeps_the_space_and_its_metric_name_for_every_worker(
    tmp_path: Path,
) -> None:
    journal = str(tmp_path / "search.journal")
    space = {
        "lr": (1e-4, 1.0),
        "weight_decay": "float:1e-6:1e-3:log",
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
        "act": CategoricalDistribution(["relu", "gelu"]),
    }
    search.create(
        search_objectives.two_knobs,
        space=space,
        sampler="grid",
        n_trials=2 * 3**3,
        storage=journal,
        study_name="open",
    )
    # Another worker rebuilds the same space from the study alone.
    study, config = join(open_storage(journal), "open")
    assert config.space == search.Space.from_dict(space)
    assert config.space["dropout"] == FloatDistribution(0.0, 0.5, step=0.25)
    assert study.metric_names == ["val_accuracy"]
    assert search.work(journal, "open", allow_objectives=["search_objectives:two_knobs"]) == 54
    result = search.load_results(journal, "open")
    assert result.metric == "val_accuracy"
    assert result.counts()["complete"] == 54
    assert {t.params["lr"] for t in result.trials} == {1e-4, 1e-2, 1.0}
    others = {
        (t.params["weight_decay"], t.params["dropout"], t.params["act"]) for t in result.trials
    }
    assert len(others) == 3 * 3 * 2  # every combination of the others, each at 3 lrs
    assert {t.params["dropout"] for t in result.trials} == {0.0, 0.25, 0.5}
    assert {t.params["act"] for t in result.trials} == {"relu", "gelu"}
    assert {t.params["width"] for t in result.trials} <= set(range(1, 6))


def test_importances_rank_the_parameter_that_matters_first() -> None:
    result = search.run(
        noisy,
        space={"lr": (1e-4, 1.0), "noise": FloatDistribution(0.0, 1.0)},
        sampler="random",
        n_trials=20,
        progress=False,
    )
    found = result.importances()
    assert found.varied == ["lr", "noise"] and found.n_trials == 20 and found.missing is None
    assert list(found.values) == ["lr", "noise"]
    assert sum(found.values.values()) == pytest.approx(1.0)
    assert found.values["lr"] > 0.8
    study = result.to_study()
    assert found.values == optuna.importance.get_param_importances(study, params=["lr", "noise"])
    line = found.describe()
    assert line is not None and line.startswith("parameter importances (20 complete trials): lr")
    stored = result.to_dict()["importances"]
    assert stored["values"] == found.values and stored["trials"] == 20


def test_importances_need_several_parameters_and_enough_trials() -> None:
    one = search.run("search_objectives:peak", space={"lr": (1e-4, 1.0)}, sampler="log", n_trials=6)
    assert one.importances().varied == ["lr"] and one.importances().describe() is None
    few = search.run(
        noisy,
        space={"lr": (1e-4, 1.0), "noise": [0, 1]},
        sampler="grid",
        n_trials=MIN_TRIALS - 1,
        progress=False,
    )
    found = few.importances()
    assert found.values == {} and found.varied == ["lr", "noise"]
    assert found.missing == (
        f"not enough trials: importances need at least {MIN_TRIALS} complete trials, "
        f"this search has {MIN_TRIALS - 1}"
    )
    assert found.describe() == f"parameter importances: {found.missing}"


def test_cli_searches_a_param_and_prints_importances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    command = ["search", "--task", "search_objectives:two_knobs", "--no-progress", "--lr"]
    command += ["1e-4", "1", "--param", "weight_decay=float:1e-6:1e-3:log", "--sampler"]
    command += ["random", "--n-trials", "6", "--storage", "memory", "--out", str(out)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "parameter importances (6 complete trials): " in printed
    data = json.loads((out / "search.json").read_text())
    assert data["config"]["space"]["weight_decay"] == {
        "type": "float", "low": 1e-6, "high": 1e-3, "log": True
    }  # fmt: skip
    assert data["config"]["metric"] == "val_accuracy"
    assert set(data["importances"]["values"]) == {"lr", "weight_decay", "width"}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<tr><td") >= 3 and 'id="importances-table"' in page


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--param", "lr=float:1e-4:1"], "--param: lr has its own option --lr"),
        (["--param", "wd=float:1:2", "--param", "wd=int:1:2"], "--param: wd is given twice"),
        (["--param", "wd"], "--param: expected NAME=SPEC"),
        (["--param", "wd=log:1e-6:1"], "wd: cannot read 'log:1e-6:1'; write float:LOW:HIGH"),
        (["--param", "wd=float:0:1:log"], r"wd: a log-scale range needs low > 0"),
        (["--param", "dropout=float:0:0.5"], r"cannot use \['dropout'\]; it trains with lr"),
        (["--param", "weight_decay=float:-1:0"], "weight_decay: must be numbers >= 0"),
    ],
)
def test_cli_refuses_a_bad_param_in_one_line(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["search", "--no-progress", "--storage", "memory", "--out", str(tmp_path / "o")]
    assert main([*command, *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.slow
def test_ray_searches_the_whole_space_but_refuses_suggest_in_the_objective() -> None:
    pytest.importorskip("ray.tune", reason="the ray extra is not installed")
    result = search.run(
        search_objectives.two_knobs,
        space={"lr": (1e-4, 1.0), "weight_decay": WD, "width": IntDistribution(1, 5)},
        sampler="random",
        n_trials=3,
        backend="ray",
        progress=False,
    )
    assert len(result.trials) == 3
    for trial in result.trials:
        assert trial.state == "fail"  # two_knobs asks for width itself: not possible on Ray
        assert (trial.error or "").startswith("RuntimeError: suggest: this trial has no Optuna")
        assert 1e-6 <= trial.params["weight_decay"] <= 1e-3
        assert trial.params["width"] in range(1, 6)
