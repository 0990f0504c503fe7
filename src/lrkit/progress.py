"""Progress bars for long work: rich when it is installed and wanted, silence otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[str], None]


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[Advance]:
    """Yield ``advance(status)``, which moves a bar of ``total`` steps on by one.

    With ``enabled=False``, or without ``rich`` installed, ``advance`` does nothing.
    """
    if not enabled:
        yield _ignore
        return
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        yield _ignore
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(status: str) -> None:
            bar.update(task, advance=1, status=status)

        yield advance


def _ignore(status: str) -> None:
    """An ``advance`` that shows nothing."""
