"""cocotb test module: the AXI4-Stream wrapper under random TVALID gaps and TREADY back-pressure.

Run by :func:`sim.axis.simulate_axis`. Inputs go in as byte-aligned TDATA lanes (each element in
``bytes_per_input`` bytes, two's complement); every output beat is recorded with its TLAST. The
caller decodes and scores them, so this module only moves bits.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from sim.testbench import pack

CONFIG_ENV = "ZEROGATE_AXIS_SIM_CONFIG"
PERIOD_NS = 10


async def _drive(dut: Any, cfg: dict, x: np.ndarray, rng: random.Random) -> None:
    lanes, beats, width = cfg["in_lanes"], cfg["beats_in"], 8 * cfg["bytes_per_input"]
    for vec in x:
        padded = [int(v) for v in vec] + [0] * (beats * lanes - len(vec))
        for k in range(beats):
            while rng.random() < cfg["gap_probability"]:
                dut.s_axis_tvalid.value = 0
                await RisingEdge(dut.aclk)
            dut.s_axis_tdata.value = pack(padded[k * lanes:(k + 1) * lanes], width)
            dut.s_axis_tlast.value = int(k == beats - 1)
            dut.s_axis_tvalid.value = 1
            while True:
                await ReadOnly()
                accepted = bool(int(dut.s_axis_tready.value))
                await RisingEdge(dut.aclk)
                if accepted:
                    break
    dut.s_axis_tvalid.value = 0


@cocotb.test()
async def stream(dut: Any) -> None:
    cfg_path = Path(os.environ[CONFIG_ENV])
    cfg = json.loads(cfg_path.read_text())
    with np.load(cfg_path.parent / cfg["stimulus"]) as z:
        x = z["x"]
    rng = random.Random(cfg["seed"])
    cocotb.start_soon(Clock(dut.aclk, PERIOD_NS, unit="ns").start())
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    dut.aresetn.value = 0
    for _ in range(3):
        await RisingEdge(dut.aclk)
    dut.aresetn.value = 1
    cocotb.start_soon(_drive(dut, cfg, x, rng))

    beats: list[tuple[int, int]] = []  # (TDATA, TLAST) of every output transfer
    want, cycles = len(x) * cfg["beats_out"], 0
    while len(beats) < want and cycles < cfg["max_cycles"]:
        ready = int(rng.random() >= cfg["stall_probability"])
        dut.m_axis_tready.value = ready
        await ReadOnly()
        if ready and int(dut.m_axis_tvalid.value):
            beats.append((int(dut.m_axis_tdata.value), int(dut.m_axis_tlast.value)))
        await RisingEdge(dut.aclk)
        cycles += 1
    dut.m_axis_tready.value = 1
    for _ in range(cfg["drain_cycles"]):  # anything more would be a spurious output
        await ReadOnly()
        if int(dut.m_axis_tvalid.value):
            beats.append((int(dut.m_axis_tdata.value), int(dut.m_axis_tlast.value)))
        await RisingEdge(dut.aclk)
    Path(cfg["result"]).write_text(json.dumps({"beats": beats, "cycles": cycles}) + "\n")
