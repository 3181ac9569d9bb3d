"""Max and average pooling engines: one window in, one position of pooled channels out.

Pooling has no weights, so both styles build the same engine. Max pooling is a balanced
comparator tree per channel and passes integers through unchanged. Average pooling needs a
power-of-two window (the IR guarantees it): an exact sum, then the IR's rounding shift, exactly
as :func:`zerogate.golden.run_pool` specifies; the result always fits the input format.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import data_register, fmt_shape
from hwgen.window import Geometry
from zerogate.fixedpoint import Rounding
from zerogate.ir import LayerKind, Pool


class PoolEngine(wiring.Component):
    """Reduces each channel of a window (``channels * taps`` elements, channel-major) to one value.

    One output register: ``ii`` = 1 window per cycle, ``latency`` = 1 cycle. Its ``i.ready`` is
    combinational (``~o.valid | o.ready``), so the window in front of it does not plan ahead: a
    registered, planned ``i.ready`` here routed no faster and left digits-cnn 90 % unrolled
    congested (nextpnr's router1 did not converge in 25 min on seeds 1 and 2; 125.4 / 113.6 MHz
    in minutes without it).
    """

    ii = 1
    latency = 1

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.g = Geometry.of(pool)
        self.elem_shape = fmt_shape(pool.input)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.elem_shape, self.g.channels * self.g.taps))),
            "o": Out(stream.Signature(data.ArrayLayout(self.elem_shape, self.g.channels))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        taps = self.g.taps
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
        payload = data_register(m, self.o.payload, "payload")
        for c in range(self.g.channels):
            xs = [self.i.payload[c * taps + t] for t in range(taps)]
            y = self._max(xs) if self.pool.kind is LayerKind.MAXPOOL else self._avg(xs)
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += payload[c].eq(y)
        return m

    @staticmethod
    def _max(xs: list[Value]) -> Value:
        """Balanced tree of two-input maxima (signedness comes from the element shape)."""
        while len(xs) > 1:
            nxt = [Mux(a >= b, a, b) for a, b in zip(xs[0::2], xs[1::2], strict=False)]
            xs = nxt + ([xs[-1]] if len(xs) % 2 else [])
        return xs[0]

    def _avg(self, xs: list[Value]) -> Value:
        """Exact window sum, then ``(sum + 2**(s-1)) >> s`` (half up) or ``sum >> s`` (floor).

        Amaranth widens each addition, so the sum is exact. It stays an expression: a named
        wire for it made Yosys 0.70's ABC reintegration fail an assertion in ``synth_ecp5``.
        """
        s = self.pool.shift
        total: Value = xs[0]
        for x in xs[1:]:
            total = total + x
        if s == 0:
            return total
        if self.pool.rounding is Rounding.HALF_UP:
            return (total >> s) + total[s - 1]
        return total[s:]  # the mean fits the input format, so these bits are its two's complement
