"""The folded lanes' shift-and-add multiplier equals integer multiplication on every operand pair."""

import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.folded import SOFT_MUL_MAX_BITS, soft_product


@pytest.mark.parametrize("wb", range(1, SOFT_MUL_MAX_BITS + 1))
@pytest.mark.parametrize("x_signed", [False, True])
def test_soft_product_is_exact(wb: int, x_signed: bool) -> None:
    xs = signed(5) if x_signed else unsigned(5)
    m = Module()
    w, x, y = Signal(signed(wb)), Signal(xs), Signal(signed(16))
    m.d.comb += y.eq(soft_product(w, x, wb))
    wrong: list[tuple[int, int, int]] = []

    async def bench(ctx) -> None:
        for wv in range(-(1 << (wb - 1)), 1 << (wb - 1)):
            for xv in range(-16, 16) if x_signed else range(32):
                ctx.set(w, wv)
                ctx.set(x, xv)
                if ctx.get(y) != wv * xv:
                    wrong.append((wv, xv, ctx.get(y)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert wrong == []
