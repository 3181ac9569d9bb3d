"""A planned sliding window (``lookahead``: its "output free", load enable and ``i.ready`` are
flip-flops worked out a cycle ahead) behaves exactly like the plain one, cycle by cycle, under
random input gaps and back-pressure from a consumer whose ``ready`` is a register."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.sim import Simulator, SimulatorContext

from hwgen.window import Geometry, SlidingWindow

GEOMETRIES = {
    "3x3-pad1": Geometry(2, 4, 4, (3, 3), (1, 1), (1, 1)),
    "2x2-stride2": Geometry(2, 4, 4, (2, 2), (2, 2), (0, 0)),
    "1d-k3-s2-pad2": Geometry(1, 1, 7, (1, 3), (1, 2), (0, 2)),
    "1x1": Geometry(3, 2, 3, (1, 1), (1, 1), (0, 0)),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
@pytest.mark.parametrize("stall", [0.2, 0.7])
def test_planned_window_is_cycle_identical_to_the_plain_one(name: str, stall: float) -> None:
    g = GEOMETRIES[name]
    plain, planned = SlidingWindow(8, g), SlidingWindow(8, g, lookahead=True)
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.plain, top.submodules.planned = plain, planned
    nxt, ready = Signal(), Signal()  # the consumer's ready register and its D input
    top.d.sync += ready.eq(nxt)
    top.d.comb += [planned.o_ready_next.eq(nxt), planned.o.ready.eq(ready), plain.o.ready.eq(ready)]
    valid, payload = Signal(), Signal(8 * g.channels)
    for w in (plain, planned):
        top.d.comb += [w.i.valid.eq(valid), w.i.payload.as_value().eq(payload)]
    rng = np.random.default_rng(7)
    cycles, emitted = 3 * len(g.walk) * 4, []

    async def bench(ctx: SimulatorContext) -> None:
        word = int(rng.integers(0, 1 << (8 * g.channels)))
        for _ in range(cycles):
            ctx.set(nxt, int(rng.random() >= stall))
            ctx.set(payload, word)
            ctx.set(valid, int(rng.random() >= stall))
            for port, a, b in (("i.ready", plain.i.ready, planned.i.ready),
                               ("o.valid", plain.o.valid, planned.o.valid)):
                assert ctx.get(a) == ctx.get(b), f"{port} differs: plain {ctx.get(a)}, planned {ctx.get(b)}"
            if ctx.get(plain.o.valid):
                assert ctx.get(plain.o.payload.as_value()) == ctx.get(planned.o.payload.as_value())
                emitted.append(ctx.get(ready))
            if ctx.get(valid) and ctx.get(plain.i.ready):
                word = int(rng.integers(0, 1 << (8 * g.channels)))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert sum(emitted) >= g.out_positions  # windows came out and were taken: the check had teeth
