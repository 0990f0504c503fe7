"""Which objectives a worker agrees to import.

A study stores its objective as ``module:function``, and a worker joining the study imports
and calls it. Whoever can write to the storage therefore chooses the code every joining
worker runs. A worker runs a stored ``module:function`` only if its own command line allows
it (``--allow-objective module:function``, or ``LRKIT_ALLOW_OBJECTIVES``, comma-separated);
lrkit's built-in tasks are always allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

#: Comma-separated ``module:function`` objectives a worker may import from a study.
ALLOW_ENV = "LRKIT_ALLOW_OBJECTIVES"


def allowed(extra: Iterable[str] = ()) -> set[str]:
    """``extra`` and the objectives named in ``$LRKIT_ALLOW_OBJECTIVES``."""
    names = {name.strip() for name in os.environ.get(ALLOW_ENV, "").split(",")}
    names.update(name.strip() for name in extra)
    names.discard("")
    for name in names:
        module, _, function = name.partition(":")
        if not module or not function:
            raise ValueError(
                f"allow_objectives: {name!r} is not 'module:function' (from --allow-objective "
                f"or ${ALLOW_ENV})"
            )
    return names


def check(description: dict[str, Any] | None, study_name: str, allow: Iterable[str] = ()) -> None:
    """Refuse a stored objective that is neither a built-in task nor allowed."""
    if description is None or description.get("kind") != "callable":
        return  # a built-in task, or an objective no worker can rebuild (refused on loading)
    ref = str(description.get("ref"))
    if ref not in allowed(allow):
        raise ValueError(
            f"objective: study {study_name!r} runs {ref}, which this worker does not allow; "
            f"to run it, add --allow-objective {ref} (or set {ALLOW_ENV}={ref})"
        )
