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


def round_offset(layer: Layer, c: int) -> int:
    """What rounding adds before the shift: ``2**(s-1)`` for half-up (``s > 0``), else 0.

    An engine that already has an adder (e.g. for the bias) can add it there for free and then
    call :func:`shift_clamp`, keeping the incrementer off its critical path.
    """
    s = int(layer.shift[c])
    return 1 << (s - 1) if s > 0 and layer.rounding is Rounding.HALF_UP else 0


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
    return _clamp(m, layer, c, expr, rlo, rhi, name)


def shift_clamp(m: Module, layer: Layer, c: int, biased: Value, lo: int, hi: int, name: str = "") -> Value:
    """Requantize ``biased = acc + round_offset(layer, c)`` (in ``[lo, hi]``): a shift and the clamps."""
    s = int(layer.shift[c])
    return _clamp(m, layer, c, biased >> s, lo >> s, hi >> s, name)


def _clamp(m: Module, layer: Layer, c: int, expr: Value, rlo: int, rhi: int, name: str) -> Value:
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
