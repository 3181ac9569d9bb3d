"""The dense unrolled baseline: what the unrolled layer would cost if sparsity were ignored.

Every weight slot, zero or not, gets a generic multiplier (``x[i] * w[c, i]``) and a leaf in
its channel's adder tree, so the design is the same for any weights of the declared widths.
For that to be true in synthesis too, the weights must not be constants that Yosys could fold
(a constant zero weight would vanish, a power of two become a shift). They live in registers
instead, filled after reset from a ROM by a shift chain (``i.ready`` stays low until loaded):
programmable hardware, whose ROM contents Yosys does not propagate. Widths are sized for any
weight of each channel's declared width (``weight_bits[c]``), not for the actual values.
The bias stays a constant (it is one adder leaf per channel).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.common import bounds_shape, fmt_shape
from hwgen.requant import requantize
from zerogate.fixedpoint import signed_bits_for, weight_range
from zerogate.ir import Layer

#: Bits per word of the weight ROM (one DP16KD port is 36 wide).
ROM_WIDTH = 32


class DenseUnrolled(wiring.Component):
    """One IR dense layer with a multiplier per weight slot; II = 1, same interface as ``UnrolledDense``.

    Attributes: ``latency``, ``cycles_per_inference`` (1), ``load_cycles`` (after reset, before
    the first input is accepted), ``multipliers``.
    """

    def __init__(self, layer: Layer, *, adder_levels_per_stage: int = 1) -> None:
        if adder_levels_per_stage < 1:
            raise ValueError("adder_levels_per_stage must be at least 1")
        self.layer = layer
        self.levels = adder_levels_per_stage
        self.in_shape = fmt_shape(layer.input)
        self.out_shape = fmt_shape(layer.output)
        n_out, n_in = layer.out_features, int(layer.weight_matrix().shape[1])
        self.n_in = n_in
        self.wbits = [int(b) for b in layer.weight_bits]
        lo_x, hi_x = layer.input.min_int, layer.input.max_int
        self.prod_bounds = []
        for c in range(n_out):
            wl, wh = weight_range(self.wbits[c])
            p = (wl * lo_x, wl * hi_x, wh * lo_x, wh * hi_x)
            self.prod_bounds.append((min(p), max(p)))
        bias = [int(b) for b in layer.bias]
        self.acc_bounds = [(b + n_in * lo, b + n_in * hi)
                           for b, (lo, hi) in zip(bias, self.prod_bounds, strict=True)]
        leaves = n_in + 1
        self.depth = (leaves - 1).bit_length()
        self.tree_stages = -(-self.depth // self.levels)
        self.latency = 1 + self.tree_stages + 1  # multiply, tree, requantize
        self.cycles_per_inference = 1
        self.multipliers = n_out * n_in
        self.constant_channels: list[int] = []
        total = n_in * sum(self.wbits)
        self.rom_depth = max(-(-total // ROM_WIDTH), 1)
        self.load_cycles = self.rom_depth + 1
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.in_shape, layer.in_features))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, layer.out_features))),
        })

    def _rom_words(self) -> list[int]:
        """All weights, channel-major, each ``weight_bits[c]`` wide, cut into ``ROM_WIDTH``-bit words."""
        w = self.layer.weight_matrix()
        bits, pos = 0, 0
        for c, b in enumerate(self.wbits):
            for i in range(self.n_in):
                bits |= (int(w[c, i]) & ((1 << b) - 1)) << pos
                pos += b
        return [(bits >> (k * ROM_WIDTH)) & ((1 << ROM_WIDTH) - 1) for k in range(self.rom_depth)]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ly = self.layer
        # -- weight registers, loaded once after reset -----------------------------------------
        wreg = Signal(self.rom_depth * ROM_WIDTH, reset_less=True)
        rom = Memory(shape=unsigned(ROM_WIDTH), depth=self.rom_depth, init=self._rom_words())
        m.submodules.rom = rom
        rd = rom.read_port(domain="sync")
        addr = Signal(range(self.rom_depth + 1))
        shifting = Signal()  # rd.data holds word addr-1
        loaded = Signal()
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(1)]
        with m.If(~loaded):
            m.d.sync += [addr.eq(addr + 1), shifting.eq(addr < self.rom_depth)]
            with m.If(shifting):
                m.d.sync += wreg.eq(Cat(wreg[ROM_WIDTH:], rd.data))
            with m.If(addr == self.rom_depth):
                m.d.sync += loaded.eq(1)
        weights, pos = [], 0
        for b in self.wbits:
            row = []
            for _ in range(self.n_in):
                row.append(wreg[pos:pos + b].as_signed())
                pos += b
            weights.append(row)

        # -- pipeline ----------------------------------------------------------------------------
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en & loaded)]
        valid = [Signal(name=f"valid_{k}") for k in range(self.latency)]
        with m.If(en):
            m.d.sync += valid[0].eq(self.i.valid & loaded)
            m.d.sync += [valid[k].eq(valid[k - 1]) for k in range(1, self.latency)]
        m.d.comb += self.o.valid.eq(valid[-1])

        def reg(v: Value, lo: int, hi: int, name: str) -> Signal:
            s = Signal(bounds_shape(lo, hi), name=name, reset_less=True)
            with m.If(en):
                m.d.sync += s.eq(v)
            return s

        for c in range(ly.out_features):
            plo, phi = self.prod_bounds[c]
            nodes: list[tuple[Value, int, int]] = [
                (reg(self.i.payload[i] * weights[c][i], plo, phi, f"p{c}_{i}"), plo, phi)
                for i in range(self.n_in)]
            b = int(ly.bias[c])
            nodes.append((Const(b, signed(signed_bits_for(b, b))), b, b))
            for level in range(1, self.depth + 1):
                nxt = []
                for j in range(0, len(nodes) - 1, 2):
                    (va, la, ha), (vb, lb, hb) = nodes[j], nodes[j + 1]
                    s = Signal(bounds_shape(la + lb, ha + hb), name=f"c{c}_a{level}_{j // 2}")
                    m.d.comb += s.eq(va + vb)
                    nxt.append((s, la + lb, ha + hb))
                if len(nodes) % 2:
                    nxt.append(nodes[-1])
                nodes = nxt
                if level % self.levels == 0 or level == self.depth:
                    nodes = [(v if isinstance(v, Const) else reg(v, lo, hi, f"c{c}_l{level}_{j}"), lo, hi)
                             for j, (v, lo, hi) in enumerate(nodes)]
            (root, lo, hi), = nodes
            acc = Signal(signed(signed_bits_for(lo, hi)), name=f"acc_{c}")
            m.d.comb += acc.eq(root)
            y = Signal(self.out_shape, name=f"y_{c}", reset_less=True)
            with m.If(en):
                m.d.sync += y.eq(requantize(m, ly, c, acc, lo, hi))
            m.d.comb += self.o.payload[c].eq(y)
        return m
