"""Console output for the CLI: quiet step lines, rich progress bars for training epochs, and (only
with ``--verbose``) the tools' own output.

Kept apart from the steps themselves so library users get no output unless they ask for it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


def say(msg: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}", soft_wrap=True)  # one line stays one


def tool_line(line: str) -> None:
    """One line of a tool's own output (``--verbose``), verbatim: no markup, no wrapping."""
    console.out(line, highlight=False, style="dim")


@contextmanager
def build_progress() -> Iterator[tuple[Any, Callable[[str], None]]]:
    """A training callback and a step logger for a long command.

    On a terminal one rich display shows a bar per training phase (epochs, loss) and a row per step
    with its elapsed time (steps are messages ending in " …"); other messages print above it.
    Elsewhere the callback is None and the logger prints plain step lines.
    """
    if not sys.stderr.isatty():
        yield None, say
        return
    with Progress(
        TextColumn("  {task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}
        running: list[Any] = []

        def update(ev: Any) -> None:
            if ev.phase not in tasks:
                tasks[ev.phase] = bars.add_task(ev.phase, total=ev.total, info="")
            bars.update(tasks[ev.phase], completed=ev.completed, info=f"loss {ev.loss:.4f}")

        def log(msg: str) -> None:
            if msg.endswith(" …"):
                for task in running:  # the previous step has finished
                    bars.update(task, total=1, completed=1)
                running[:] = [bars.add_task(msg.removesuffix(" …"), total=None, info="")]
            else:
                say(msg)

        yield update, log
        for task in running:
            bars.update(task, total=1, completed=1)


@contextmanager
def training_progress() -> Iterator[Any]:
    """A callback drawing one bar per training phase (epochs), or nothing when not on a terminal."""
    with build_progress() as (update, _log):
        yield update
