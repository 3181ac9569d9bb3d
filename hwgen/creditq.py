"""The output side of a free-running pipeline: credit-based flow control and a small queue.

A pipeline that stalls as a whole under back-pressure needs one enable driving the clock enable
of every register in it: on ECP5 that single net, fanned out to thousands of flip-flops, set the
unrolled layers' Fmax (75-95 MHz). Here the pipeline never stalls. Instead it only *accepts* an
input while it holds a credit, one per free place in the queue behind it, so everything it has
in flight always has somewhere to land. A credit comes back one cycle after its result left
(through a register: the counter then sits at the pipeline's input, not across the layer from
it), so with ``capacity = latency + 2`` credits an always-ready consumer never sees a bubble (one
inference per cycle), and ``i.ready`` is a register: no combinational path from ``o.ready`` back
to the producer.

The queue is an output register plus a ``latency + 1``-entry memory with a registered write and
an asynchronous read: a result goes straight to the output register when that is free and nothing
is queued (so the latency stays the pipeline's own), otherwise into the memory, which always
drains in order. As a memory it maps to ECP5 distributed RAM (TRELLIS_DPR16X4: 16 entries x 4
bits in one cell, the read pointer fanning out once per 4 bits); as flip-flops with a pointer-
addressed read mux it cost ~4 LUT4 and ``latency + 1`` FF per result bit, and its ``rp`` -> mux
path set the Fmax of the wide unrolled layers (80-93 MHz).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, ShapeLike, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.common import data_register


class CreditQueue(wiring.Component):
    """Credits and result queue for a pipeline of ``latency`` cycles (register stages, ``>= 1``).

    Ports: ``can_accept`` (registered: the pipeline may take an input this cycle),
    ``can_accept_next`` (its value in the next cycle, for a producer that plans ahead), ``accept``
    (it does), ``w_valid``/``w_data`` (a result leaving the last pipeline stage; never refused)
    and the output stream ``o``. ``capacity`` = credits = ``latency + 2`` results; an accepted
    input comes out ``latency`` cycles later when the output is free.
    """

    def __init__(self, shape: ShapeLike, latency: int) -> None:
        if latency < 1:
            raise ValueError("a credit queue needs a pipeline of at least one register stage")
        self.shape, self.latency = shape, latency
        self.capacity = latency + 2
        self.depth = latency + 1  # queued results besides the output register
        super().__init__({
            "can_accept": Out(1),
            "can_accept_next": Out(1),
            "accept": In(1),
            "w_valid": In(1),
            "w_data": In(shape),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self.depth
        credits = Signal(range(self.capacity + 1), init=self.capacity)
        has_credit = Signal(init=1)
        take, returned = Signal(), Signal()
        m.d.comb += [take.eq(self.o.valid & self.o.ready), self.can_accept.eq(has_credit)]
        m.d.sync += returned.eq(take)
        nxt = Signal.like(credits)
        m.d.comb += nxt.eq(credits - (self.accept & has_credit) + returned)
        m.d.comb += self.can_accept_next.eq(nxt != 0)
        m.d.sync += [credits.eq(nxt), has_credit.eq(self.can_accept_next)]

        width = Shape.cast(self.shape).width
        m.submodules.mem = mem = Memory(shape=width, depth=n, init=[])
        wr, rd = mem.write_port(), mem.read_port(domain="comb")
        w_data, o_payload = Value.cast(self.w_data), data_register(m, self.o.payload, "payload")
        wp = Signal(range(n), name="wp")
        rp = Signal(range(n), name="rp")
        count = Signal(range(n + 1), name="count")
        out_free = ~self.o.valid | self.o.ready
        empty = count == 0
        pop, push = Signal(), Signal()
        m.d.comb += [pop.eq(out_free & ~empty), push.eq(self.w_valid & ~(out_free & empty)),
                     wr.addr.eq(wp), wr.data.eq(w_data), wr.en.eq(push), rd.addr.eq(rp)]
        with m.If(out_free):
            with m.If(~empty):
                m.d.sync += [o_payload.eq(rd.data), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += [o_payload.eq(w_data), self.o.valid.eq(self.w_valid)]
        with m.If(push):
            m.d.sync += wp.eq(_inc(wp, n))
        with m.If(pop):
            m.d.sync += rp.eq(_inc(rp, n))
        m.d.sync += count.eq(count + push - pop)
        return m


def _inc(sig: Signal, n: int) -> Value:
    """``(sig + 1) % n`` for a pointer into ``n`` slots."""
    return Mux(sig == n - 1, 0, sig + 1) if n > 1 else Value.cast(sig)
