"""Width adapters between a narrow lane-per-beat stream and a whole-vector stream.

The unrolled layers want a whole vector per cycle, but pins and buses carry a few elements per
beat. Both adapters are shift registers (no per-element address decode): the deserializer shifts
each beat in at the top, the serializer shifts each beat out at the bottom. Initiation interval
is the number of beats, ``ceil(n / lanes)``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, ShapeCastable, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def beats(n: int, lanes: int) -> int:
    """Beats needed to carry ``n`` elements ``lanes`` at a time."""
    if n < 1 or lanes < 1:
        raise ValueError(f"need n >= 1 and lanes >= 1, got n={n}, lanes={lanes}")
    return -(-n // lanes)


class Deserializer(wiring.Component):
    """Collects ``beats(n, lanes)`` beats of ``lanes`` elements into one ``n``-element payload.

    Element ``k`` of the vector travels in beat ``k // lanes``, lane ``k % lanes``; the unused
    lanes of the last beat are ignored. A finished vector is held until the consumer takes it;
    the first beat of the next one is accepted in that same cycle, so back-to-back vectors flow
    at one vector per ``beats`` cycles.
    """

    def __init__(self, elem_shape: ShapeCastable | Shape, n: int, lanes: int) -> None:
        self.elem_shape, self.n, self.lanes = elem_shape, n, lanes
        self.beats = beats(n, lanes)
        self.latency = self.beats  # first beat accepted -> vector valid
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, n))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        slots = self.beats * self.lanes
        buf = Signal(data.ArrayLayout(self.elem_shape, slots), reset_less=True)
        count = Signal(range(self.beats))
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        m.d.comb += [self.o.payload[k].eq(buf[k]) for k in range(self.n)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            # the new beat enters at the top; after the last beat, beat k sits at slot k*lanes
            w = Shape.cast(self.elem_shape).width * self.lanes
            m.d.sync += buf.as_value().eq(Cat(buf.as_value()[w:], self.i.payload.as_value()))
            if self.beats == 1:
                m.d.sync += self.o.valid.eq(1)
            else:
                with m.If(count == self.beats - 1):
                    m.d.sync += [count.eq(0), self.o.valid.eq(1)]
                with m.Else():
                    m.d.sync += count.eq(count + 1)
        return m


class Serializer(wiring.Component):
    """Sends one ``n``-element payload as ``beats(n, lanes)`` beats of ``lanes`` elements.

    The padding lanes of the last beat are zero. A vector is first taken into a register of its
    own (``nxt``), then moved into the shift register (``buf``) when that is free, so
    ``i.ready`` is a register (``~nxt_full``) and the outside ``o.ready`` only enables ``buf``:
    it used to run through the whole output side of the chip and set Fmax. Vectors flow at one
    per ``beats`` cycles; an idle serializer sends the first beat two cycles after it took a
    vector. With ``i.ready`` a register whose next value is ``ready_next``, its producer needs no
    skid buffer in front of it (``registered_i_ready``). One beat per vector needs no serializing
    at all: then it is wires (latency 0, ``i.ready`` is the outside ``o.ready``).
    """

    def __init__(self, elem_shape: ShapeCastable | Shape, n: int, lanes: int) -> None:
        self.elem_shape, self.n, self.lanes = elem_shape, n, lanes
        self.beats = beats(n, lanes)
        self.latency = 2 if self.beats > 1 else 0  # vector accepted -> first beat valid
        self.registered_i_ready = self.beats > 1
        sig = {
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, n))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, lanes))),
        }
        if self.registered_i_ready:
            sig["ready_next"] = Out(1)  # ``i.ready`` of the next cycle, for a producer that plans ahead
        super().__init__(sig)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.beats == 1:
            m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready),
                         self.o.payload.as_value().eq(self.i.payload.as_value())]
            return m
        slots = self.beats * self.lanes
        w = Shape.cast(self.elem_shape).width * self.lanes
        buf = Signal(data.ArrayLayout(self.elem_shape, slots), reset_less=True)
        nxt = Signal(data.ArrayLayout(self.elem_shape, self.n), reset_less=True)
        nxt_full = Signal()
        left = Signal(range(self.beats + 1))  # beats still to send
        free = Signal()  # buf is empty, or its last beat goes out now
        m.d.comb += [
            self.o.valid.eq(left != 0),
            free.eq((left == 0) | ((left == 1) & self.o.ready)),
            self.o.payload.as_value().eq(buf.as_value()[:w]),
            self.i.ready.eq(~nxt_full),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [buf.as_value().eq(buf.as_value()[w:]), left.eq(left - 1)]
        with m.If(free & nxt_full):
            m.d.sync += [buf.as_value().eq(nxt.as_value()), left.eq(self.beats), nxt_full.eq(0)]
        with m.If(self.i.valid & ~nxt_full):
            m.d.sync += [nxt.eq(self.i.payload), nxt_full.eq(1)]
        m.d.comb += self.ready_next.eq(~((self.i.valid & ~nxt_full) | (nxt_full & ~free)))
        return m
