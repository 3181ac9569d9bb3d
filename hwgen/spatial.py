"""Spatial layers: a sliding window and an engine, streaming positions; map/position adapters.

Spatial engines (:mod:`hwgen.conv`, :mod:`hwgen.pool`) consume and produce *position streams*:
one beat per spatial position in raster order (row-major over the spatial axes), carrying all
channels of that position. Dense layers and the (de)serializer move *vectors*: a whole feature
map per beat, flattened channel-major like ``torch.flatten`` of ``(C, *spatial)`` (element
``c * positions + p``). A :class:`SpatialStage` is window + engine; it takes a position stream
when its predecessor is spatial too and emits one when its successor is, so a run of spatial
layers never gathers a whole map into registers (a map-wide register copy and its 64:1 muxes
were the critical path on ECP5). Only where a run meets the vector world does it get a
:class:`Scatter` (vector in, first stage of a run) or a :class:`Gather` (vector out: the
"flatten" in front of a dense layer or the serializer). A 1-D layer is a 2-D one with height 1.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, ShapeLike, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen import timing
from hwgen.common import data_register, fmt_shape
from hwgen.timing import Collect, Part, isolated
from hwgen.window import Geometry, SlidingWindow
from zerogate.ir import Layer, Pool


class Scatter(wiring.Component):
    """A channel-major vector of ``channels x positions`` elements -> ``positions`` beats.

    Stores nothing: beat ``p`` muxes elements ``c * positions + p`` out of the input payload,
    which the stream protocol keeps stable until the input is taken, in the cycle its last
    position is taken. Latency 0; one position per cycle.
    """

    latency = 0

    def __init__(self, elem_shape: ShapeLike, channels: int, positions: int) -> None:
        self.elem_shape, self.channels, self.positions = elem_shape, channels, positions
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, channels * positions))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, channels))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self.positions
        p = Signal(range(n), name="position")
        last = Signal()
        m.d.comb += [self.o.valid.eq(self.i.valid), last.eq(p == n - 1),
                     self.i.ready.eq(self.o.ready & last)]
        with m.Switch(p):
            for k in range(n):
                with m.Case(k):
                    m.d.comb += [self.o.payload[c].eq(self.i.payload[c * n + k])
                                 for c in range(self.channels)]
        with m.If(self.o.valid & self.o.ready):
            with m.If(last):
                m.d.sync += p.eq(0)
            with m.Else():
                m.d.sync += p.eq(p + 1)
        return m


class Gather(wiring.Component):
    """``positions`` beats of ``channels`` elements -> one channel-major vector (flatten).

    Element ``c`` of beat ``p`` lands in slot ``c * positions + p``. The finished vector is held
    until taken; the next map's first beat is accepted in that same cycle. Latency 1 from the
    last beat. ``i.ready`` is combinational, like :class:`~hwgen.pool.PoolEngine`'s (and for
    the same reason).
    """

    latency = 1

    def __init__(self, elem_shape: ShapeLike, channels: int, positions: int) -> None:
        self.elem_shape, self.channels, self.positions = elem_shape, channels, positions
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, channels))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, channels * positions))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = self.positions
        p = Signal(range(n), name="position")
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        payload = data_register(m, self.o.payload, "payload")
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.Switch(p):
                for k in range(n):
                    with m.Case(k):
                        m.d.sync += [payload[c * n + k].eq(self.i.payload[c])
                                     for c in range(self.channels)]
            with m.If(p == n - 1):
                m.d.sync += [p.eq(0), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += p.eq(p + 1)
        return m


class SpatialStage(wiring.Component):
    """[Scatter ->] :class:`~hwgen.window.SlidingWindow` -> ``engine`` [-> Gather], as one chain stage.

    ``engine`` maps one window beat (``channels * taps`` elements, ordered channel, then kernel
    row, then kernel column, like ``weight[o].flatten()``) to one output-position beat.
    ``stream_in``: ``i`` is a position stream (the predecessor is spatial), else a whole-map
    vector behind a Scatter; ``stream_out`` likewise for ``o`` and the Gather. Attributes:
    ``geometry``, ``out_channels``, and ``latency`` / ``cycles_per_inference`` of the stage on
    its own (input always available, output always ready), from the token model
    (:mod:`hwgen.timing`); inside the accelerator its neighbours change both, so the chain is
    modelled as a whole there.
    """

    def __init__(self, node: Layer | Pool, engine: wiring.Component, in_shape: ShapeLike,
                 out_shape: ShapeLike, out_channels: int, *, stream_in: bool = False,
                 stream_out: bool = False) -> None:
        self.node = node
        self.geometry = g = Geometry.of(node)
        self.engine = engine
        self.out_channels = out_channels
        self.stream_in, self.stream_out = stream_in, stream_out
        self.scatter = None if stream_in else Scatter(in_shape, g.channels, g.positions)
        self.window = SlidingWindow(in_shape, g, lookahead="ready_next" in engine.signature.members)
        self.gather = None if stream_out else Gather(out_shape, out_channels, g.out_positions)
        own = isolated(self.timing_parts(), g.out_positions if stream_out else 1)
        self.latency, self.cycles_per_inference = own.latency, own.cycles_per_inference
        for attr in ("adders", "constant_channels", "lanes", "rom_entries"):
            if hasattr(engine, attr):
                setattr(self, attr, getattr(engine, attr))
        in_n = g.channels * (1 if stream_in else g.positions)
        out_n = out_channels * (1 if stream_out else g.out_positions)
        sig = {
            "i": In(stream.Signature(data.ArrayLayout(in_shape, in_n))),
            "o": Out(stream.Signature(data.ArrayLayout(out_shape, out_n))),
        }
        if "o_ready_next" in engine.signature.members:  # only with stream_out: see build_spatial
            sig["o_ready_next"] = In(1)  # the engine drives ``o``: see hwgen.layers.build_layer
        super().__init__(sig)

    def timing_parts(self) -> list[Part]:
        """Fresh token models of the stage's components, input to output (:mod:`hwgen.timing`)."""
        g = self.geometry
        return [*([] if self.stream_in else [timing.Scatter(g.positions)]), timing.Window(g),
                timing.engine_part(self.engine), *([] if self.stream_out else [Collect(g.out_positions)])]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        chain: list[wiring.Component] = [self.window, self.engine]
        if self.scatter is not None:
            m.submodules.scatter = self.scatter
            chain.insert(0, self.scatter)
        m.submodules.window = self.window
        m.submodules.engine = self.engine
        if self.gather is not None:
            m.submodules.gather = self.gather
            chain.append(self.gather)
        # the window (and a streaming engine) plan their enables from their consumer's next ready
        if self.window.lookahead:
            m.d.comb += self.window.o_ready_next.eq(self.engine.ready_next)
        if "o_ready_next" in self.signature.members:
            m.d.comb += self.engine.o_ready_next.eq(self.o_ready_next)
        wiring.connect(m, wiring.flipped(self.i), chain[0].i)
        for a, b in zip(chain, chain[1:], strict=False):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, chain[-1].o, wiring.flipped(self.o))
        return m


def build_spatial(node: Layer | Pool, *, folded: bool = False, lanes: int = 1, dense: bool = False,
                  stream_in: bool = False, stream_out: bool = False, lookahead_out: bool = False,
                  **opts: Any) -> SpatialStage:
    """The stage of a conv or pool node; ``folded``/``lanes``/``dense`` pick the conv engine.

    Pooling has no weights, so every style builds the same pooling engine. ``stream_in`` /
    ``stream_out``: see :class:`SpatialStage`.
    """
    if isinstance(node, Pool):
        from hwgen.pool import PoolEngine

        engine: wiring.Component = PoolEngine(node)
        out_shape, out_channels = fmt_shape(node.input), node.in_shape[0]
    else:
        from hwgen.conv import conv_engine

        engine = conv_engine(node, folded, lanes, dense, lookahead=lookahead_out and stream_out, **opts)
        out_shape, out_channels = fmt_shape(node.output), node.out_features
    return SpatialStage(node, engine, fmt_shape(node.input), out_shape, out_channels,
                        stream_in=stream_in, stream_out=stream_out)
