"""Search for the best learning rate with Optuna (or Ray Tune): on one machine or many.

>>> from lrkit import search
>>> result = search.run("digits-cnn", space={"lr": (1e-4, 1e-1)}, sampler="tpe",
...                     pruner="median", n_trials=20)
>>> result.best_lr, result.best_score
"""

from lrkit._optional import require

require("optuna", "search")

from lrkit.search.objective import Objective, Pruned, SearchTrial  # noqa: E402
from lrkit.search.outage import StorageUnreachable  # noqa: E402
from lrkit.search.plots import plot_parallel_coordinates, plot_score_vs_lr, save_plots  # noqa: E402
from lrkit.search.results import SearchResult, TrialRecord  # noqa: E402
from lrkit.search.runner import (  # noqa: E402
    UNREACHABLE_STATUS,
    SearchStopped,
    WorkerLost,
    create,
    load_results,
    run,
    work,
)
from lrkit.search.space import Space  # noqa: E402
from lrkit.search.storage import open_storage, redact  # noqa: E402
from lrkit.search.study import PRUNERS, SAMPLERS, SearchConfig  # noqa: E402
from lrkit.search.task_objective import SCHEDULES, TaskObjective  # noqa: E402

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "SCHEDULES",
    "UNREACHABLE_STATUS",
    "Objective",
    "Pruned",
    "SearchConfig",
    "SearchResult",
    "SearchStopped",
    "SearchTrial",
    "Space",
    "StorageUnreachable",
    "TaskObjective",
    "TrialRecord",
    "WorkerLost",
    "create",
    "load_results",
    "open_storage",
    "plot_parallel_coordinates",
    "plot_score_vs_lr",
    "redact",
    "run",
    "save_plots",
    "work",
]
