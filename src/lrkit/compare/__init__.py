"""Compare learning-rate strategies on a real model: the seeds' experiments in one call.

>>> from lrkit import compare
>>> results = compare.compare("digits-cnn", ["fixed-lrs"], out="runs", epochs=5, seeds=3, jobs=2)
>>> results.verdict().text
'adam 0.01 won with a final validation accuracy of ...'

Workers are started with ``spawn``, so a script that calls :func:`compare` needs the usual
``if __name__ == "__main__":`` guard.

Each (strategy, seed) trains in its own worker process; each finished run is stored at once in
``out/compare.sqlite``, so calling again resumes. :func:`lrkit.report.write_report` turns the
directory into ``report.html``, ``results.json`` and the PNG plots drawn by :func:`plot_curves`,
:func:`plot_lr`, :func:`plot_scores` and :func:`plot_range_tests`. Training needs torch
(``pip install 'lrkit[torch]'``); reading results and reports do not.
"""

from lrkit.compare.api import RANGE_TEST_DEFAULTS, compare
from lrkit.compare.plots import plot_curves, plot_lr, plot_range_tests, plot_scores
from lrkit.compare.presets import merge, names, preset
from lrkit.compare.results import Results
from lrkit.compare.store import FILENAME
from lrkit.compare.strategy import Strategy, load_strategies
from lrkit.compare.summary import Spread, StrategySummary
from lrkit.compare.verdict import Verdict

__all__ = [
    "FILENAME",
    "RANGE_TEST_DEFAULTS",
    "Results",
    "Spread",
    "Strategy",
    "StrategySummary",
    "Verdict",
    "compare",
    "load_strategies",
    "merge",
    "names",
    "plot_curves",
    "plot_lr",
    "plot_range_tests",
    "plot_scores",
    "preset",
]
