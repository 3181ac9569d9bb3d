"""A fully unrolled, pipelined dense layer with constant weights and no multipliers.

Every nonzero weight is recoded in CSD (:mod:`hwgen.csd`), so each output channel is a sum of
shifted copies of its inputs plus the bias, added in a balanced tree. Zero weights produce no
hardware, and a channel whose requantized output cannot vary (all-zero weights, or always
saturated) is a constant wire. Each adder output is sized from the exact integer bounds of the
partial sum it carries, which are known because every input ranges independently over its
format; the accumulator therefore has exactly ``layer.acc_bits()[c]`` bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Const, Module, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import bounds_shape, check_supported, fmt_shape
from hwgen.creditq import CreditQueue
from hwgen.csd import csd
from hwgen.requant import requant_bounds, requantize
from zerogate.errors import UnsupportedError
from zerogate.ir import Layer


@dataclass(frozen=True)
class _Node:
    """A partial sum ``sign * (base << lsb)`` standing for ``const + sum(coef[i] * x[i])``.

    ``lsb`` low zero bits are kept out of the wires (shifts are free), and ``sign`` lets a
    subtraction replace a negation.
    """

    base: Value
    lsb: int
    sign: int
    coef: tuple[tuple[int, int], ...]  # (input index, coefficient), sorted by index
    const: int

    def bounds(self, lo_x: int, hi_x: int) -> tuple[int, int]:
        """Exact [min, max] of the represented quantity."""
        return _form_bounds(self.coef, self.const, lo_x, hi_x)

    def base_bounds(self, lo_x: int, hi_x: int) -> tuple[int, int]:
        return _base_bounds(self.coef, self.const, self.sign, self.lsb, lo_x, hi_x)


def _form_bounds(coef: tuple[tuple[int, int], ...], const: int, lo_x: int, hi_x: int) -> tuple[int, int]:
    """Exact [min, max] of ``const + sum(c * x[i])``: exact because the inputs vary independently."""
    lo = hi = const
    for _, c in coef:
        lo += min(c * lo_x, c * hi_x)
        hi += max(c * lo_x, c * hi_x)
    return lo, hi


def _base_bounds(coef: tuple[tuple[int, int], ...], const: int, sign: int, lsb: int,
                 lo_x: int, hi_x: int) -> tuple[int, int]:
    """Bounds of the wire ``base`` of a node (its value is a multiple of ``2**lsb``)."""
    lo, hi = _form_bounds(coef, const, lo_x, hi_x)
    if sign < 0:
        lo, hi = -hi, -lo
    return lo >> lsb, hi >> lsb


def _merge(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    d: dict[int, int] = dict(a)
    for i, c in b:
        d[i] = d.get(i, 0) + c
    return tuple(sorted((i, c) for i, c in d.items() if c))


class UnrolledDense(wiring.Component):
    """One IR dense layer as an initiation-interval-1 pipeline.

    ``i`` carries one input vector per transfer, ``o`` one requantized output vector. The adder
    trees run freely (no clock enables: one enable fanned out to every register set Fmax); a
    :class:`~hwgen.creditq.CreditQueue` of ``latency + 2`` places behind them holds results under
    back-pressure and only lets an input in while it has room for it, so samples are never lost,
    duplicated or reordered, ``i.ready`` is a register, and an always-ready consumer gets one
    result per cycle.

    Attributes: ``latency`` (cycles from an accepted input to its output being valid when the
    output is free), ``adders`` (two-input adders/subtractors in the CSD trees),
    ``constant_channels``, ``capacity`` (results it can hold: ``latency + 2``).
    """

    def __init__(self, layer: Layer, *, adder_levels_per_stage: int = 2) -> None:
        try:
            check_supported(layer, f"layer {getattr(layer, 'name', '?')}")
        except UnsupportedError:
            self._MustUse__silence = True  # never built, so do not warn that it was never used
            raise
        if adder_levels_per_stage < 1:
            raise ValueError("adder_levels_per_stage must be at least 1")
        self.layer = layer
        self.levels_per_stage = adder_levels_per_stage
        self.in_shape = fmt_shape(layer.input)
        self.out_shape = fmt_shape(layer.output)
        self.weights = np.asarray(layer.weight, dtype=np.int64).reshape(layer.out_features, -1)
        self.acc_bits = [int(b) for b in layer.acc_bits()]
        acc_lo, acc_hi = layer.acc_bounds()
        self._acc_bounds = [(int(a), int(b)) for a, b in zip(acc_lo, acc_hi, strict=True)]
        self._out_bounds = [self._requant_bounds(c) for c in range(layer.out_features)]
        self.constant_channels = [c for c, (lo, hi) in enumerate(self._out_bounds) if lo == hi]
        depths = [self._depth(c) for c in range(layer.out_features) if c not in self.constant_channels]
        self.depth = max(depths, default=0)
        self.tree_stages = -(-self.depth // adder_levels_per_stage)
        self.latency = self.tree_stages + 2  # tree registers, requantized result, queue output
        self.cycles_per_inference = 1
        self.capacity = self.latency + 2
        self.adders = sum(self._leaves(c) - 1 + self._all_negative(c) for c in range(layer.out_features)
                          if c not in self.constant_channels)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.in_shape, layer.in_features))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, layer.out_features))),
            "ready_next": Out(1),  # ``i.ready`` of the next cycle (see hwgen.window.SlidingWindow)
        })

    # -- static analysis --------------------------------------------------------------------
    def _requant_bounds(self, c: int) -> tuple[int, int]:
        return requant_bounds(self.layer, c, *self._acc_bounds[c])

    def _leaves(self, c: int) -> int:
        n = sum(len(csd(int(w))) for w in self.weights[c])
        return n + (1 if int(self.layer.bias[c]) else 0)

    def _all_negative(self, c: int) -> bool:
        """Every leaf negative: the tree yields ``-acc`` and one negation is needed at the root."""
        signs = [d.sign for w in self.weights[c] for d in csd(int(w))]
        b = int(self.layer.bias[c])
        signs += [1 if b > 0 else -1] if b else []
        return bool(signs) and max(signs) < 0

    def _depth(self, c: int) -> int:
        return max(int(self._leaves(c) - 1).bit_length(), 0)

    # -- elaboration ------------------------------------------------------------------------
    def elaborate(self, platform: object) -> Module:
        m = Module()
        ly = self.layer
        lo_x, hi_x = ly.input.min_int, ly.input.max_int
        # free-running: no register below has an enable; the queue's credits decide when an
        # input may enter, so a result always has a place to land (see hwgen.creditq)
        m.submodules.queue = q = CreditQueue(self.o.payload.shape(), self.latency)
        accept = Signal()
        m.d.comb += [self.i.ready.eq(q.can_accept), accept.eq(self.i.valid & q.can_accept),
                     q.accept.eq(accept), self.ready_next.eq(q.can_accept_next)]
        wiring.connect(m, q.o, wiring.flipped(self.o))

        valid = [Signal(name=f"valid_{k}") for k in range(self.tree_stages + 1)]
        m.d.sync += [v.eq(prev) for v, prev in zip(valid, [accept, *valid], strict=False)]
        m.d.comb += q.w_valid.eq(valid[-1])

        live = [c for c in range(ly.out_features) if c not in self.constant_channels]
        trees = {c: self._leaf_nodes(c) for c in live}
        for level in range(1, self.depth + 1):
            for c in live:
                trees[c] = self._level(m, trees[c], c, level, lo_x, hi_x)
            if level % self.levels_per_stage == 0 or level == self.depth:
                for c in live:
                    trees[c] = [self._register(m, n, f"c{c}_l{level}_{j}", lo_x, hi_x)
                                for j, n in enumerate(trees[c])]

        for c in range(ly.out_features):
            if c in self.constant_channels:
                m.d.comb += q.w_data[c].eq(self._out_bounds[c][0])
                continue
            (root,) = trees[c]
            acc = Signal(signed(self.acc_bits[c]), name=f"acc_{c}")
            if root.bounds(lo_x, hi_x) != self._acc_bounds[c]:  # pragma: no cover - internal check
                raise AssertionError(f"channel {c}: tree bounds disagree with the IR's acc_bounds")
            full = root.base << root.lsb
            m.d.comb += acc.eq(full if root.sign > 0 else -full)
            # requantizing (round, shift, clamp: two carry chains) gets a stage of its own
            y = Signal(self.out_shape, name=f"y_{c}", reset_less=True)
            m.d.sync += y.eq(requantize(m, ly, c, acc, *self._acc_bounds[c]))
            m.d.comb += q.w_data[c].eq(y)
        return m

    def _leaf_nodes(self, c: int) -> list[_Node]:
        """Shifted inputs, grouped by input, then the bias as a constant leaf."""
        nodes = []
        for i, w in enumerate(self.weights[c]):
            for d in csd(int(w)):
                nodes.append(_Node(self.i.payload[i], d.shift, d.sign, ((i, d.sign << d.shift),), 0))
        b = int(self.layer.bias[c])
        if b:
            lsb = (abs(b) & -abs(b)).bit_length() - 1
            nodes.append(_Node(Const(abs(b) >> lsb), lsb, 1 if b > 0 else -1, (), b))
        return nodes

    def _level(self, m: Module, nodes: list[_Node], c: int, level: int, lo_x: int, hi_x: int) -> list[_Node]:
        """One level of the balanced tree: add neighbours pairwise, an odd one passes through."""
        out = []
        for j in range(0, len(nodes) - 1, 2):
            out.append(self._add(m, nodes[j], nodes[j + 1], f"c{c}_a{level}_{j // 2}", lo_x, hi_x))
        if len(nodes) % 2:
            out.append(nodes[-1])
        return out

    def _add(self, m: Module, a: _Node, b: _Node, name: str, lo_x: int, hi_x: int) -> _Node:
        lsb = min(a.lsb, b.lsb)
        va, vb = a.base << (a.lsb - lsb), b.base << (b.lsb - lsb)
        if a.sign == b.sign:
            expr, sign = va + vb, a.sign
        elif a.sign > 0:
            expr, sign = va - vb, 1
        else:
            expr, sign = vb - va, 1
        coef, const = _merge(a.coef, b.coef), a.const + b.const
        sig = Signal(bounds_shape(*_base_bounds(coef, const, sign, lsb, lo_x, hi_x)), name=name)
        m.d.comb += sig.eq(expr)
        return _Node(sig, lsb, sign, coef, const)

    def _register(self, m: Module, n: _Node, name: str, lo_x: int, hi_x: int) -> _Node:
        """A pipeline register for a partial sum; constants need none."""
        if not n.coef:
            return n
        reg = Signal(bounds_shape(*n.base_bounds(lo_x, hi_x)), name=name, reset_less=True)
        m.d.sync += reg.eq(n.base)
        return _Node(reg, n.lsb, n.sign, n.coef, n.const)
