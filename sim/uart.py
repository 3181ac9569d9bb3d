"""The UART board top level on Verilator, reachable as a serial port, for host code to drive.

``uart_simulation`` builds the bundle's ``zerogate_uart_top`` (the same rendered Verilog, with a
small clock divider instead of a board clock), starts it in the background and yields a
:class:`UartSimulation` whose ``port`` is a pseudo-terminal: ``Board(sim.port, sim.protocol)`` then
talks to the simulated hardware through pyserial, exactly as it talks to a real board.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwgen.verilog import GeneratedDesign
from sim.runner import WARNING_ARGS
from sim.tools import find_verilator, make_environment
from sim.uart_tb import CONFIG_ENV
from zerogate.bundle import UART_TOP, render_rtl
from zerogate.errors import ConfigError, ToolError
from zerogate.host import UartProtocol

#: Nominal baud rate of the simulated link. A pty ignores it; the host uses it (with
#: ``timeout_bits``) only to time its silence when resynchronising, so it is kept low.
SIM_BAUD = 1200


@dataclass
class UartSimulation:
    """A running simulation: the serial port to open, and the protocol to speak on it (its design id
    is the simulated accelerator's, as in the bundle's ``protocol.json``)."""

    port: str
    protocol: UartProtocol
    build_dir: Path
    result: dict[str, Any] = field(default_factory=dict)  # filled in when the simulation ends


def verilate(sources: list[Path], top: str, build_dir: Path, parameters: dict[str, int] | None = None, *,
             waves: bool = False) -> Any:
    """Build ``top`` from ``sources`` with Verilator into ``build_dir/obj``; return the cocotb runner."""
    verilator_root = find_verilator().parent.parent
    from cocotb_tools.runner import get_runner  # only needed (and importable) with cocotb

    runner = get_runner("verilator")
    build_log = build_dir / "build.log"
    try:
        with make_environment(verilator_root):
            runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir / "obj",
                         build_args=WARNING_ARGS, parameters=parameters or {}, always=True, waves=waves,
                         log_file=build_log)
    except (RuntimeError, SystemExit) as e:
        raise ToolError(f"Verilator build failed ({e}); see {build_log}") from None
    return runner


@contextmanager
def uart_simulation(design: GeneratedDesign, build_dir: Path, *, div: int = 8, timeout_bits: int = 64,
                    idle_limit_s: float = 120.0, start_timeout_s: float = 600.0,
                    waves: bool = False) -> Iterator[UartSimulation]:
    """Build and run the UART top level for ``design``; yield its serial port while it runs.

    ``div`` is the number of clock cycles per UART bit (>= 4); ``timeout_bits`` the board's
    request timeout. Leaving the ``with`` block stops the simulation and fills ``result``
    (bytes each way, framing errors seen on ``uart_tx``, simulated cycles).
    """
    if div < 4:
        raise ConfigError(f"div {div} is too small: the UART needs at least 4 clock cycles per bit")
    build_dir = Path(build_dir).resolve()
    rtl = build_dir / "rtl"
    ours = render_rtl(design, rtl)
    sources = [design.verilog_path, *(p for p in ours if p.stem != "zerogate_axis")]
    port_file, stop_file, result_file = (build_dir / n for n in ("port", "stop", "result.json"))
    for f in (port_file, stop_file, result_file):
        f.unlink(missing_ok=True)
    cfg_path = build_dir / "uart_sim.json"
    cfg_path.write_text(json.dumps({"div": div, "port_file": str(port_file), "stop_file": str(stop_file),
                                    "result": str(result_file), "idle_limit_s": idle_limit_s}) + "\n")
    log = build_dir / "sim.log"
    # DIV = CLK_HZ / BAUD cycles per bit: the same Verilog as on a board, another divider
    runner = verilate(sources, UART_TOP, build_dir, {"CLK_HZ": div, "BAUD": 1, "TIMEOUT_BITS": timeout_bits},
                      waves=waves)

    failure: list[BaseException] = []

    def run() -> None:
        try:
            runner.test(test_module="sim.uart_tb", hdl_toplevel=UART_TOP, build_dir=build_dir / "obj",
                        test_dir=build_dir, results_xml=str(build_dir / "results.xml"),
                        extra_env={CONFIG_ENV: str(cfg_path), "PYTHONDONTWRITEBYTECODE": "1"},
                        log_file=log, waves=waves)
        except (RuntimeError, SystemExit) as e:
            failure.append(e)

    thread = threading.Thread(target=run, name="uart-sim", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not port_file.is_file():
        if not thread.is_alive() or time.monotonic() > deadline:
            stop_file.touch()
            thread.join(timeout=30)
            raise ToolError(f"the UART simulation did not start; see {log}")
        time.sleep(0.05)
    sim = UartSimulation(port=port_file.read_text().strip(),
                         protocol=UartProtocol.from_design(design, baud=SIM_BAUD, timeout_bits=timeout_bits),
                         build_dir=build_dir)
    try:
        yield sim
    finally:
        stop_file.touch()
        thread.join(timeout=120)
    if thread.is_alive() or failure or not result_file.is_file():
        raise ToolError(f"the UART simulation did not finish cleanly; see {log}")
    sim.result = json.loads(result_file.read_text())
