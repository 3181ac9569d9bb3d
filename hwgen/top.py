"""The whole accelerator: input skid -> deserializer -> one stage per IR node -> serializer, skid
buffers between.

The chain is generic: every stage comes from :func:`hwgen.layers.build_layer` and only needs
``i``/``o`` streams. A spatial first layer gets its map position by position from a
:class:`~hwgen.mapbuf.MapBuffer` (RAM) in the deserializer's place, when the input beats split
the map evenly. Between the deserializer, dense layers and the serializer the streams carry
whole vectors; between two neighbouring spatial (conv/pool) stages they carry one position (all
channels of it) per beat, so such a skid buffer holds a position rather than a whole map
(:mod:`hwgen.spatial`). Latency and throughput come from a cycle-accurate token model of the
whole chain (:mod:`hwgen.timing`), because streaming stages pace each other.

A skid buffer sits on every link whose consumer's ``i.ready`` is combinational; a folded dense
layer of three or more steps (:func:`hwgen.folded.registered_ready`) and a serializer of two or
more beats already have a registered ``i.ready`` and say its next value on ``ready_next``, so
their producer connects to them directly: the skid's two payload registers there would be two
more copies of a whole vector (640 flip-flops in front of digits-mlp's first layer, 320 in front
of its serializer) that buy no Fmax.

The input pins meet a skid buffer (``i.ready`` a register, ``i.valid`` only gating local
registers): with the deserializer's combinational ``i.ready`` on the pins, the placer pulled the
handshake LUT out to the I/O ring and that round trip (9 ns of routing) set the Fmax of the
whole design.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amaranth.hdl import Module, ShapeLike
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen import mapbuf
from hwgen.balance import balanced_styles
from hwgen.common import fmt_shape, hear_ready_next
from hwgen.head import ArgmaxHead, check_head
from hwgen.layers import LayerStyle, build_layer, check_buildable, is_spatial, parse_style
from hwgen.serdes import Deserializer, Serializer, beats
from hwgen.skid import SkidBuffer
from hwgen.timing import (
    Collect,
    MapStore,
    Part,
    Serialize,
    Skid,
    engine_part,
    item_ends,
    run_chain,
    steady_interval,
)
from hwgen.window import Geometry
from zerogate.errors import ConfigError, UserError
from zerogate.ir import Network

#: Back-to-back inferences the timing model runs; ``ii`` is the mean interval over the second half,
#: which is where the testbench measures it too (after as many warm-up vectors).
TIMED_INFERENCES = 16


def payload_shape(stage: wiring.Component, port: str = "o") -> ShapeLike:
    """The payload shape of a stage's stream ``port``, whatever the stage is."""
    return stage.signature.members[port].signature.members["payload"].shape


def needs_skid(consumer: wiring.Component) -> bool:
    """Whether the link into ``consumer`` gets a :class:`~hwgen.skid.SkidBuffer`: only a consumer
    whose ``i.ready`` is combinational needs one to keep ``ready`` paths one stage long."""
    return not getattr(consumer, "registered_i_ready", False)


def resolve_styles(n_layers: int, style: LayerStyle | str = "unrolled", lanes: int = 1,
                   layer_styles: Mapping[int, LayerStyle | str] | None = None) -> list[LayerStyle]:
    """One :class:`LayerStyle` per layer: the global ``style``/``lanes`` unless overridden."""
    default = style if isinstance(style, LayerStyle) else LayerStyle(style, lanes)
    out = [default] * n_layers
    for k, st in (layer_styles or {}).items():
        if not 0 <= k < n_layers:
            raise ConfigError(f"layer style for layer {k}: the network has layers 0..{n_layers - 1}")
        out[k] = st if isinstance(st, LayerStyle) else parse_style(st, default.lanes)
    return out


class Accelerator(wiring.Component):
    """Streams input vectors in ``in_lanes`` elements per beat and results out ``out_lanes`` per beat.

    Submodules are named ``iskid``, ``deser`` (a :class:`~hwgen.mapbuf.MapBuffer` when ``map_in``),
    ``layer0``, ``layer1``, ... and ``ser`` so that testbenches
    can tap every layer's output stream; a skid buffer ``skid{k}`` sits in front of layer ``k``
    (or the serializer, ``k`` = number of layers) unless that consumer's ``i.ready`` is already a
    register (:func:`needs_skid`; ``skids[k]`` is then ``None``), so no ``ready`` path spans more
    than one stage (Fmax). ``taps[k]``: the submodule whose ``i`` port carries layer ``k``'s output
    (its skid buffer, else the next layer or ``ser``). A spatial
    layer whose neighbour is spatial too streams positions to it (``out_positions[k]`` beats of
    ``out_channels[k]`` elements per map; ``out_positions[k] == 0`` for a vector output).
    Attributes, all in clock cycles, from the token model (:mod:`hwgen.timing`):

    * ``latency``: first input beat accepted -> first output beat valid (no gaps, no back-pressure);
    * ``beats_in`` / ``beats_out``: beats per vector on each side;
    * ``ii``: cycles per inference in steady state (input always available, output always ready);
    * ``layer_latency[k]``: in that run, layer ``k``'s first input valid -> first output valid.
    """

    def __init__(self, net: Network, in_lanes: int = 8, out_lanes: int = 2, *,
                 style: LayerStyle | str = "unrolled", lanes: int = 1,
                 layer_styles: Mapping[int, LayerStyle | str] | None = None, balance: bool = True,
                 head: str = "none", **opts: Any) -> None:
        # refuse unsupported layers before any hardware (or Verilog) exists
        try:
            self.styles = resolve_styles(len(net.layers), style, lanes, layer_styles)
            for k, (layer, st) in enumerate(zip(net.layers, self.styles, strict=True)):
                check_buildable(layer, k, st)
            check_head(head, net.out_features)
        except UserError:
            self._MustUse__silence = True  # never built, so do not warn that it was never used
            raise
        self.net = net
        self.in_lanes, self.out_lanes = in_lanes, out_lanes
        self.in_shape = fmt_shape(net.input)
        # the argmax head (hwgen.head) sits in front of the serializer and shrinks the output to an index
        self.head = ArgmaxHead(fmt_shape(net.output), net.out_features) if head == "argmax" else None
        self.out_shape = self.head.idx_shape if self.head is not None else fmt_shape(net.output)
        self.n_out = 1 if self.head is not None else net.out_features
        self._opts = opts
        # a spatial first layer reads its map position by position out of RAM (hwgen.mapbuf)
        first = net.layers[0]
        g0 = Geometry.of(first) if is_spatial(first) else None
        map_g = g0 if g0 is not None and mapbuf.fits(g0.positions, in_lanes) else None
        self.map_in = map_g is not None
        self.layers = self._build(self.styles)
        self.out_positions = [s.geometry.out_positions if getattr(s, "stream_out", False) else 0
                              for s in self.layers]
        self.out_channels = [s.out_channels if p else 0 for s, p in zip(self.layers, self.out_positions,
                                                                             strict=True)]
        self.deser: wiring.Component = (
            mapbuf.MapBuffer(self.in_shape, map_g.channels, map_g.positions, in_lanes) if map_g
            else Deserializer(self.in_shape, net.in_features, in_lanes))
        self.ser = Serializer(self.out_shape, self.n_out, out_lanes)
        self.beats_in = beats(net.in_features, in_lanes)
        self.beats_out = beats(self.n_out, out_lanes)
        self.iskid = SkidBuffer(data.ArrayLayout(self.in_shape, in_lanes))
        self._timing()
        if balance:
            self._balance()
        consumers = [*self.layers, self.head or self.ser]
        self.skids = [SkidBuffer(payload_shape(s)) if needs_skid(c) else None
                      for s, c in zip([self.deser, *self.layers], consumers, strict=True)]
        nexts = [f"layer{k}" for k in range(1, len(self.layers))] + ["head" if self.head else "ser"]
        self.taps = [nxt if skid is None else f"skid{k}"
                     for k, (skid, nxt) in enumerate(zip(self.skids[1:], nexts, strict=True), start=1)]
        if self.head is not None:
            self.taps.append("o")  # the head's output is the top's (one element, one beat; the wires between
            # it and the port leave no module behind in the Verilog)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.in_shape, in_lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, out_lanes))),
        })

    def _build(self, styles: list[LayerStyle], *, keep: list[wiring.Component] | None = None,
               ) -> list[wiring.Component]:
        """One stage per layer; with ``keep`` (built for ``self.styles``), a layer whose style is
        unchanged keeps its stage instead of being built again."""
        sp = [is_spatial(ly) for ly in self.net.layers]
        return [keep[k] if keep is not None and st == self.styles[k] else
                build_layer(ly, k, st.style, st.lanes,
                            stream_in=sp[k] and (sp[k - 1] if k > 0 else self.map_in),
                            stream_out=sp[k] and k + 1 < len(sp) and sp[k + 1], lookahead_out=True,
                            **self._opts)
                for k, (ly, st) in enumerate(zip(self.net.layers, styles, strict=True))]

    def _balance(self) -> None:
        """Cut each folded layer to the lanes the chain's ``ii`` needs (:mod:`hwgen.balance`)."""
        styles = balanced_styles(self.net.layers, self.styles, self.ii)
        if styles == self.styles:
            return
        old = (self.layers, self.latency, self.ii, self.layer_latency)
        self.layers = self._build(styles, keep=old[0])
        self._timing()
        kept, dropped = self.layers, old[0]
        if self.ii > old[2]:  # pragma: no cover - a stage paced by a neighbour: keep the full lanes
            kept, dropped = dropped, kept
            self.layers, self.latency, self.ii, self.layer_latency = old
        else:
            self.styles = styles
        _discard([s for s in dropped if all(s is not k for k in kept)])

    def _timing(self) -> None:
        """Run the token model of the whole chain for ``TIMED_INFERENCES`` back-to-back inferences."""
        d = self.deser
        parts: list[Part] = [Skid(), MapStore(d.beats, d.positions) if isinstance(d, mapbuf.MapBuffer)
                             else Collect(self.beats_in)]
        links = []  # (input link, output link) of each layer
        for layer in self.layers:
            if needs_skid(layer):
                parts.append(Skid())
            start = len(parts)
            parts += layer.timing_parts() if hasattr(layer, "timing_parts") else [engine_part(layer)]
            links.append((start, len(parts)))
        # the argmax head is wires between the skid and the serializer: no part of its own
        parts += [*([Skid()] if needs_skid(self.head or self.ser) else []), Serialize(self.beats_out)]
        run = run_chain(parts, TIMED_INFERENCES, self.beats_out)
        first = run.first_valid
        self.latency = first[-1] - run.fires[0][0]
        self.ii = steady_interval(item_ends(run, len(parts), self.beats_out))
        self.layer_latency = [first[b] - first[a] for a, b in links]  # type: ignore[operator]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.iskid = self.iskid
        m.submodules.deser = self.deser
        for k, layer in enumerate(self.layers):
            m.submodules[f"layer{k}"] = layer
        m.submodules.ser = self.ser
        wiring.connect(m, wiring.flipped(self.i), self.iskid.i)
        wiring.connect(m, self.iskid.o, self.deser.i)
        prev = self.deser.o
        producers = [self.deser, *self.layers]
        if self.head is not None:
            m.submodules.head = self.head
            wiring.connect(m, self.head.o, self.ser.i)
        for k, (skid, nxt) in enumerate(zip(self.skids, [*self.layers, self.head or self.ser], strict=True)):
            # without a skid, nxt's own i.ready is a register whose next value is nxt.ready_next
            sink = nxt if skid is None else skid
            if skid is not None:
                m.submodules[f"skid{k}"] = skid
            wiring.connect(m, prev, sink.i)
            hear_ready_next(m, producers[k], sink.ready_next)
            if skid is not None:
                wiring.connect(m, skid.o, nxt.i)
            prev = getattr(nxt, "o", None)
        wiring.connect(m, self.ser.o, wiring.flipped(self.o))
        return m


def _discard(stages: list[wiring.Component]) -> None:
    """Stages built only to be timed: no "never elaborated" warnings for them or their parts."""
    for s in stages:
        for c in (s, *vars(s).values()):
            if isinstance(c, wiring.Component):
                c._MustUse__silence = True  # type: ignore[attr-defined]
