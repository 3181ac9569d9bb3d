"""A skid buffer: cuts the combinational ``ready`` path between two pipeline stages.

Without it, every stage's enable depends on ``ready`` rippling back through all later stages,
one long high-fanout path across the chip that capped the default design at 88 MHz on ECP5.
Here ``i.ready``, ``o.valid`` and ``o.payload`` all come straight from registers; the second
("skid") register catches the one sample that arrives in the cycle the output stalls. Costs one
cycle of latency and two payload registers; throughput stays one sample per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Module, ShapeLike, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import data_register


class SkidBuffer(wiring.Component):
    """Stream register stage with registered ``ready``; never loses, duplicates or reorders."""

    latency = 1

    def __init__(self, shape: ShapeLike) -> None:
        self.shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
            "ready_next": Out(1),  # ``i.ready`` of the next cycle, for a producer that plans ahead
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        skid_valid = Signal()
        skid = Signal(self.shape, reset_less=True)
        payload = data_register(m, self.o.payload, "payload")
        out_free = ~self.o.valid | self.o.ready
        skid_d = Signal()  # skid_valid's next value: the skid fills while the output stalls
        m.d.comb += [self.i.ready.eq(~skid_valid), skid_d.eq(~out_free & (skid_valid | self.i.valid)),
                     self.ready_next.eq(~skid_d)]
        m.d.sync += skid_valid.eq(skid_d)
        with m.If(out_free):
            with m.If(skid_valid):
                m.d.sync += [payload.eq(skid), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += [payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        # the skid register samples whenever it is free, so its enable is ``~skid_valid`` (a register)
        # rather than a function of the downstream ``ready``: that high-fanout path set Fmax
        with m.If(~skid_valid):
            m.d.sync += skid.eq(self.i.payload)
        return m
