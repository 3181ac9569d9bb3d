"""The whole accelerator: deserializer -> one stage per IR node -> serializer, skid buffers between.

The chain is generic: every stage comes from :func:`hwgen.layers.build_layer` and only needs
``i``/``o`` streams, a ``latency`` and a ``cycles_per_inference`` (``None`` when not fixed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amaranth.hdl import Module, ShapeLike
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import fmt_shape
from hwgen.layers import LayerStyle, build_layer, check_buildable, parse_style
from hwgen.serdes import Deserializer, Serializer, beats
from hwgen.skid import SkidBuffer
from zerogate.errors import ConfigError, UserError
from zerogate.ir import Network


def payload_shape(stage: wiring.Component, port: str = "o") -> ShapeLike:
    """The payload shape of a stage's stream ``port``, whatever the stage is."""
    return stage.signature.members[port].signature.members["payload"].shape


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

    Submodules are named ``deser``, ``layer0``, ``layer1``, ... and ``ser`` so that testbenches
    can tap every layer's output stream; a skid buffer ``skid{k}`` sits in front of each layer
    and of the serializer, so no ``ready`` path spans more than one stage (Fmax). Attributes, all
    in clock cycles:

    * ``latency``: first input beat accepted -> first output beat valid (no gaps, no back-pressure),
      ``None`` if some stage's latency is not fixed;
    * ``beats_in`` / ``beats_out``: beats per vector on each side;
    * ``ii``: cycles per inference in steady state: the slowest stage's ``cycles_per_inference``
      (``beats_in``/``beats_out`` for the adapters), because the stages overlap.
    """

    def __init__(self, net: Network, in_lanes: int = 8, out_lanes: int = 2, *,
                 style: LayerStyle | str = "unrolled", lanes: int = 1,
                 layer_styles: Mapping[int, LayerStyle | str] | None = None, **opts: Any) -> None:
        # refuse unsupported layers before any hardware (or Verilog) exists
        try:
            self.styles = resolve_styles(len(net.layers), style, lanes, layer_styles)
            for k, (layer, st) in enumerate(zip(net.layers, self.styles, strict=True)):
                check_buildable(layer, k, st)
        except UserError:
            self._MustUse__silence = True  # never built, so do not warn that it was never used
            raise
        self.net = net
        self.in_lanes, self.out_lanes = in_lanes, out_lanes
        self.in_shape = fmt_shape(net.input)
        self.out_shape = fmt_shape(net.output)
        self.layers = [build_layer(ly, k, st.style, st.lanes, **opts)
                       for k, (ly, st) in enumerate(zip(net.layers, self.styles, strict=True))]
        self.deser = Deserializer(self.in_shape, net.in_features, in_lanes)
        self.ser = Serializer(self.out_shape, net.out_features, out_lanes)
        self.beats_in = beats(net.in_features, in_lanes)
        self.beats_out = beats(net.out_features, out_lanes)
        stages = [self.deser, *self.layers]
        self.skids = [SkidBuffer(payload_shape(s)) for s in stages]
        cpi = [getattr(s, "cycles_per_inference", 1) for s in self.layers]
        self.ii = max([self.beats_in, self.beats_out, *[c for c in cpi if c is not None]])
        lat = [self.deser.latency, *[getattr(s, "latency", None) for s in self.layers], self.ser.latency]
        self.latency = None if None in lat else sum(lat) + sum(sk.latency for sk in self.skids)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self.in_shape, in_lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, out_lanes))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.deser = self.deser
        for k, layer in enumerate(self.layers):
            m.submodules[f"layer{k}"] = layer
        m.submodules.ser = self.ser
        wiring.connect(m, wiring.flipped(self.i), self.deser.i)
        prev = self.deser.o
        for k, (skid, nxt) in enumerate(zip(self.skids, [*self.layers, self.ser], strict=True)):
            m.submodules[f"skid{k}"] = skid
            wiring.connect(m, prev, skid.i)
            wiring.connect(m, skid.o, nxt.i)
            prev = getattr(nxt, "o", None)
        wiring.connect(m, self.ser.o, wiring.flipped(self.o))
        return m
