"""Rich progress bars and tables shared by the commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Progress and tables go to stderr so that --json output on stdout stays machine-readable.
console = Console(stderr=True)
UNCUT_WIDTH = 1000  # columns when the output is not a terminal (a pipe, a file, a CI log): tables are never cut


def fit_console_width() -> None:
    """Size the console for this run: COLUMNS if set, else the terminal's width, else wide enough for any table."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        console.width = int(columns)
    else:
        console.width = None if console.is_terminal else UNCUT_WIDTH


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``advance(text="")``, a callback that moves the bar one step and shows ``text``. With a ``total``,
    the bar also shows an estimate of the time left."""
    remaining = [TextColumn("elapsed,"), TimeRemainingColumn(), TextColumn("left")] if total is not None else []
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *remaining,
        TextColumn("{task.fields[item]}", style="dim"),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total, item="")

        def advance(text: str = "") -> None:
            progress.update(task, advance=1, item=text)

        yield advance
