"""Tasks for the compare tests, named ``compare_tasks:NAME``: worker processes import them
through the parent's ``sys.path`` (``tests/helpers/`` is on it: pytest's ``pythonpath`` in
pyproject.toml).
"""

from __future__ import annotations

import os
from typing import Any


def flaky_digits(seed: int = 0, batch_size: int | None = None) -> Any:
    """digits-cnn in the test process; an error in any other process."""
    from lrkit import tasks

    if str(os.getpid()) != os.environ.get("LRKIT_TEST_PARENT"):
        raise RuntimeError("no data in this process")
    return tasks.get("digits-cnn", seed=seed, batch_size=batch_size)
