"""Benchmarks: `python -m bench.<name>` (run through nox sessions)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None] | str) -> None:
    """Write ``path`` through a temporary file beside it, so a reader never sees half a result.

    ``write`` is the text, or a function that writes the temporary path it is given (a plot).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if isinstance(write, str):
            Path(tmp).write_text(write, encoding="utf-8")
        else:
            write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
