"""Which parameters mattered: Optuna's parameter importances over a search's complete trials.

They come from :func:`optuna.importance.get_param_importances` with Optuna's default
evaluator (PED-ANOVA in Optuna 4 and later), normalised to sum to 1. They are computed only
when the complete trials vary several parameters, and from at least :data:`MIN_TRIALS`
of them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrkit.search.results import SearchResult

#: Complete trials needed before importances are computed.
MIN_TRIALS = 5


@dataclass(frozen=True)
class Importances:
    """Each varied parameter's share of the importance (largest first), or why there is none.

    ``varied`` are the parameters every complete trial set with more than one value among
    them; ``values`` is empty when ``missing`` says why.
    """

    varied: list[str]
    n_trials: int
    values: dict[str, float] = field(default_factory=dict)
    missing: str | None = None

    @property
    def shown(self) -> bool:
        """Whether there are several varied parameters to rank (with or without values)."""
        return len(self.varied) > 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for ``search.json``."""
        import optuna

        return {
            "evaluator": f"optuna {optuna.__version__} default",
            "trials": self.n_trials,
            "params": list(self.varied),
            "values": dict(self.values),
            "missing": self.missing,
        }

    def describe(self) -> str | None:
        """One line, e.g. ``parameter importances (5 trials): lr 0.8 · optimizer 0.2``;
        ``None`` when the search varied fewer than two parameters."""
        if not self.shown:
            return None
        if self.missing:
            return f"parameter importances: {self.missing}"
        ranked = " · ".join(f"{name} {value:.2g}" for name, value in self.values.items())
        return f"parameter importances ({self.n_trials} complete trials): {ranked}"


def param_importances(result: SearchResult) -> Importances:
    """The importances of ``result``'s varied parameters over its complete trials."""
    import optuna

    done = result.complete
    names = set.intersection(*(set(t.params) for t in done)) if done else set()
    order = list(result.config.get("space", {})) + sorted(names)
    varied = [
        name
        for name in dict.fromkeys(order)
        if name in names and len({repr(t.params[name]) for t in done}) > 1
    ]
    found = Importances(varied=varied, n_trials=len(done))
    if not found.shown:
        return found
    if len(done) < MIN_TRIALS:
        return Importances(
            varied=varied,
            n_trials=len(done),
            missing=f"not enough trials: importances need at least {MIN_TRIALS} complete "
            f"trials, this search has {len(done)}",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's advice on small studies; the count is shown
        values = optuna.importance.get_param_importances(result.to_study(), params=varied)
    return Importances(varied=varied, n_trials=len(done), values=dict(values))
