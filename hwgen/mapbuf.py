"""Input map of a spatial first layer: input beats in, one position (all channels) per beat out.

The input stream is channel-major (element ``c * positions + p``, like ``torch.flatten``), so the
first position is complete only once the last channel has arrived: the whole map must be stored.
It used to be stored three times in flip-flops (the deserializer's shift register, then the
skid buffer's two payload registers) and cut into positions by a ``positions``:1 mux; on ECP5
that mux and the skid buffer's map-wide load enable (driven by the window's ``ready``) set the
Fmax of kws1d (1024 bits, 67-79 MHz). Here the map goes into RAM, double-buffered so the next
map is written while this one is read: one bank per channel, one word per input beat (``lanes``
elements), written at the beat's own address, read one position per cycle. No enable spans the
map; the read side is a two-register pipeline (RAM word, then the selected lane) that stalls
on ``~o.valid | o.ready``, so a skid buffer behind it keeps that enable shallow.

Needs every beat to fall inside one channel (``positions % lanes == 0``);
:func:`fits` says whether it does, and the accelerator keeps the register path otherwise.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ShapeLike, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.common import data_register

#: Cycles from the clock edge that completes a map to ``o.valid`` of its first position.
READ_LATENCY = 3


def fits(positions: int, lanes: int) -> bool:
    """A :class:`MapBuffer` can take this map: each input beat lies inside one channel."""
    return positions >= 1 and lanes >= 1 and positions % lanes == 0


class MapBuffer(wiring.Component):
    """``channels * positions`` elements in ``lanes`` per beat -> ``positions`` beats of ``channels``.

    Two map buffers: ``i.ready`` is the registered "this buffer is free" flag, so input beats
    stream in at one per cycle while the other map is read out. A map becomes readable the cycle
    after its last beat; its first position is valid :data:`READ_LATENCY` cycles after that
    beat's edge. ``beats`` (per map) and ``latency`` (first beat accepted -> first position valid,
    nothing stalled) are attributes.
    """

    def __init__(self, elem_shape: ShapeLike, channels: int, positions: int, lanes: int) -> None:
        if not fits(positions, lanes):
            self._MustUse__silence = True  # never built: no "never used" warning
            raise ValueError(f"{positions} positions do not split into beats of {lanes} lanes")
        self.elem_shape, self.channels, self.positions, self.lanes = elem_shape, channels, positions, lanes
        self.words = positions // lanes  # beats per channel
        self.beats = channels * self.words
        self.latency = self.beats - 1 + READ_LATENCY
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(elem_shape, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(elem_shape, channels))),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        L, W = self.lanes, self.words
        word_bits = (W - 1).bit_length()
        word = data.ArrayLayout(self.elem_shape, L)
        full = Signal(2)  # map buffer b holds a whole map not yet read out
        # write side: beat by beat into bank ``wc`` at word ``ww`` of buffer ``wb``
        wb, wc, ww = Signal(), Signal(range(self.channels)), Signal(range(W))
        m.d.comb += self.i.ready.eq(~full.bit_select(wb, 1))
        w_fire, w_last = Signal(), Signal()
        m.d.comb += [w_fire.eq(self.i.valid & self.i.ready),
                     w_last.eq((ww == W - 1) & (wc == self.channels - 1))]
        # read side: position ``r_word * L + r_lane`` of buffer ``rb``
        rb, r_word, r_lane = Signal(), Signal(range(W)), Signal(range(L))
        en, issue, r_last = Signal(), Signal(), Signal()  # en: the read pipeline advances
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), issue.eq(en & full.bit_select(rb, 1)),
                     r_last.eq((r_word == W - 1) & (r_lane == L - 1))]
        rd_lane, rd_valid = Signal(range(L)), Signal()
        payload = data_register(m, self.o.payload, "payload")
        for c in range(self.channels):
            mem = memory.Memory(shape=word, depth=2 << word_bits, init=[])
            m.submodules[f"bank{c}"] = mem
            wp, rport = mem.write_port(), mem.read_port(domain="sync")
            m.d.comb += [wp.addr.eq(Cat(ww[:word_bits], wb)), wp.data.eq(self.i.payload),
                         wp.en.eq(w_fire & (wc == c)),
                         rport.addr.eq(Cat(r_word[:word_bits], rb)), rport.en.eq(en)]
            with m.If(en):
                m.d.sync += payload[c].eq(rport.data[rd_lane])
        with m.If(en):
            m.d.sync += [rd_valid.eq(issue), rd_lane.eq(r_lane), self.o.valid.eq(rd_valid)]
        with m.If(w_fire):
            m.d.sync += ww.eq(Mux(ww == W - 1, 0, ww + 1))
            with m.If(ww == W - 1):
                m.d.sync += wc.eq(Mux(wc == self.channels - 1, 0, wc + 1))
            with m.If(w_last):
                m.d.sync += wb.eq(~wb)
        with m.If(issue):
            m.d.sync += r_lane.eq(Mux(r_lane == L - 1, 0, r_lane + 1))
            with m.If(r_lane == L - 1):
                m.d.sync += r_word.eq(Mux(r_word == W - 1, 0, r_word + 1))
            with m.If(r_last):
                m.d.sync += rb.eq(~rb)
        for b in range(2):  # a buffer is written only while not full and read only while full
            with m.If(w_fire & w_last & (wb == b)):
                m.d.sync += full[b].eq(1)
            with m.Elif(issue & r_last & (rb == b)):
                m.d.sync += full[b].eq(0)
        return m
