"""Files written in one step: a reader (or a full disk) never leaves half a file behind.

Every finished file lrkit writes goes through :func:`replaced`: the content is written to a
temporary file beside the target, flushed to disk, and renamed over the target (``os.replace``
is atomic on POSIX and Windows). If writing fails — a full or read-only disk, an exception, an
interrupt — the temporary file is removed and the old target is untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) to write; on success it replaces
    ``path``, on any failure it is removed. An ``OSError`` (a full or read-only disk) names
    ``path``."""
    target = Path(path)
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".partial{target.suffix}", dir=target.parent
        )
    except OSError as exc:
        raise _naming(exc, target) from exc
    os.close(handle)
    partial = Path(name)
    try:
        os.chmod(partial, _mode(target))
        yield partial
        with partial.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _naming(exc, target) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` as the same kind of error about ``target`` (not its temporary file)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(target))


def _mode(target: Path) -> int:
    """The permissions the target keeps: its own, or what a new file gets (not ``mkstemp``'s
    owner-only ``0o600``)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` in one step."""
    with replaced(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def save_figure(figure: Any, path: str | Path, **options: Any) -> Path:
    """``figure.savefig`` to ``path`` in one step (the format comes from ``path``'s suffix)."""
    target = Path(path)
    options.setdefault("format", target.suffix.lstrip(".") or None)
    with replaced(target) as partial:
        figure.savefig(partial, **options)
    return target
