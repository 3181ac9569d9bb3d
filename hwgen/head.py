"""Output heads: what the accelerator streams out instead of the last layer's vector.

``argmax`` emits the class index of the largest output integer, ties going to the lowest index
(:func:`zerogate.golden.predict`, i.e. ``numpy.argmax``), as one unsigned element of
``ceil(log2(n_classes))`` bits. It is combinational (a balanced tree of compare-selects whose left
operand always holds the lower indices, so ``>`` keeps ties on the left): no cycle, no state,
``ready`` passes through, so the cycle model of the chain is unchanged.
"""

from __future__ import annotations

import math

from amaranth.hdl import Const, Module, Mux, Shape, ShapeCastable, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from zerogate.errors import UnsupportedError

#: Heads :func:`hwgen.verilog.generate` can put behind the last layer.
HEADS = ("none", "argmax")


def index_bits(n_classes: int) -> int:
    """Width of a class index: ``ceil(log2(n))``, at least 1."""
    return max(1, math.ceil(math.log2(n_classes)))


def check_head(head: str, n_classes: int) -> None:
    """Refuse an unknown head, or argmax over fewer than two outputs, with the fix."""
    if head not in HEADS:
        raise UnsupportedError(f"head {head!r} is not one of {', '.join(HEADS)}; use --head argmax to stream "
                               "the class index, or leave it out to stream the output vector")
    if head == "argmax" and n_classes < 2:
        raise UnsupportedError(f"--head argmax needs at least 2 outputs, the network has {n_classes}; leave "
                               "--head out")


class ArgmaxHead(wiring.Component):
    """``i``: the ``n``-element output vector; ``o``: its argmax, one ``index_bits(n)``-bit element."""

    def __init__(self, elem_shape: ShapeCastable | Shape, n: int) -> None:
        check_head("argmax", n)
        self.elem_shape, self.n = elem_shape, n
        self.idx_shape = unsigned(index_bits(n))
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, n))),
            "o": Out(stream.Signature(data.ArrayLayout(self.idx_shape, 1))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # (value, index) pairs, lowest index first; each level keeps the left one unless right > left
        items: list[tuple[Value, Value]] = [(Value.cast(self.i.payload[k]), Const(k, self.idx_shape))
                                            for k in range(self.n)]
        while len(items) > 1:
            nxt = []
            for a in range(0, len(items) - 1, 2):
                (va, ia), (vb, ib) = items[a], items[a + 1]
                take_b = vb > va
                nxt.append((Mux(take_b, vb, va), Mux(take_b, ib, ia)))
            if len(items) % 2:
                nxt.append(items[-1])
            items = nxt
        m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready),
                     self.o.payload[0].eq(items[0][1])]
        return m
