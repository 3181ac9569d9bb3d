"""Requantization in hardware, shared by every engine: round-shift, then clamp (and ReLU).

One implementation, so the unrolled, folded and dense engines cannot drift apart from
:mod:`zerogate.fixedpoint`, which specifies the arithmetic.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, Value

from hwgen.common import bounds_shape
from zerogate.fixedpoint import Activation, Rounding, saturate, shift_round
from zerogate.ir import Layer


def requant_value(layer: Layer, c: int, acc: int) -> int:
    """Channel ``c``'s output for accumulator value ``acc`` (the golden model's arithmetic)."""
    r = shift_round(np.array([acc]), np.array([int(layer.shift[c])]), layer.rounding)
    return int(saturate(r, layer.output, layer.activation is Activation.RELU)[0])


def requant_bounds(layer: Layer, c: int, lo: int, hi: int) -> tuple[int, int]:
    """Output range for accumulators in ``[lo, hi]``: requantize is monotone, so ends map to ends."""
    return requant_value(layer, c, lo), requant_value(layer, c, hi)


def requantize(m: Module, layer: Layer, c: int, acc: Value, lo: int, hi: int, name: str = "") -> Value:
    """Round-shift then clamp ``acc`` (known to lie in ``[lo, hi]``), as :mod:`zerogate.fixedpoint` does.

    Only the clamps that can trigger are built, so an unsaturable channel is just a shift.
    """
    s = int(layer.shift[c])
    rlo, rhi = (int(shift_round(np.array([v]), np.array([s]), layer.rounding)[0]) for v in (lo, hi))
    if s == 0:
        expr: Value = acc
    elif layer.rounding is Rounding.HALF_UP:
        # (acc + 2**(s-1)) >> s == (acc >> s) + bit s-1 of acc: an incrementer, not an adder
        expr = (acc >> s) + acc[min(s - 1, len(acc) - 1)]
    else:
        expr = acc >> s
    r = Signal(bounds_shape(rlo, rhi), name=name or f"r_{c}")
    m.d.comb += r.eq(expr)
    out = layer.output
    lo_c = max(out.min_int, 0) if layer.activation is Activation.RELU else out.min_int
    hi_c = out.max_int
    y: Value = r
    if rlo < lo_c:
        y = Mux(r < lo_c, lo_c, y)
    if rhi > hi_c:
        y = Mux(r > hi_c, hi_c, y)
    return y
