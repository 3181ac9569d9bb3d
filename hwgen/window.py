"""Sliding windows over a position stream: line buffers with zero padding and stride.

The window walks the zero-padded map in raster order, one position per step, except the top
padding rows and the left padding columns, which it never visits: with symmetric padding of at
most ``kernel - 1`` they would emit nothing and only shift zeros in, and every tap that falls on
them lands, ``row stride`` steps back, on a right (or, across the map boundary, bottom) padding
position that *was* walked and shifted a zero in. So a map costs
``(height + pad_h) * (width + pad_w)`` steps, not ``(height + 2 pad_h) * (width + 2 pad_w)``
(8x8, padding 1: 81 instead of 100). A real position consumes one input beat; a padding position
consumes nothing and shifts in zeros, so borders need no special cases. A shift register of
``(kh - 1) * row_stride + kw - 1`` positions (the line buffers plus the window) holds everything
a window needs; a window is emitted when the step lands on the bottom-right corner of a window
that the stride keeps. Every step is one cycle; the padding steps run ahead while no input is
waiting. Register cost: ``channels`` elements per shift-register slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from amaranth.hdl import Module, Mux, ShapeLike, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import data_register
from zerogate.errors import UnsupportedError
from zerogate.ir import Layer, LayerKind, Pool
from zerogate.ir.types import conv_out_size


def check_geometry(node: Layer | Pool, where: str) -> None:
    """Refuse a conv/pool window this module cannot walk, with what to change.

    The IR has no dilation, groups or pooling padding, but a node may come from elsewhere (a newer
    IR, a hand-built object) without the IR's validation; this runs before any hardware exists.
    """
    name = getattr(node, "name", "?")
    for attr in ("dilation", "groups"):
        v = getattr(node, attr, 1)
        if any(int(d) != 1 for d in (v if isinstance(v, tuple | list) else (v,))):
            raise UnsupportedError(f"{where} ({name}): {attr}={v} is not supported by the hardware "
                                   f"generator; use {attr} 1 (a plain convolution)")
    if isinstance(node, Pool):
        pad = getattr(node, "padding", ())
        if any(int(p) for p in pad):
            raise UnsupportedError(f"{where} ({name}): pooling with padding {tuple(pad)} is not supported; "
                                   "pad with a convolution or drop the padding")
        if node.kind is LayerKind.AVGPOOL and node.window & (node.window - 1):
            raise UnsupportedError(f"{where} ({name}): average pooling over {node.window} elements is not "
                                   "supported (the mean must be an exact shift); use a 2/4/8/... window or "
                                   "max pooling")
    k, s = tuple(getattr(node, "kernel", ())), tuple(getattr(node, "stride", ()))
    if min((*k, *s), default=0) < 1:
        raise UnsupportedError(f"{where} ({name}): kernel {k} and stride {s} must be positive")


@dataclass(frozen=True)
class Geometry:
    """A conv/pool window over a ``channels x height x width`` map (1-D: ``height == 1``)."""

    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @classmethod
    def of(cls, node: Layer | Pool) -> Geometry:
        """The 2-D geometry of an IR conv or pool node (pooling has no padding)."""
        c, *sp = (int(n) for n in node.in_shape)
        pad = tuple(int(p) for p in getattr(node, "padding", ())) or (0,) * len(sp)
        k, s = tuple(int(v) for v in node.kernel), tuple(int(v) for v in node.stride)
        if len(sp) == 1:
            return cls(c, 1, sp[0], (1, k[0]), (1, s[0]), (0, pad[0]))
        return cls(c, sp[0], sp[1], (k[0], k[1]), (s[0], s[1]), (pad[0], pad[1]))

    @property
    def positions(self) -> int:
        return self.height * self.width

    @property
    def padded(self) -> tuple[int, int]:
        """Height and width of the zero-padded map."""
        return self.height + 2 * self.padding[0], self.width + 2 * self.padding[1]

    @property
    def out_hw(self) -> tuple[int, int]:
        return (conv_out_size(self.height, self.kernel[0], self.stride[0], self.padding[0]),
                conv_out_size(self.width, self.kernel[1], self.stride[1], self.padding[1]))

    @property
    def out_positions(self) -> int:
        return math.prod(self.out_hw)

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]


    @property
    def origin(self) -> tuple[int, int]:
        """First padded row and column the walk visits (see the module docstring).

        An axis whose padding reaches a window's last tap (``padding > kernel - 1``: a window
        of pure padding would be skipped) is walked in full."""
        return tuple(p if p <= k - 1 else 0 for p, k in zip(self.padding, self.kernel, strict=True))

    @property
    def row_stride(self) -> int:
        """Steps from a position to the one below it: the walked width."""
        return self.padded[1] - self.origin[1]

    @property
    def walk(self) -> list[tuple[int, int]]:
        """The padded positions one map's walk visits, in order."""
        (oh, ow), (hp, wp) = self.origin, self.padded
        return [(r, c) for r in range(oh, hp) for c in range(ow, wp)]

    @property
    def start(self) -> int:
        """Index in :attr:`walk` of the first real position, where the walk parks between maps."""
        return (self.padding[0] - self.origin[0]) * self.row_stride + self.padding[1] - self.origin[1]

    @property
    def history(self) -> int:
        """Positions the shift register keeps besides the current one."""
        return (self.kernel[0] - 1) * self.row_stride + self.kernel[1] - 1

    @property
    def emit_rows(self) -> tuple[int, ...]:
        """Padded rows on which a kept window ends."""
        return tuple(self.kernel[0] - 1 + self.stride[0] * j for j in range(self.out_hw[0]))

    @property
    def emit_cols(self) -> tuple[int, ...]:
        return tuple(self.kernel[1] - 1 + self.stride[1] * j for j in range(self.out_hw[1]))

    def is_padding(self, row: int, col: int) -> bool:
        ph, pw = self.padding
        return not (ph <= row < ph + self.height and pw <= col < pw + self.width)

    def tap_delay(self, kh: int, kw: int) -> int:
        """How many steps ago the window's tap ``(kh, kw)`` was the current position."""
        return (self.kernel[0] - 1 - kh) * self.row_stride + (self.kernel[1] - 1 - kw)


@dataclass(frozen=True)
class Timing:
    """Cycle counts of a window + engine + gather stage, from :func:`window_timing`."""

    latency: int  # first input position valid -> whole output map valid
    cycles_per_map: int  # steady state: input always available, output never stalled


class EngineModel(Protocol):
    """Cycle model of an engine's input side and output timing (downstream always ready)."""

    def ready(self) -> bool: ...

    def step(self, accept: bool, cycle: int) -> None:
        """Advance one cycle; ``accept`` = a window was taken in ``cycle``."""

    @property
    def outputs(self) -> list[int]:
        """Cycle in which each result's ``o.valid`` is first high, in order."""


class PipeModel:
    """A pipeline that takes a window every cycle and answers ``latency`` cycles later."""

    def __init__(self, latency: int) -> None:
        self.latency = latency
        self.outputs: list[int] = []

    def ready(self) -> bool:
        return True

    def step(self, accept: bool, cycle: int) -> None:
        if accept:
            self.outputs.append(cycle + self.latency)


def window_timing(g: Geometry, engine: EngineModel, maps: int = 4) -> Timing:
    """Cycle-exact model of :class:`SlidingWindow` -> ``engine`` -> gather (latency 1).

    The hardware's step rule replayed in Python for a stage on its own (input always available,
    gather never stalled). The accelerator's timing comes from the token model of the whole chain
    (:mod:`hwgen.timing`), where streaming neighbours pace each other; this closed, independent
    model checks it on isolated stages. The window starts on the map's first real position,
    where reset parks it and where it waits between maps.
    """
    rows, cols = set(g.emit_rows), set(g.emit_cols)
    order = g.walk
    idx = g.start
    per_map = g.out_positions
    t, held = 0, False
    while len(engine.outputs) < maps * per_map:
        take = held and engine.ready()
        held = held and not take
        r, c = order[idx]
        emit = r in rows and c in cols
        if not (emit and held):
            held = held or emit
            idx = (idx + 1) % len(order)
        engine.step(take, t)
        t += 1
    ends = [engine.outputs[(k + 1) * per_map - 1] + 1 for k in range(maps)]  # + gather
    return Timing(latency=ends[0], cycles_per_map=ends[-1] - ends[-2] if maps > 1 else ends[0])


class SlidingWindow(wiring.Component):
    """Position stream of ``channels`` elements -> stream of windows, one per output position.

    Window element ``c * taps + kh * kw_size + kw`` is channel ``c`` at kernel tap ``(kh, kw)``
    (zero where the tap falls in the padding), the flattening order of a conv weight
    ``[out, in, kh, kw]``. Output is a register; the window stalls only when it must emit and
    the output is still full. ``i.ready`` never depends on ``i.valid``.

    ``lookahead``: the consumer's ``o.ready`` is a register and the port ``o_ready_next`` carries
    its next value (its D input). "The output is free" is then a register too, worked out a
    cycle ahead, and so is the output register's load enable: the two wide enables (the shift
    register's and the output's, fanned out to ``channels x taps`` flip-flops spread over the
    engine's adder trees) start at a flip-flop and get the whole cycle for their route. Computed
    from the consumer's credit they were two LUTs and 12.8 ns (kws1d 50 % unrolled, 78 MHz).
    The cycle behaviour is the same either way.
    """

    def __init__(self, elem_shape: ShapeLike, geometry: Geometry, *, lookahead: bool = False) -> None:
        self.elem_shape, self.g, self.lookahead = elem_shape, geometry, lookahead
        sig = {
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, geometry.channels))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, geometry.channels * geometry.taps))),
        }
        if lookahead:
            sig["o_ready_next"] = In(1)
        super().__init__(sig)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        g = self.g
        hp, wp = g.padded
        (ph, pw), (kh_n, kw_n), (oh, ow) = g.padding, g.kernel, g.origin
        # reset parks the walk on the first real position with zeros (the padding it skipped)
        # already in the shift register, as if it had run ahead: latency is then the same
        # for the first map as for any later one
        # The counters hold the position the walk steps to *next*: the current one is known only
        # by its flags (pad, emit, registers below), so the flags' D inputs compare registers,
        # and the increment-and-wrap feeds the counters alone. Counting the current position,
        # increment then compares were two carry chains in series (kws1d 4-bit 17 % unrolled:
        # 104.99 -> 125.63 MHz; kws1d 8-bit 50 %: 107.40 -> 111.17).
        nxt_r, nxt_c = g.walk[(g.start + 1) % len(g.walk)]
        nrow = Signal(range(hp), name="next_row", init=nxt_r)
        ncol = Signal(range(wp), name="next_col", init=nxt_c)
        after_r, after_c = Signal.like(nrow), Signal.like(ncol)  # the position after that
        m.d.comb += [after_c.eq(Mux(ncol == wp - 1, ow, ncol + 1)),
                     after_r.eq(Mux(ncol == wp - 1, Mux(nrow == hp - 1, oh, nrow + 1), nrow))]

        def is_pad(r: Value, c: Value) -> Value:
            return (r < ph) | (r >= ph + g.height) | (c < pw) | (c >= pw + g.width)

        def is_emit(r: Value, c: Value) -> Value:
            return _member(r, g.emit_rows) & _member(c, g.emit_cols)

        # "padding here" and "a window ends here" are registers, worked out for the next position
        # while stepping to it: they gate the enable of the whole shift register, and computed
        # from the counters (compares, a carry chain) they were most of kws1d's critical path on ECP5
        pad = Signal(name="pad", init=g.is_padding(ph, pw))
        emit = Signal(name="emit", init=ph in g.emit_rows and pw in g.emit_cols)
        # The wide fan-outs (the shift register's enable and the input's padding gate, channels x
        # taps x bits flip-flops and LUTs) get their own copies of these control registers, kept
        # as complements (Yosys merges a plain duplicate). Shared with the walk's own next-state
        # logic, the step LUT sat at the centre of that fan-out and every control register's D
        # went there and back: 2 x 3 ns of routing (kws1d 8-bit 50 % unrolled, 97.9 MHz;
        # digits-cnn 4-bit 50 %, the window's input skid, 104.7 MHz).
        pad_n = Signal(name="pad_n", init=not pad.init)
        emit_n = Signal(name="emit_n", init=not emit.init)
        layout = data.ArrayLayout(self.elem_shape, g.channels)
        cur = Signal(layout, name="current")
        with m.If(pad_n):
            m.d.comb += cur.eq(self.i.payload)
        hist = [Signal(layout, name=f"hist{d}") for d in range(1, g.history + 1)]
        # the output register is free / loads this cycle (registers with a lookahead consumer)
        out_free = Signal(name="out_free", init=1)
        load = Signal(name="load", init=emit.init)
        step, shift, free_w = Signal(), Signal(), Signal()  # shift == step, from the copies
        m.d.comb += [
            self.i.ready.eq(~pad & (~emit | out_free)),
            step.eq((pad | self.i.valid) & (~emit | out_free)),
            shift.eq((~pad_n | self.i.valid) & (emit_n | free_w)),
        ]
        # next values of the registers the output's planning needs (their D inputs)
        emit_d, valid_d = Signal(), Signal()
        m.d.comb += [emit_d.eq(Mux(step, is_emit(nrow, ncol), emit)),
                     valid_d.eq((step & emit) | (self.o.valid & ~self.o.ready))]
        m.d.sync += [emit.eq(emit_d), emit_n.eq(~emit_d), self.o.valid.eq(valid_d)]
        with m.If(step):
            m.d.sync += [nrow.eq(after_r), ncol.eq(after_c), pad.eq(is_pad(nrow, ncol)),
                         pad_n.eq(~is_pad(nrow, ncol))]
        with m.If(shift):
            # no history at all for a one-tap window: zip stops at the shorter list
            m.d.sync += [h.eq(prev) for h, prev in zip(hist, [cur, *hist], strict=False)]
        # the output register loads at an emitting position whenever it is free, stepping or not
        # (it reloads until the step, and the step's load is the window). Not "whenever free"
        # alone: that net would also feed `step`, two wide fan-outs in series (71.8 MHz,
        # digits-cnn); not `step & emit`, three LUTs deep
        if self.lookahead:
            free_d = ~valid_d | self.o_ready_next
            free_n = Signal(name="out_free_n")
            m.d.sync += [out_free.eq(free_d), free_n.eq(~free_d), load.eq(emit_d & free_d)]
            m.d.comb += free_w.eq(~free_n)
        else:
            valid_n = Signal(name="o_valid_n", init=1)
            m.d.sync += valid_n.eq(~valid_d)
            m.d.comb += [out_free.eq(~self.o.valid | self.o.ready), load.eq(emit & out_free),
                         free_w.eq(valid_n | self.o.ready)]
        payload = data_register(m, self.o.payload, "payload")
        with m.If(load):
            src = [cur, *hist]
            for c in range(g.channels):
                for kh in range(kh_n):
                    for kw in range(kw_n):
                        tap = src[g.tap_delay(kh, kw)][c]
                        m.d.sync += payload[(c * kh_n + kh) * kw_n + kw].eq(tap)
        return m


def _member(sig: Signal, values: tuple[int, ...]) -> Value:
    """``sig`` is one of ``values`` (a constant set known at generation time)."""
    if not values:
        return Value.cast(0)
    if len(values) == 1 << len(sig) and sorted(values) == list(range(len(values))):
        return Value.cast(1)
    expr: Value = sig == values[0]
    for v in values[1:]:
        expr = expr | (sig == v)
    return expr
