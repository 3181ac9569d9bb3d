"""cocotb test module: the simulated UART board top level, wired to a pseudo-terminal.

Run by :func:`sim.uart.uart_simulation` inside the simulator process. The pty's slave side is a
serial port like any other (its name is written to the file the config names), so a host program,
:class:`zerogate.host.Board` included, drives the simulation exactly as it drives a board: bytes it
writes are clocked onto ``uart_rx`` as 8N1 frames, and frames the design sends on ``uart_tx`` are
decoded and handed back. The run ends when the stop file appears, or after ``idle_limit_s`` seconds
without host traffic; a JSON result with byte counts, framing errors and cycles is written then.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, Timer

CONFIG_ENV = "ZEROGATE_UART_SIM_CONFIG"
PERIOD_NS = 10


@dataclass
class _Link:
    master: int
    bit_ns: int
    to_host: int = 0
    from_host: int = 0
    framing_errors: int = 0
    last_traffic: float = 0.0


def _read_host(link: _Link) -> bytes:
    try:
        data = os.read(link.master, 4096)
    except BlockingIOError:
        return b""
    except OSError as e:  # EIO: no process has the port open (yet, or any more)
        if e.errno == errno.EIO:
            return b""
        raise
    if data:
        link.from_host += len(data)
        link.last_traffic = time.monotonic()
    return data


async def _send_byte(dut: Any, link: _Link, byte: int) -> None:
    """One 8N1 frame on ``uart_rx``: start bit, eight data bits LSB first, stop bit."""
    for level in (0, *((byte >> i) & 1 for i in range(8)), 1):
        dut.uart_rx.value = level
        await Timer(link.bit_ns, unit="ns")


async def _monitor(dut: Any, link: _Link) -> None:
    """Decode every frame on ``uart_tx`` (sampled mid-bit) and pass the byte to the host."""
    while True:
        await FallingEdge(dut.uart_tx)
        await Timer(link.bit_ns + link.bit_ns // 2, unit="ns")
        byte = 0
        for i in range(8):
            byte |= int(dut.uart_tx.value) << i
            await Timer(link.bit_ns, unit="ns")
        if not int(dut.uart_tx.value):
            link.framing_errors += 1
        os.write(link.master, bytes([byte]))
        link.to_host += 1
        link.last_traffic = time.monotonic()


@cocotb.test()
async def serve(dut: Any) -> None:
    cfg = json.loads(Path(os.environ[CONFIG_ENV]).read_text())
    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo or line editing until (and after) the host configures the port
    os.set_blocking(master, False)
    link = _Link(master=master, bit_ns=cfg["div"] * PERIOD_NS, last_traffic=time.monotonic())
    stop = Path(cfg["stop_file"])

    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.uart_rx.value = 1
    await Timer(40 * PERIOD_NS, unit="ns")  # past the power-on reset
    cocotb.start_soon(_monitor(dut, link))
    port_file = Path(cfg["port_file"])
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(os.ttyname(slave))
    os.replace(tmp, port_file)

    idle_polls = 0
    while not stop.exists() and time.monotonic() - link.last_traffic < cfg["idle_limit_s"]:
        data = _read_host(link)
        for byte in data:
            await _send_byte(dut, link, byte)
        if data:
            idle_polls = 0
            continue
        idle_polls += 1
        if idle_polls > 2000:  # the host is thinking, or gone: do not burn a core meanwhile
            time.sleep(0.0005)
        await Timer(link.bit_ns, unit="ns")
    cycles = int(get_sim_time("ns") // PERIOD_NS)
    Path(cfg["result"]).write_text(json.dumps({
        "bytes_from_host": link.from_host, "bytes_to_host": link.to_host,
        "framing_errors": link.framing_errors, "cycles": cycles,
        "stopped": stop.exists(),
    }) + "\n")
    os.close(slave)
    os.close(master)
