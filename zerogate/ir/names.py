"""Names an IR may hold: identifiers for networks and layers, plain file names for its files.

Network and layer names end up in generated Verilog, a FuseSoC ``.core`` file (YAML), a Makefile
and reports, so they are restricted to ASCII identifiers of bounded length: safe in every one of
those without quoting. File names in a manifest are plain names of files beside it, so an IR can
never make zerogate read a file outside its own folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zerogate.errors import IRError

if TYPE_CHECKING:
    from zerogate.ir.types import Network

#: Longest network or layer name (they become Verilog and file names).
MAX_NAME_LEN = 64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REEXPORT = "re-export the IR with `zerogate compress`"


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: one short line whatever the value holds."""
    huge = isinstance(value, int) and value.bit_length() > 64  # repr of a giant int is slow or refused
    scalar = isinstance(value, str | int | float | None) and not huge
    text = repr(value) if scalar else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_identifier(name: Any, what: str) -> str:
    """``name`` if it is an identifier of at most :data:`MAX_NAME_LEN` ASCII characters."""
    if isinstance(name, str) and len(name) <= MAX_NAME_LEN and _IDENTIFIER.fullmatch(name):
        return name
    raise IRError(f"{what} {shown(name)} is not an identifier: use 1 to {MAX_NAME_LEN} ASCII letters, "
                  f"digits and '_', not starting with a digit; rename it, or {_REEXPORT}")


def check_names(net: Network) -> None:
    """Check the network's name and every layer's name (:func:`check_identifier`)."""
    check_identifier(net.name, "network name")
    for node in net.layers:
        check_identifier(node.name, "layer name")


def to_identifier(text: str) -> str:
    """An identifier made from ``text`` (a model name or a torch module path like ``features.0``):
    every other character becomes ``_``, a leading digit gets an ``n_`` prefix, and it is cut to
    :data:`MAX_NAME_LEN` characters."""
    ident = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in text)
    if not ident or ident[0].isdigit():
        ident = f"n_{ident}"
    return ident[:MAX_NAME_LEN]


def check_file_name(value: Any, field: str, where: Path) -> str:
    """``value`` if it is a plain file name (no folders, ``..``, absolute path or control
    characters); the message is the same whatever the filesystem holds under that name."""
    if isinstance(value, str) and _FILE_NAME.fullmatch(value) and value not in (".", ".."):
        return value
    raise outside_folder(value, field, where)


def outside_folder(value: Any, field: str, where: Path) -> IRError:
    """The one error for a file name that is not a plain name in the IR folder, or a link out of it."""
    return IRError(f"{where}: {field} {shown(value)} is not a plain file name in the IR folder (no folders, "
                   f"'..', absolute paths or links out of it); name a file beside {where.name}, or "
                   f"{_REEXPORT}")


def inside(folder: Path, name: str, field: str, where: Path) -> Path:
    """``folder / name``, provided that it resolves (following links) to a file directly in ``folder``."""
    path = folder / name
    try:
        ok = path.resolve().parent == folder.resolve()
    except (OSError, RuntimeError):  # a link loop
        ok = False
    if not ok:
        raise outside_folder(name, field, where)
    return path
