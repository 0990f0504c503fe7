"""The same search on a Ray cluster: Ray Tune runs the trials, Optuna's sampler proposes
them (``OptunaSearch``), and Ray's schedulers stop poor ones (ASHA, median, Hyperband).

Grid and log sweeps become one ``grid_search`` over the sweep's points, so each point runs
once. The trials come back as the same :class:`SearchResult` as an Optuna search.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import warnings
from typing import Any

from lrkit._optional import require
from lrkit.search.objective import Objective, SearchTrial
from lrkit.search.results import SearchResult, TrialRecord
from lrkit.search.study import SearchConfig, make_sampler

METRIC = "score"
TIME_ATTR = "epoch"


def run_ray(
    objective: Objective,
    config: SearchConfig,
    *,
    workers: int = 1,
    address: str | None = None,
    name: str | None = None,
    progress: bool = True,
) -> SearchResult:
    """Run ``config``'s search with Ray Tune, ``workers`` trials at a time.

    Connects to the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``), or starts a
    local Ray for the duration of the search when none is running and no address is given
    (its workers get this process's ``sys.path``). On a cluster, the objective's module must
    be importable on every node.
    """
    ray = require("ray", "ray")
    tune = require("ray.tune", "ray")
    started_here = not ray.is_initialized()
    if started_here:
        # Local Ray workers import the objective from the same paths as this process.
        paths = os.pathsep.join(path for path in sys.path if path)
        runtime_env = None if address else {"env_vars": {"PYTHONPATH": paths}}
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=progress,
            runtime_env=runtime_env,
        )
    try:
        mode = "max" if config.direction == "maximize" else "min"
        search_alg, param_space, num_samples = _search(config, mode)
        experiment = name or config.default_study_name()
        with tempfile.TemporaryDirectory(prefix="lrkit-ray-") as scratch:
            tuner = tune.Tuner(
                tune.with_parameters(_trainable, objective=objective),
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric=METRIC,
                    mode=mode,
                    search_alg=search_alg,
                    scheduler=_scheduler(config),
                    num_samples=num_samples,
                    max_concurrent_trials=workers,
                ),
                run_config=tune.RunConfig(
                    name=experiment, storage_path=scratch, verbose=1 if progress else 0
                ),
            )
            grid = tuner.fit()
            trials = [_record(number, grid[number]) for number in range(len(grid))]
    finally:
        if started_here:
            ray.shutdown()
    return SearchResult(
        study_name=experiment,
        config=config.to_dict(),
        trials=trials,
        backend="ray",
        storage=f"ray:{address or 'local'}",
    )


def _search(config: SearchConfig, mode: str) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, parameter space, number of samples) for Ray Tune."""
    tune = require("ray.tune", "ray")
    if config.sampler in ("grid", "log"):
        return None, {"point": tune.grid_search(config.points())}, 1
    from ray.tune.search.optuna import OptunaSearch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searcher = OptunaSearch(
            space=_DefineByRun(config.space), metric=METRIC, mode=mode, sampler=make_sampler(config)
        )
    return searcher, {}, config.n_trials


class _DefineByRun:
    """Optuna's define-by-run space for ``OptunaSearch`` (a class, so Ray can pickle it)."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, trial: Any) -> None:
        self.space.suggest(trial)


def _scheduler(config: SearchConfig) -> Any:
    """Ray's scheduler for ``config.pruner`` over reported epochs (``None``: run all out)."""
    from ray.tune import schedulers

    max_t = config.max_resource or 100
    if config.pruner == "asha":
        return schedulers.ASHAScheduler(
            time_attr=TIME_ATTR, max_t=max_t, grace_period=1, reduction_factor=3
        )
    if config.pruner == "hyperband":
        return schedulers.HyperBandScheduler(time_attr=TIME_ATTR, max_t=max_t, reduction_factor=3)
    if config.pruner == "median":
        return schedulers.MedianStoppingRule(
            time_attr=TIME_ATTR, grace_period=1, min_samples_required=3
        )
    return None


def _trainable(ray_config: dict[str, Any], objective: Objective) -> None:
    """Run one trial inside a Ray worker; each ``trial.report`` becomes a Tune result."""
    from ray import tune

    params = dict(ray_config.get("point", ray_config))
    trial_id = tune.get_context().get_trial_id() or "0"
    suffix = trial_id.rsplit("_", 1)[-1]
    number = int(suffix) if suffix.isdigit() else 0
    last_step = 0

    def report(score: float, step: int) -> None:
        nonlocal last_step
        last_step = step
        tune.report({METRIC: score, TIME_ATTR: step, "params": params})

    try:
        value = objective(SearchTrial(number, params, report))
    except SystemExit as exc:  # would end the Ray worker; Ray fails the trial on an exception
        raise RuntimeError(f"the objective called sys.exit({exc.code!r})") from None
    final = {METRIC: float(value), TIME_ATTR: max(last_step, 1), "final": True, "params": params}
    tune.report(final)


def _record(number: int, result: Any) -> TrialRecord:
    """A Ray Tune result as a trial record: complete, pruned (stopped early) or fail."""
    metrics = result.metrics or {}
    params = dict(metrics.get("params") or result.config.get("point", result.config))
    intermediate: dict[int, float] = {}
    frame = result.metrics_dataframe
    if frame is not None and METRIC in frame:
        for _, row in frame.iterrows():
            if row.get("final") is True:
                continue
            intermediate[int(row[TIME_ATTR])] = float(row[METRIC])
    if result.error is not None:
        cause = getattr(result.error, "cause", None) or result.error  # a RayTaskError wraps it
        state, error = "fail", f"{type(cause).__name__}: {cause}"[:500]
    else:
        state, error = ("complete" if metrics.get("final") else "pruned"), None
    score = metrics.get(METRIC)
    score = float(score) if score is not None and math.isfinite(float(score)) else None
    return TrialRecord(
        number=number,
        state=state,
        params=params,
        score=score if state == "complete" else None,
        intermediate=intermediate,
        duration_s=metrics.get("time_total_s"),
        worker=metrics.get("hostname"),
        error=error,
    )
