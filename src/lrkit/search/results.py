"""What a search found: the best learning rate with its score, and every trial, as JSON.

The JSON (``"kind": "lrkit.search"``) is what ``lrkit report`` reads. A trial whose worker
died or was interrupted stays in the table as ``fail`` with ``retried_as`` naming the trial
that re-ran its point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lrkit._jsonfile import read_json_result, write_json
from lrkit.search.params import to_distribution, to_json

KIND = "lrkit.search"
VERSION = 1


@dataclass
class TrialRecord:
    """One trial: its point, how it ended and the scores it reported per epoch."""

    number: int
    state: str
    params: dict[str, Any]
    score: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    duration_s: float | None = None
    worker: str | None = None
    retry_of: int | None = None
    retried_as: int | None = None
    error: str | None = None
    distributions: dict[str, Any] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        """Whether it used up one of the budget's trials (a re-run trial did not)."""
        return self.state in ("complete", "pruned", "fail") and self.retried_as is None


_OPTIONAL_NUMBERS = ("score", "duration_s")
_OPTIONAL_TRIALS = ("retry_of", "retried_as")
_OPTIONAL_TEXT = ("worker", "error")


def _trial(item: Any) -> TrialRecord:
    """A :class:`TrialRecord` from its dict, every field checked for its type."""
    if not isinstance(item, dict):
        raise TypeError(f"a trial must be an object, got {type(item).__name__}")
    unknown = set(item) - {f.name for f in fields(TrialRecord)}
    if unknown:
        raise ValueError(f"trial: unknown fields {sorted(unknown)}")
    number = item["number"]
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"trial number must be an integer, got {number!r}")
    if not isinstance(item["state"], str) or not isinstance(item["params"], dict):
        raise TypeError(f"trial {number}: state must be text and params an object")
    checked: dict[str, Any] = {"number": number, "state": item["state"]}
    checked["params"] = {str(k): _param(v) for k, v in item["params"].items()}
    for name in _OPTIONAL_NUMBERS:
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"trial {number}: {name} must be a number, got {value!r}")
        checked[name] = None if value is None else float(value)
    for name in _OPTIONAL_TRIALS:
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"trial {number}: {name} must be a trial number, got {value!r}")
        checked[name] = value
    for name in _OPTIONAL_TEXT:
        value = item.get(name)
        checked[name] = None if value is None else str(value)
    distributions = item.get("distributions", {})
    if not isinstance(distributions, dict):
        raise TypeError(f"trial {number}: distributions must be an object")
    checked["distributions"] = {
        str(k): to_json(str(k), to_distribution(str(k), v)) for k, v in distributions.items()
    }
    intermediate = item.get("intermediate", {})
    if not isinstance(intermediate, dict):
        raise TypeError(f"trial {number}: intermediate must be an object")
    checked["intermediate"] = {
        int(k): math.nan if v is None else float(v) for k, v in intermediate.items()
    }
    return TrialRecord(**checked)


def _param(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a parameter value must be a number or text, got {type(value).__name__}")


@dataclass
class SearchResult:
    """A finished (or interrupted) search; ``best`` is the best complete trial."""

    study_name: str
    config: dict[str, Any]
    trials: list[TrialRecord]
    backend: str = "optuna"
    storage: str = "memory"

    @property
    def direction(self) -> str:
        return str(self.config.get("direction", "maximize"))

    @property
    def metric(self) -> str:
        return str(self.config.get("metric", "score"))

    @property
    def complete(self) -> list[TrialRecord]:
        """Complete trials with a finite score."""
        return [
            t
            for t in self.trials
            if t.state == "complete" and t.score is not None and math.isfinite(t.score)
        ]

    @property
    def best(self) -> TrialRecord | None:
        """The complete trial with the highest (or, minimizing, lowest) score."""
        done = self.complete
        if not done:
            return None
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(done, key=lambda t: (sign * float(t.score or 0.0), -t.number))

    @property
    def best_lr(self) -> float | None:
        best = self.best
        return None if best is None else float(best.params["lr"])

    @property
    def best_score(self) -> float | None:
        best = self.best
        return None if best is None else best.score

    @property
    def best_params(self) -> dict[str, Any]:
        best = self.best
        return {} if best is None else dict(best.params)

    def importances(self) -> Any:
        """Optuna's importances of the varied parameters (an :class:`Importances`)."""
        from lrkit.search.importance import param_importances

        return param_importances(self)

    def counts(self) -> dict[str, int]:
        """How many trials ended in each state; ``done`` counts the budget used."""
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        out["done"] = sum(t.counted for t in self.trials)
        return out

    def table(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Trials as rows, best first (complete, then pruned, then the rest)."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        rank = {"complete": 0, "pruned": 1}

        def key(t: TrialRecord) -> tuple[int, float, int]:
            score = t.score if t.score is not None and math.isfinite(t.score) else math.inf
            return (rank.get(t.state, 2), sign * score if score != math.inf else score, t.number)

        rows = []
        for trial in sorted(self.trials, key=key)[:limit]:
            row: dict[str, Any] = {"trial": trial.number, "state": trial.state}
            row.update(trial.params)
            row[self.metric] = trial.score
            row["epochs"] = len(trial.intermediate)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; non-finite scores become ``None``."""
        best = self.best
        return {
            "kind": KIND,
            "version": VERSION,
            "study": self.study_name,
            "backend": self.backend,
            "storage": self.storage,
            "config": self.config,
            "best": None if best is None else {"trial": best.number, **_trial_dict(best)},
            "counts": self.counts(),
            "importances": self.importances().to_dict(),
            "trials": [_trial_dict(t) for t in self.trials],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        """The inverse of :meth:`to_dict`."""
        if data.get("kind") != KIND:
            raise ValueError(f"search result: expected kind {KIND!r}, got {data.get('kind')!r}")
        try:
            trials = [_trial(item) for item in data["trials"]]
            if not isinstance(data["config"], dict):
                raise TypeError(f"config must be an object, got {type(data['config']).__name__}")
            return cls(
                study_name=str(data["study"]),
                config=dict(data["config"]),
                trials=trials,
                backend=str(data.get("backend", "optuna")),
                storage=str(data.get("storage", "memory")),
            )
        except KeyError as exc:
            raise ValueError(f"search result: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"search result: {exc}") from None

    def to_json(self, path: str | Path | None = None, *, overwrite: bool = False) -> str:
        """The result as JSON text; also written to ``path`` (replaced only with ``overwrite``)."""
        return write_json(self.to_dict(), path, overwrite=overwrite)

    @classmethod
    def from_json(cls, source: str | Path) -> SearchResult:
        """Read a result from JSON text or from a path to a JSON file (named in its errors)."""
        return read_json_result(source, cls.from_dict)

    def to_study(self) -> Any:
        """An in-memory Optuna study holding the finished trials (for Optuna's plots)."""
        import optuna

        from lrkit.search.space import Space

        distributions = Space.from_dict(self.config["space"]).distributions()
        study = optuna.create_study(direction=optuna.study.StudyDirection[self.direction.upper()])
        states = {"complete": optuna.trial.TrialState.COMPLETE}
        for trial in self.trials:
            if trial.state not in states or trial.score is None:
                continue
            own = {k: to_distribution(k, v) for k, v in trial.distributions.items()}
            study.add_trial(
                optuna.trial.create_trial(
                    params=trial.params,
                    distributions={k: own.get(k) or distributions[k] for k in trial.params},
                    value=trial.score,
                )
            )
        return study


def from_study(study: Any, config: dict[str, Any], storage: str) -> SearchResult:
    """Read every trial of an Optuna study into a :class:`SearchResult`."""
    from lrkit.search.worker import ERROR_ATTR, owner

    frozen = study.get_trials(deepcopy=False)
    in_space = set(config.get("space", {}))
    retried_as: dict[int, int] = {}
    for trial in frozen:
        history = trial.system_attrs.get("retry_history") or []
        if history:
            retried_as[int(history[-1])] = trial.number
    trials = []
    for trial in frozen:
        history = trial.system_attrs.get("retry_history") or []
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        trials.append(
            TrialRecord(
                number=trial.number,
                state=trial.state.name.lower(),
                params=dict(trial.params),
                score=trial.value if trial.value is not None else None,
                intermediate={int(k): float(v) for k, v in trial.intermediate_values.items()},
                duration_s=duration,
                worker=owner(trial),
                retry_of=int(history[-1]) if history else None,
                retried_as=retried_as.get(trial.number),
                error=trial.user_attrs.get(ERROR_ATTR),
                distributions={
                    name: to_json(name, dist)
                    for name, dist in trial.distributions.items()
                    if name not in in_space
                },
            )
        )
    return SearchResult(study_name=study.study_name, config=config, trials=trials, storage=storage)


def _trial_dict(trial: TrialRecord) -> dict[str, Any]:
    data = asdict(trial)
    data["score"] = _finite(trial.score)
    data["intermediate"] = {str(k): _finite(v) for k, v in trial.intermediate.items()}
    return data


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
