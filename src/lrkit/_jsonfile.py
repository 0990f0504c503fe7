"""Results as JSON files: strict JSON, never silently replacing what a user kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lrkit._files import write_text


def write_json(data: Any, path: str | Path | None = None, *, overwrite: bool = False) -> str:
    """``data`` as indented strict JSON (no NaN); also written to ``path`` when given.

    An existing file is only replaced with ``overwrite=True`` (else ``FileExistsError``).
    """
    text = json.dumps(data, indent=2, allow_nan=False)
    if path is not None:
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        write_text(target, text + "\n")
    return text


def read_json_source(source: str | Path) -> Any:
    """Parse ``source``: JSON text (starting with ``{``) or the path of a JSON file."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        text = Path(source).read_text(encoding="utf-8")
    return json.loads(text)
