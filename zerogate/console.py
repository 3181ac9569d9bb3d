"""Console output for the CLI: quiet step lines, rich progress bars for training epochs, and (only
with ``--verbose``) the tools' own output.

Kept apart from the steps themselves so library users get no output unless they ask for it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


def say(msg: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


def tool_line(line: str) -> None:
    """One line of a tool's own output (``--verbose``), verbatim: no markup, no wrapping."""
    console.out(line, highlight=False, style="dim")


@contextmanager
def training_progress() -> Iterator[Any]:
    """A callback drawing one bar per training phase (epochs), or nothing when not on a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn("  {task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(ev: Any) -> None:
            if ev.phase not in tasks:
                tasks[ev.phase] = bars.add_task(ev.phase, total=ev.total, loss=ev.loss)
            bars.update(tasks[ev.phase], completed=ev.completed, loss=ev.loss)

        yield update
