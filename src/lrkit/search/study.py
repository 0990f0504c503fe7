"""A search's settings, and the Optuna study that holds its trials.

The study is created once, by whoever wins :func:`optuna.create_study`. Its creator stores
the settings in the study and enqueues the whole budget as ``n_trials`` waiting trials:
grid and log sweeps with each point fixed, other samplers with no point fixed (the sampler
fills it in when a worker takes the trial). Workers only take waiting trials, never create
new ones, so the study ends with exactly ``n_trials`` trials done and each grid point
evaluated once, however many workers join. (Optuna's ``MaxTrialsCallback`` stops each worker
only after its own next trial, so N workers can run up to N - 1 trials too many, and
``GridSampler`` with several workers can evaluate a point twice.)
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from lrkit.search.space import Space

SAMPLERS = ("tpe", "grid", "log", "random")
PRUNERS = ("hyperband", "median", "asha")
DIRECTIONS = ("maximize", "minimize")

CONFIG_ATTR = "lrkit_search"
READY_ATTR = "lrkit_ready"
SLOT_ATTR = "lrkit_slot"


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; stored in the study so workers can join it."""

    space: Space
    sampler: str = "tpe"
    pruner: str | None = None
    n_trials: int = 20
    seed: int = 0
    direction: str = "maximize"
    objective: dict[str, Any] | None = None
    metric: str = "score"
    max_resource: int | None = None
    heartbeat_interval: int = 10

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler: unknown sampler {self.sampler!r}; choose from {SAMPLERS}")
        if self.pruner is not None and self.pruner not in PRUNERS:
            raise ValueError(
                f"pruner: unknown pruner {self.pruner!r}; choose None or one of {PRUNERS}"
            )
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int):
            raise TypeError(f"n_trials: must be an integer, got {self.n_trials!r}")
        if self.n_trials < 1:
            raise ValueError(f"n_trials: must be >= 1, got {self.n_trials}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.max_resource is not None and self.max_resource < 1:
            raise ValueError(f"max_resource: must be >= 1, got {self.max_resource}")
        self.points()

    def points(self) -> list[dict[str, Any]]:
        """The fixed parameters of each of the ``n_trials`` slots (empty: sampled later)."""
        if self.sampler == "grid":
            return self.space.grid(self.n_trials)
        if self.sampler == "log":
            return self.space.log_sweep(self.n_trials)
        return [{} for _ in range(self.n_trials)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; the inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["space"] = self.space.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """Settings read back from a study or a results file."""
        fields = dict(data)
        fields["space"] = Space.from_dict(fields["space"])
        return cls(**fields)

    def default_study_name(self) -> str:
        """``lrkit-<sampler>-<hash>``: the same settings give the same name, so a rerun resumes."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return f"lrkit-{self.sampler}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def make_sampler(config: SearchConfig, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """TPE (constant liar, for parallel workers) or random; grid points are already fixed."""
    seed = config.seed + worker_index
    if config.sampler == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    """Median, Hyperband or ASHA (asynchronous successive halving) over reported epochs."""
    max_resource: int | str = config.max_resource or "auto"
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_resource, reduction_factor=3
        )
    if config.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def create_or_load(
    storage: Any, study_name: str, config: SearchConfig, where: str = "storage"
) -> optuna.Study:
    """Create the study and enqueue its budget, or load it if it exists with the same settings."""
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction=_direction(config.direction),
            sampler=make_sampler(config),
            pruner=make_pruner(config),
        )
        study.set_user_attr(CONFIG_ATTR, config.to_dict())
        with warnings.catch_warnings():  # experimental since Optuna 3.2, shown by optuna-dashboard
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.metric])
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(
            study_name=study_name,
            storage=storage,
            sampler=make_sampler(config),
            pruner=make_pruner(config),
        )
        stored = _stored_config(study, where)
        if stored != config:
            changed = [
                key for key, value in config.to_dict().items() if stored.to_dict().get(key) != value
            ]
            raise ValueError(
                f"study: {study_name!r} already exists in {where} with other "
                f"settings ({', '.join(changed)}); choose another study name to start afresh"
            ) from None
    if not study.user_attrs.get(READY_ATTR):
        _enqueue_missing_slots(study, config)
        study.set_user_attr(READY_ATTR, True)
    return study


def join(
    storage: Any,
    study_name: str,
    worker_index: int = 0,
    *,
    where: str = "storage",
    wait: float = 60.0,
) -> tuple[optuna.Study, SearchConfig]:
    """Load an lrkit study as a worker; waits up to ``wait`` s for its creator to enqueue it."""
    try:
        probe = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ValueError(
            f"study: no study named {study_name!r} in {where}; start it with "
            "'lrkit search ... --storage URL --study-name NAME' first"
        ) from None
    config = _stored_config(probe, where)
    deadline = time.monotonic() + wait
    while not probe.user_attrs.get(READY_ATTR):
        if time.monotonic() > deadline:
            raise ValueError(f"study: {study_name!r} was never made ready by its creator")
        time.sleep(0.5)
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=make_sampler(config, worker_index),
        pruner=make_pruner(config),
    )
    return study, config


def _direction(name: str) -> optuna.study.StudyDirection:
    return optuna.study.StudyDirection[name.upper()]


def _stored_config(study: optuna.Study, where: str) -> SearchConfig:
    data = study.user_attrs.get(CONFIG_ATTR)
    if data is None:
        raise ValueError(f"study: {study.study_name!r} in {where} was not made by lrkit search")
    return SearchConfig.from_dict(data)


def _enqueue_missing_slots(study: optuna.Study, config: SearchConfig) -> None:
    """Enqueue every slot not yet in the study (all of them, unless a creator died midway)."""
    present = {trial.user_attrs.get(SLOT_ATTR) for trial in study.get_trials(deepcopy=False)}
    for slot, point in enumerate(config.points()):
        if slot not in present:
            study.enqueue_trial(point, user_attrs={SLOT_ATTR: slot})
