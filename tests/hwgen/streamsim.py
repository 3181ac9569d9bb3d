"""Drive and watch valid/ready streams in Amaranth's own simulator, with optional random stalls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator, SimulatorContext


@dataclass(frozen=True)
class StreamRun:
    outputs: list[list[int]]
    accept_cycles: list[int]  # cycle (edge index) at which each input was accepted
    output_cycles: list[int]  # cycle at which each output was taken


def run_streams(dut: wiring.Component, inputs: Sequence[Sequence[int]], n_out: int, *, seed: int = 0,
                gaps: float = 0.0, backpressure: float = 0.0, max_cycles: int = 20_000) -> StreamRun:
    """Send ``inputs`` into ``dut.i`` and collect ``n_out`` payloads from ``dut.o``.

    ``gaps``: chance per item of idle cycles before it; ``backpressure``: chance per cycle
    that ``o.ready`` is low. Valid stays high until accepted, like AXI-Stream. A DUT with a
    ``ready_next`` port is held to its contract on every cycle: it equals ``i.ready`` one cycle
    later (a producer plans its enables on it, so a wrong value loses or repeats data there).
    """
    rng = np.random.default_rng(seed)
    gap_len = [int(rng.integers(1, 4)) if rng.random() < gaps else 0 for _ in inputs]
    ready = [not (rng.random() < backpressure) for _ in range(max_cycles)]
    accepted: list[int] = []
    taken: list[int] = []
    outputs: list[list[int]] = []

    async def driver(ctx: SimulatorContext) -> None:
        cycle = 0
        for x, gap in zip(inputs, gap_len, strict=True):
            ctx.set(dut.i.valid, 0)
            for _ in range(gap):
                await ctx.tick()
                cycle += 1
            ctx.set(dut.i.payload, [int(v) for v in x])
            ctx.set(dut.i.valid, 1)
            while True:
                *_, rdy = await ctx.tick().sample(dut.i.ready)
                cycle += 1
                if rdy:
                    accepted.append(cycle)
                    break
        ctx.set(dut.i.valid, 0)

    async def monitor(ctx: SimulatorContext) -> None:
        for cycle in range(1, max_cycles + 1):
            ctx.set(dut.o.ready, ready[cycle - 1])
            *_, valid, rdy, payload = await ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload)
            if valid and rdy:
                outputs.append([int(v) for v in payload])
                taken.append(cycle)
                if len(outputs) == n_out:
                    # keep watching a little: nothing more may come out
                    for _ in range(20):
                        ctx.set(dut.o.ready, 1)
                        *_, valid = await ctx.tick().sample(dut.o.valid)
                        assert not valid, "the DUT produced more outputs than it was given inputs"
                    return
        raise AssertionError(f"only {len(outputs)} of {n_out} outputs after {max_cycles} cycles")

    async def ready_next_watch(ctx: SimulatorContext) -> None:
        *_, promised = await ctx.tick().sample(dut.ready_next)
        for cycle in range(2, max_cycles + 1):
            *_, rdy, nxt = await ctx.tick().sample(dut.i.ready, dut.ready_next)
            assert rdy == promised, f"cycle {cycle}: i.ready is {rdy}, ready_next said {promised}"
            promised = nxt

    top = Module()  # declares the clock domain even for a DUT that is only wires
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    if "ready_next" in dut.signature.members:
        sim.add_testbench(ready_next_watch, background=True)
    sim.run()
    return StreamRun(outputs, accepted, taken)
