"""Stream adapters for spatial layers: whole feature-map vectors <-> one position per beat.

Spatial engines (:mod:`hwgen.conv`, :mod:`hwgen.pool`) consume and produce *position streams*:
one beat per spatial position in raster order (row-major over the spatial axes), carrying all
channels of that position. The rest of the accelerator moves *vectors*: a whole feature map per
beat, flattened channel-major like ``torch.flatten`` of ``(C, *spatial)`` (element
``c * positions + p``). :class:`Scatter` turns a vector into positions, :class:`Gather` turns
positions back into a vector (the "flatten" in front of a dense layer), and
:class:`SpatialStage` wraps an engine between the two so that it plugs into the vector chain.
A 1-D layer is a 2-D one with height 1.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, ShapeLike, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import fmt_shape
from hwgen.window import EngineModel, Geometry, PipeModel, SlidingWindow, window_timing
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
    last beat.
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
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.Switch(p):
                for k in range(n):
                    with m.Case(k):
                        m.d.sync += [self.o.payload[c * n + k].eq(self.i.payload[c])
                                     for c in range(self.channels)]
            with m.If(p == n - 1):
                m.d.sync += [p.eq(0), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += p.eq(p + 1)
        return m


class SpatialStage(wiring.Component):
    """Scatter -> :class:`~hwgen.window.SlidingWindow` -> ``engine`` -> Gather, as one vector stage.

    ``engine`` maps one window beat (``channels * taps`` elements, ordered channel, then kernel
    row, then kernel column, like ``weight[o].flatten()``) to one output-position beat. The stage
    has the same contract as a dense layer (``i``/``o`` vector streams, ``latency``,
    ``cycles_per_inference``), so the accelerator chain and its per-layer taps need not know
    that it is spatial. ``model`` is the engine's cycle model, from which ``latency`` and
    ``cycles_per_inference`` are computed exactly (:func:`~hwgen.window.window_timing`).
    """

    def __init__(self, node: Layer | Pool, engine: wiring.Component, in_shape: ShapeLike,
                 out_shape: ShapeLike, out_channels: int, model: EngineModel) -> None:
        self.node = node
        self.geometry = g = Geometry.of(node)
        self.engine = engine
        self.scatter = Scatter(in_shape, g.channels, g.positions)
        self.window = SlidingWindow(in_shape, g)
        self.gather = Gather(out_shape, out_channels, g.out_positions)
        timing = window_timing(g, model)
        self.latency, self.cycles_per_inference = timing.latency, timing.cycles_per_map
        for attr in ("adders", "constant_channels", "lanes", "rom_entries"):
            if hasattr(engine, attr):
                setattr(self, attr, getattr(engine, attr))
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(in_shape, g.channels * g.positions))),
            "o": Out(stream.Signature(data.ArrayLayout(out_shape, out_channels * g.out_positions))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.scatter = self.scatter
        m.submodules.window = self.window
        m.submodules.engine = self.engine
        m.submodules.gather = self.gather
        wiring.connect(m, wiring.flipped(self.i), self.scatter.i)
        wiring.connect(m, self.scatter.o, self.window.i)
        wiring.connect(m, self.window.o, self.engine.i)
        wiring.connect(m, self.engine.o, self.gather.i)
        wiring.connect(m, self.gather.o, wiring.flipped(self.o))
        return m


def build_spatial(node: Layer | Pool, *, folded: bool = False, lanes: int = 1, dense: bool = False,
                  **opts: Any) -> SpatialStage:
    """The vector stage of a conv or pool node; ``folded``/``lanes``/``dense`` pick the conv engine.

    Pooling has no weights, so every style builds the same pooling engine.
    """
    if isinstance(node, Pool):
        from hwgen.pool import PoolEngine

        engine: wiring.Component = PoolEngine(node)
        model: EngineModel = PipeModel(engine.latency)
        out_shape, out_channels = fmt_shape(node.input), node.in_shape[0]
    else:
        from hwgen.conv import conv_engine

        engine, model = conv_engine(node, folded, lanes, dense, **opts)
        out_shape, out_channels = fmt_shape(node.output), node.out_features
    return SpatialStage(node, engine, fmt_shape(node.input), out_shape, out_channels, model)
