"""A finished (or partly finished) comparison, read back from its directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrkit.compare.store import Store, current_settings
from lrkit.compare.summary import StrategySummary, default_target, summarize
from lrkit.compare.verdict import Verdict, verdict


@dataclass
class Results:
    """Everything stored in ``directory``: settings, strategies, range tests and runs."""

    directory: Path
    settings: dict[str, Any]
    strategies: list[dict[str, Any]]
    range_tests: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]

    def __post_init__(self) -> None:
        """Read values saved before two renames in today's names: a strategy's ``plan`` is
        its ``resolved``, the ``range_test`` setting is ``range_test_settings``."""
        self.settings = current_settings(self.settings)
        self.strategies = [_current_strategy(s) for s in self.strategies]

    @classmethod
    def load(cls, directory: str | Path) -> Results:
        """Read the comparison stored in ``directory`` (``FileNotFoundError`` if none)."""
        with Store(directory, create=False) as store:
            try:
                results = cls(
                    directory=Path(directory),
                    settings=store.settings(),
                    strategies=store.strategies(),
                    range_tests=store.range_tests(),
                    runs=store.runs(),
                )
                results._check()
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{store.path}: not a readable comparison ({exc})") from None
            return results

    def _check(self) -> None:
        """``TypeError`` naming the first stored value of the wrong type."""
        epochs = self.settings.get("epochs", 0)
        if isinstance(epochs, bool) or not isinstance(epochs, int):
            raise TypeError(f"epochs must be an integer, got {epochs!r}")
        for strategy in self.strategies:
            definition = strategy["definition"]
            if not isinstance(definition, dict) or not isinstance(definition.get("name"), str):
                raise TypeError(f"a strategy must be an object with a name, got {definition!r}")
            if not isinstance(strategy["resolved"], (dict, type(None))):
                raise TypeError(
                    f"the resolved strategy of {definition['name']!r} must be an object"
                )
        for run in self.runs:
            if not isinstance(run["record"], (dict, type(None))):
                raise TypeError(f"the run of {run['strategy']!r} must be an object")

    @property
    def names(self) -> list[str]:
        """Strategy names in the order they were added."""
        return [s["definition"]["name"] for s in self.strategies]

    @property
    def metric(self) -> str:
        return str(self.settings.get("metric", "score"))

    def target(self, target: float | None = None) -> float | None:
        """``target`` if given, else the default (see :func:`default_target`)."""
        return target if target is not None else default_target(self.runs)

    def summary(self, target: float | None = None) -> list[StrategySummary]:
        """One row per strategy (see :mod:`lrkit.compare.summary`)."""
        resolved_by_name = {s["definition"]["name"]: s["resolved"] for s in self.strategies}
        return summarize(self.names, self.runs, resolved_by_name, self.target(target))

    def verdict(self, target: float | None = None) -> Verdict:
        """Which strategy won, which diverged, which were too slow."""
        return verdict(
            self.summary(target),
            metric=self.metric,
            target=self.target(target),
            epochs=int(self.settings.get("epochs", 0)),
        )

    def to_dict(self, target: float | None = None) -> dict[str, Any]:
        """The content of ``results.json``: settings, summary, verdict and every run."""
        chosen = self.target(target)
        found = self.verdict(target)
        return {
            "settings": self.settings,
            "target": chosen,
            "summary": [row.to_dict() for row in self.summary(target)],
            "verdict": {
                "winner": found.winner,
                "diverged": found.diverged,
                "too_slow": found.too_slow,
                "failed": found.failed,
                "text": found.text,
            },
            "strategies": self.strategies,
            "range_tests": self.range_tests,
            "runs": self.runs,
        }


def _current_strategy(strategy: Any) -> Any:
    """A stored strategy with its old ``plan`` key under its new name, ``resolved``."""
    if not isinstance(strategy, dict) or "plan" not in strategy or "resolved" in strategy:
        return strategy
    return {("resolved" if key == "plan" else key): value for key, value in strategy.items()}
