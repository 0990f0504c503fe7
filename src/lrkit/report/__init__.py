"""Reports of comparisons and searches: a self-contained ``report.html`` and its PNG plots.

>>> from lrkit import report
>>> paths = report.write_report("runs")       # written by lrkit.compare.compare or lrkit search
>>> paths["report.html"]
PosixPath('runs/report.html')

A directory holding ``compare.sqlite`` is a comparison (``report.html``, ``results.json`` and
``plots/*.png``); one holding ``search.json`` is a search (``report.html`` and the
``search_*.png`` plots next to it).
"""

from lrkit.report.write import load, write_report, write_search_report

__all__ = ["load", "write_report", "write_search_report"]
