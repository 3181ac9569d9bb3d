"""The whole accelerator: deserializer -> one unrolled pipeline per layer -> serializer."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import check_supported, fmt_shape
from hwgen.dense import UnrolledDense
from hwgen.serdes import Deserializer, Serializer, beats
from hwgen.skid import SkidBuffer
from zerogate.errors import UnsupportedError
from zerogate.ir import Network


class Accelerator(wiring.Component):
    """Streams input vectors in ``in_lanes`` elements per beat and results out ``out_lanes`` per beat.

    Submodules are named ``deser``, ``layer0``, ``layer1``, ... and ``ser`` so that testbenches
    can tap every layer's output stream; a skid buffer ``skid{k}`` sits in front of each layer
    and of the serializer, so no ``ready`` path spans more than one stage (Fmax). Attributes, all
    in clock cycles:

    * ``latency``: first input beat accepted -> first output beat valid (no gaps, no back-pressure);
    * ``beats_in`` / ``beats_out``: beats per vector on each side;
    * ``ii``: cycles per inference in steady state, ``max(beats_in, beats_out)``, because every
      layer accepts a vector per cycle.
    """

    def __init__(self, net: Network, in_lanes: int = 8, out_lanes: int = 2, *,
                 adder_levels_per_stage: int = 2) -> None:
        # refuse unsupported layers before any hardware (or Verilog) exists
        try:
            for k, layer in enumerate(net.layers):
                check_supported(layer, f"layer {k}")
        except UnsupportedError:
            self._MustUse__silence = True  # never built, so do not warn that it was never used
            raise
        self.net = net
        self.in_lanes, self.out_lanes = in_lanes, out_lanes
        self.in_shape = fmt_shape(net.input)
        self.out_shape = fmt_shape(net.output)
        self.layers = [UnrolledDense(ly, adder_levels_per_stage=adder_levels_per_stage) for ly in net.layers]
        self.deser = Deserializer(self.in_shape, net.in_features, in_lanes)
        self.ser = Serializer(self.out_shape, net.out_features, out_lanes)
        self.beats_in = beats(net.in_features, in_lanes)
        self.beats_out = beats(net.out_features, out_lanes)
        self.ii = max(self.beats_in, self.beats_out)
        self.skids = [SkidBuffer(data.ArrayLayout(self.in_shape, net.in_features))] + [
            SkidBuffer(data.ArrayLayout(fmt_shape(ly.output), ly.out_features)) for ly in net.layers
        ]
        self.latency = (self.deser.latency + sum(ly.latency for ly in self.layers) + self.ser.latency
                        + sum(sk.latency for sk in self.skids))
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
