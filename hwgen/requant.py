"""Requantization in hardware, shared by every engine: round-shift, activation, clamp.

One implementation, so the unrolled, folded and dense engines cannot drift apart from
:mod:`zerogate.fixedpoint`, which specifies the arithmetic. LeakyReLU (slope ``2**-k``) adds a
second round-shift by ``shift + k`` of the same accumulator, chosen when the first is negative
(equivalent to choosing on the accumulator's sign, see the spec); clamp activations only narrow
the bounds of the final clamp.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, Value

from hwgen.common import bounds_shape
from zerogate.fixedpoint import ActKind, Rounding, activate_round, shift_round
from zerogate.fixedpoint import requantize as spec_requantize
from zerogate.ir import Layer


def requant_value(layer: Layer, c: int, acc: int) -> int:
    """Channel ``c``'s output for accumulator value ``acc`` (the golden model's arithmetic)."""
    return int(spec_requantize(np.array([acc]), np.array([int(layer.shift[c])]), layer.output, layer.rounding,
                               layer.activation)[0])


def _rounded(layer: Layer, c: int, acc: int) -> int:
    """Step 2 (with LeakyReLU's shift choice) before the clamp: monotone in ``acc``."""
    return int(activate_round(np.array([acc]), np.array([int(layer.shift[c])]), layer.rounding,
                              layer.activation)[0])


def requant_bounds(layer: Layer, c: int, lo: int, hi: int) -> tuple[int, int]:
    """Output range for accumulators in ``[lo, hi]``: requantize is monotone, so ends map to ends."""
    return requant_value(layer, c, lo), requant_value(layer, c, hi)


def _offset(layer: Layer, s: int) -> int:
    return 1 << (s - 1) if s > 0 and layer.rounding is Rounding.HALF_UP else 0


def round_offset(layer: Layer, c: int) -> int:
    """What rounding adds before the shift: ``2**(s-1)`` for half-up (``s > 0``), else 0.

    An engine that already has an adder (e.g. for the bias) can add it there for free and then
    call :func:`shift_clamp`, keeping the incrementer off its critical path.
    """
    return _offset(layer, int(layer.shift[c]))


def _round_shift(layer: Layer, acc: Value, s: int) -> Value:
    if s == 0:
        return acc
    if layer.rounding is Rounding.HALF_UP:
        # (acc + 2**(s-1)) >> s == (acc >> s) + bit s-1 of acc: an incrementer, not an adder
        return (acc >> s) + acc[min(s - 1, len(acc) - 1)]
    return acc >> s


def requantize(m: Module, layer: Layer, c: int, acc: Value, lo: int, hi: int, name: str = "") -> Value:
    """Round-shift then clamp ``acc`` (known to lie in ``[lo, hi]``), as :mod:`zerogate.fixedpoint` does.

    Only the clamps that can trigger are built, so an unsaturable channel is just a shift.
    """
    s = int(layer.shift[c])
    neg = None
    if layer.activation.kind is ActKind.LEAKY and lo < 0:
        neg = _round_shift(layer, acc, s + layer.activation.shift)
    return _clamp(m, layer, c, _round_shift(layer, acc, s), neg, lo, hi, name)


def shift_clamp(m: Module, layer: Layer, c: int, biased: Value, lo: int, hi: int, name: str = "") -> Value:
    """Requantize ``biased = acc + round_offset(layer, c)`` (in ``[lo, hi]``): a shift and the clamps."""
    s, off = int(layer.shift[c]), round_offset(layer, c)
    neg = None
    if layer.activation.kind is ActKind.LEAKY and lo - off < 0:
        t = s + layer.activation.shift
        neg = (biased + (_offset(layer, t) - off)) >> t
    return _clamp(m, layer, c, biased >> s, neg, lo - off, hi - off, name)


def _clamp(m: Module, layer: Layer, c: int, pos: Value, neg: Value | None, lo: int, hi: int,
           name: str) -> Value:
    """Step 3 on ``pos`` (the shift-``shift`` result), or on ``neg`` where ``pos`` is negative
    (LeakyReLU); ``[lo, hi]`` bounds the raw accumulator."""
    rlo, rhi = _rounded(layer, c, lo), _rounded(layer, c, hi)
    r = Signal(bounds_shape(rlo, rhi), name=name or f"r_{c}")
    if neg is None:
        m.d.comb += r.eq(pos)
    else:
        plo = int(shift_round(np.array([lo]), np.array([int(layer.shift[c])]), layer.rounding)[0])
        p = Signal(bounds_shape(plo, rhi), name=f"{name or f'r_{c}'}_pos")
        m.d.comb += [p.eq(pos), r.eq(Mux(p < 0, neg, p))]
    lo_c, hi_c = layer.activation.bounds(layer.output)
    y: Value = r
    if rlo < lo_c:
        y = Mux(r < lo_c, lo_c, y)
    if rhi > hi_c:
        y = Mux(r > hi_c, hi_c, y)
    return y
