"""Results as JSON files: strict JSON, never silently replacing what a user kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lrkit._files import write_text

T = TypeVar("T")


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
    """Parse ``source``: JSON text (starting with ``{``) or the path of a JSON file; a file
    that is not a JSON object is a ``ValueError`` naming it and where it breaks."""
    text = str(source)
    name = "the JSON text"
    if not text.lstrip().startswith("{"):
        name = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}: not a JSON file (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object, got {type(data).__name__}")
    return data


def read_json_result(source: str | Path, from_dict: Callable[[dict[str, Any]], T]) -> T:
    """``from_dict`` of :func:`read_json_source`; a ``ValueError`` it raises names the file."""
    data = read_json_source(source)
    try:
        return from_dict(data)
    except ValueError as exc:
        if str(source).lstrip().startswith("{"):
            raise
        raise ValueError(f"{source}: {exc}") from None
