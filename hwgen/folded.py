"""A folded dense layer: ``lanes`` multiply-accumulate lanes walk only the nonzero weights.

Storage (the sparse format): the nonzeros, in row-major (CSR) order, are cut into contiguous
chunks of ``T = ceil(nnz / lanes)`` entries, one per lane (``ceil(nnz / T)`` lanes are built: no
lane without work, so a 1-nonzero layer asked for 4 lanes gets 1); ROM word ``t`` holds, for
every lane, entry ``t`` of its chunk as ``(weight, input index, first)``. ``first`` marks the start of a
row inside a chunk (it clears the lane's accumulator). A row cut by a chunk boundary leaves a
partial sum in each lane it touches; those partials land in per-(lane, row) *slot* registers
at statically known steps and are added (with the bias) once per inference. So a layer takes
``T`` cycles per inference whatever its row lengths, and lane efficiency is
``nnz / (lanes * T)``: at least 90% once ``nnz >= 9 * lanes``.

Widths: each lane's weight field is as wide as its own weights need; products, lane
accumulators and slots are sized from exact bounds of the entries they can carry, and a
channel's sum has exactly the IR's ``acc_bits``. With ``dense=True`` (the baseline) every weight
slot is stored and walked, the input index comes from a counter instead of the ROM, and widths
are sized for any weight of the channel's declared width (programmable hardware).

Pipeline, all stalling together on ``en = ~o.valid | o.ready``: A issue step ``t`` (its ROM
word, read the cycle before) -> B registered ROM word, first level of the input select (one of
every ``SELECT_GROUP`` inputs) -> S second level -> C multiply -> D accumulate / capture slots ->
E channel sums + bias -> F requantize -> ``o``. The input is double-buffered
(``x_next`` fills while ``x_work`` is in use), so back-to-back inferences overlap and cost ``T`` cycles each.
With ``T >= 3`` steps ``i.ready`` is the register ``~full``: ``x_next`` refills in the cycle after
its handover, still in time for the next one, and the producer's enable (a sliding window's
line buffer: thousands of flip-flops) no longer waits for ``en`` to ripple through this stage.

``single_buffer`` drops ``x_next`` (one copy of the input vector fewer: 320 flip-flops in front of
digits-mlp's first layer, 520 of the 4263 of its folded:2 UP5K build): the input is
taken straight into ``x_work`` once stage B has read the last step of the one before, so an
inference costs ``T + 2`` cycles (:data:`SINGLE_BUFFER_GAP`) and ``i.ready`` is the register
``~busy`` whatever ``T``. The producer's own output register holds the next vector meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.common import bounds_shape, fmt_shape
from hwgen.requant import requant_bounds, round_offset, shift_clamp
from zerogate.fixedpoint import signed_bits_for, weight_range
from zerogate.ir import Layer

#: Cycles from an accepted input vector to its output being valid, on top of ``T``.
FIXED_LATENCY = 7

#: Extra cycles per inference of a single-buffered engine: ``x_work`` is free once stage B has
#: read step ``T - 1`` (a cycle after A issued it), and is refilled the cycle after that.
SINGLE_BUFFER_GAP = 2

#: Inputs per group in the first level of a lane's input select. 8:1 is one ECP5 slice pair
#: (LUT4s, PFUMX, L6MUX: no general routing inside); done in one cycle, a 72:1 select was five
#: mux levels and 9.4 ns of routing from the ROM word to ``x_c`` (digits-cnn folded:4, 88 MHz).
SELECT_GROUP = 8


#: Lanes whose weights are at most this wide multiply in shift-and-add logic, not in a DSP block.
#: A MULT18X18D sits in a DSP row away from its lane: the route there and its own 3.9 ns set
#: digits-cnn folded:4's Fmax (100.8 MHz, x_c -> DSP -> p_d), where 3 adders of 12 bits stay local.
SOFT_MUL_MAX_BITS = 4


def soft_product(w: Value, x: Value, wb: int) -> Value:
    """``w * x`` for a ``wb``-bit two's-complement ``w``: gated shifted copies of ``x``, added in a
    balanced tree, the top bit's copy subtracted (it weighs ``-2**(wb-1)``). No ``$mul``, so no DSP."""
    terms: list[Value] = [Mux(w[i], x << i, 0) for i in range(wb - 1)]
    neg = Mux(w[wb - 1], x << (wb - 1), 0)
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)] + terms[len(terms) & ~1:]
    return terms[0] - neg if terms else -neg


def registered_ready(steps: int) -> bool:
    """Whether an engine of ``steps`` steps per inference has ``i.ready = ~full`` (a register).

    The input taken in the cycle after a handover sits in ``x_next`` two cycles later, and the
    next handover needs it at the last step, ``steps - 1`` cycles after this one."""
    return steps >= 3


def fold_shape(entries: int, lanes: int) -> tuple[int, int]:
    """``(lanes built, steps)`` of ``entries`` walked weights asked onto ``lanes`` lanes: ``T =
    ceil(entries / lanes)`` steps, and only the ``ceil(entries / T)`` lanes that get work."""
    steps = max(-(-entries // lanes), 1)
    return max(-(-entries // steps), 1), steps


@dataclass(frozen=True)
class Segment:
    """A run of one row's entries inside one lane's chunk: steps ``start..end`` inclusive."""

    lane: int
    channel: int
    start: int
    end: int
    lo: int  # exact bounds of the partial sum it leaves in its slot
    hi: int


def _prod_bounds(wlo: int, whi: int, lo_x: int, hi_x: int) -> tuple[int, int]:
    p = (wlo * lo_x, wlo * hi_x, whi * lo_x, whi * hi_x)
    return min(p), max(p)


class FoldPlan:
    """The static schedule of a folded layer: which weight each lane handles at each step.

    ``steps[l][t]`` is ``(channel, input, weight)`` or ``None`` (padding after the last entry).
    """

    def __init__(self, layer: Layer, lanes: int, *, dense: bool = False) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        w = np.asarray(layer.weight_matrix(), dtype=np.int64)
        self.n_out, self.n_in = w.shape
        self.dense = dense
        lo_x, hi_x = layer.input.min_int, layer.input.max_int
        entries = [(c, i, int(w[c, i])) for c in range(self.n_out) for i in range(self.n_in)
                   if dense or w[c, i] != 0]
        self.macs = len(entries)  # multiply-accumulates per inference (nonzeros, or all slots if dense)
        # the fewest lanes that still take T steps: a lane whose chunk would be empty (say 4 lanes
        # asked for a 1-nonzero layer, or 3 entries per lane left for a 4th) is not built at all
        self.requested_lanes = lanes
        self.lanes, self.T = fold_shape(len(entries), lanes)
        lanes = self.lanes
        ranges = [weight_range(int(b)) for b in layer.weight_bits]

        def wint(c: int, v: int) -> tuple[int, int]:
            return ranges[c] if dense else (v, v)

        self.steps: list[list[tuple[int, int, int] | None]] = []
        self.segments: list[Segment] = []
        self.prod_bounds: list[tuple[int, int]] = []
        self.acc_bounds: list[tuple[int, int]] = []
        self.weight_bits: list[int] = []
        for ln in range(lanes):
            chunk: list[tuple[int, int, int] | None] = list(entries[ln * self.T:(ln + 1) * self.T])
            chunk += [None] * (self.T - len(chunk))
            self.steps.append(chunk)
            real = [e for e in chunk if e is not None]
            wl = [wint(c, v) for c, _, v in real]
            self.weight_bits.append(signed_bits_for(min([0, *(a for a, _ in wl)]),
                                                    max([0, *(b for _, b in wl)])))
            pb = [_prod_bounds(a, b, lo_x, hi_x) for a, b in wl]
            self.prod_bounds.append((min([0, *(a for a, _ in pb)]), max([0, *(b for _, b in pb)])))
            t = 0
            alo = ahi = 0
            while t < len(real):
                c, start, lo, hi = real[t][0], t, 0, 0
                while t < len(real) and real[t][0] == c:
                    a, b = pb[t]
                    lo, hi, t = lo + a, hi + b, t + 1
                self.segments.append(Segment(ln, c, start, t - 1, lo, hi))
                alo, ahi = min(alo, lo), max(ahi, hi)
            self.acc_bounds.append((alo, ahi))
        self.first = [[e is not None and (t == 0 or chunk[t - 1] is None or chunk[t - 1][0] != e[0])
                       for t, e in enumerate(chunk)] for chunk in self.steps]
        bias = [int(b) for b in layer.bias]
        self.chan_bounds = []
        for c in range(self.n_out):
            segs = [s for s in self.segments if s.channel == c]
            self.chan_bounds.append((bias[c] + sum(s.lo for s in segs), bias[c] + sum(s.hi for s in segs)))
        self.index_bits = max(self.n_in - 1, 1).bit_length()

    @property
    def cycles_per_inference(self) -> int:
        """Steady-state cycles per inference: ``T``, one step per cycle even when ``T == 1``."""
        return self.T

    @property
    def lane_efficiency(self) -> float:
        """Useful multiply-accumulates over lane-cycles: ``macs / (lanes * cycles)``."""
        return self.macs / (self.lanes * self.cycles_per_inference)

    def rom_fields(self) -> list[tuple[int, int, int]]:
        """Per lane, (offset, weight bits, index bits) of its field in a ROM word (plus 1 ``first`` bit)."""
        out, off = [], 0
        ib = 0 if self.dense else self.index_bits
        for wb in self.weight_bits:
            out.append((off, wb, ib))
            off += wb + ib + 1
        return out

    @property
    def rom_width(self) -> int:
        off, wb, ib = self.rom_fields()[-1]
        return off + wb + ib + 1

    def rom_words(self) -> list[int]:
        words = []
        for t in range(self.T):
            word = 0
            for ln, (off, wb, ib) in enumerate(self.rom_fields()):
                e = self.steps[ln][t]
                wv, idx = (e[2], e[1]) if e is not None else (0, 0)
                f = (wv & ((1 << wb) - 1)) | ((idx if ib else 0) << wb)
                f |= int(self.first[ln][t]) << (wb + ib)
                word |= f << off
            words.append(word)
        return words


class FoldedDense(wiring.Component):
    """One IR dense layer on ``lanes`` MAC lanes; same stream interface as ``UnrolledDense``.

    ``i`` carries one input vector per transfer, ``o`` one requantized output vector. Attributes:
    ``plan`` (:class:`FoldPlan`), ``latency`` (accepted input -> valid output when idle, cycles),
    ``cycles_per_inference``, ``lane_efficiency``, ``constant_channels``. ``lookahead``: the
    consumer's ``o.ready`` is a register whose next value comes in on ``o_ready_next`` (a
    :class:`~hwgen.skid.SkidBuffer`); the stall enable is then a register. With ``T >= 3`` the
    engine offers the same to its producer on ``ready_next``. Cycles are the same either way.
    ``single_buffer``: no ``x_next`` (see the module doc): ``T + 2`` cycles per inference.
    """

    def __init__(self, layer: Layer, *, lanes: int = 1, dense: bool = False, lookahead: bool = False,
                 single_buffer: bool = False) -> None:
        self.layer, self.lookahead, self.single_buffer = layer, lookahead, single_buffer
        self.plan = FoldPlan(layer, lanes, dense=dense)
        self.lanes, self.dense = self.plan.lanes, dense  # lanes built: at most the ``lanes`` asked for
        self.in_shape = fmt_shape(layer.input)
        self.out_shape = fmt_shape(layer.output)
        if not dense:
            exact = list(zip(*(v.tolist() for v in layer.acc_bounds()), strict=True))
            if exact != self.plan.chan_bounds:  # pragma: no cover - internal check
                raise AssertionError("folded plan bounds disagree with the IR's acc_bounds")
        self._out_bounds = [requant_bounds(layer, c, *self.plan.chan_bounds[c])
                            for c in range(layer.out_features)]
        self.constant_channels = [c for c, (lo, hi) in enumerate(self._out_bounds) if lo == hi]
        self.latency = self.plan.T + FIXED_LATENCY
        gap = SINGLE_BUFFER_GAP if single_buffer else 0
        self.cycles_per_inference = self.plan.cycles_per_inference + gap
        self.lane_efficiency = self.plan.macs / (self.lanes * self.cycles_per_inference)
        #: ``i.ready`` is a register (``~full``, ``~busy``): the accelerator links a producer straight to it
        self.registered_i_ready = single_buffer or registered_ready(self.plan.T)
        sig = {
            "i": In(stream.Signature(data.ArrayLayout(self.in_shape, layer.in_features))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, layer.out_features))),
        }
        if self.registered_i_ready:
            sig["ready_next"] = Out(1)  # ``i.ready`` of the next cycle (hwgen.window.SlidingWindow)
        if lookahead:
            sig["o_ready_next"] = In(1)  # the consumer's ``o.ready`` of the next cycle (a register)
        super().__init__(sig)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ly, plan = self.layer, self.plan
        T, L = plan.T, self.lanes
        # with a consumer whose ready is a register and that says its next value (a skid
        # buffer), ``en`` is a register too: its fan-out to every pipeline register gets the whole
        # cycle (from the skid's valid through one LUT it was 9.1 ns of route, digits-cnn 95 %)
        en = Signal(init=1)
        if not self.lookahead:
            m.d.comb += en.eq(~self.o.valid | self.o.ready)

        if self.single_buffer:
            # -- A: one input buffer and step counter ------------------------------------------
            x_work = Signal(data.ArrayLayout(self.in_shape, ly.in_features), reset_less=True)
            busy = Signal()  # x_work holds an input stage B has not finished reading
            pend = Signal()  # taken while A was stalled: A starts on it when ``en`` comes back
            active = Signal()
            t = Signal(range(T))
            last = Signal()
            take = Signal()
            start = Signal()
            m.d.comb += [last.eq(t == T - 1), self.i.ready.eq(~busy), take.eq(self.i.valid & ~busy),
                         start.eq(pend | take)]
            with m.If(take):
                m.d.sync += x_work.eq(self.i.payload)
            m.d.sync += pend.eq(~en & start)
        else:
            # -- A: input double buffer and step counter ------------------------------------------
            vec = data.ArrayLayout(self.in_shape, ly.in_features)
            x_next = Signal(vec, reset_less=True)
            x_work = Signal(vec, reset_less=True)
            full = Signal()
            active = Signal()
            t = Signal(range(T))
            last = Signal()
            handover = Signal()  # x_next moves to x_work: step 0 leaves A
            m.d.comb += [last.eq(t == T - 1), handover.eq(en & active & (t == 0)),
                         self.i.ready.eq(~full if registered_ready(T) else ~full | handover)]
            # x_next loads whenever it may (while not full its content is dead): its wide enable is
            # then the register ~full, not a function of the upstream valid (an Fmax path on ECP5)
            with m.If(self.i.ready):
                m.d.sync += x_next.eq(self.i.payload)
            full_d = Signal()
            m.d.comb += full_d.eq(Mux(self.i.valid & self.i.ready, 1, Mux(handover, 0, full)))
            m.d.sync += full.eq(full_d)
            if registered_ready(T):
                m.d.comb += self.ready_next.eq(~full_d)
            with m.If(handover):
                m.d.sync += x_work.eq(x_next)
            # the next inference may start if x_next holds one after this edge, including an input
            # taken right now: a 1-step engine then starts one every cycle instead of every other
            start = Signal()
            m.d.comb += start.eq((full & ~handover) | (self.i.valid & self.i.ready))
        with m.If(en):
            with m.If(active & ~last):
                m.d.sync += t.eq(t + 1)
            with m.Else():
                m.d.sync += [active.eq(start), t.eq(0)]

        # the ROM is read one step ahead (address = the step A holds next cycle), so its word is
        # ready in A and registered into B: the block RAM's slow clock-to-output (5.8 ns on ECP5)
        # never meets the input-select multiplexer in one cycle (that path held Fmax at 78 MHz)
        m.submodules.rom = rom = Memory(shape=unsigned(plan.rom_width), depth=T, init=plan.rom_words())
        rd = rom.read_port(domain="sync")
        t_next = Signal(range(T))
        m.d.comb += [t_next.eq(Mux(active & ~last, t + 1, 0)), rd.addr.eq(Mux(en, t_next, t)), rd.en.eq(en)]

        # dense: each lane's input index is a counter, (l*T + t) mod n_in
        idx_a = []
        if self.dense:
            n_in = plan.n_in
            for ln in range(L):
                base = (ln * T) % n_in
                c = Signal(range(max(n_in, 2)), init=base, name=f"idx_a{ln}")
                with m.If(en):
                    with m.If(active & ~last):
                        m.d.sync += c.eq(Mux(c == n_in - 1, 0, c + 1))
                    with m.Else():
                        m.d.sync += c.eq(base)
                idx_a.append(c)

        # -- B: ROM data; select the input ------------------------------------------------------
        def stage(name: str, src: object, shape: object = 1, *, valid: bool = False) -> Signal:
            """A pipeline register advancing with ``en``; only valid bits need a reset."""
            s = Signal(shape, name=name, reset_less=not valid)
            with m.If(en):
                m.d.sync += s.eq(src)
            return s

        v_b, t_b = stage("v_b", active, valid=True), stage("t_b", t, range(T))
        v_s, t_s = stage("v_s", v_b, valid=True), stage("t_s", t_b, range(T))
        v_c, t_c = stage("v_c", v_s, valid=True), stage("t_c", t_s, range(T))
        v_d, t_d = stage("v_d", v_c, valid=True), stage("t_d", t_c, range(T))
        done = Signal()
        m.d.comb += done.eq(v_d & (t_d == T - 1))
        v_e = stage("v_e", done, valid=True)
        v_f = stage("v_f", v_e, valid=True)
        v_o = stage("v_o", v_f, valid=True)
        m.d.comb += self.o.valid.eq(v_o)
        if self.lookahead:
            m.d.sync += en.eq(~Mux(en, v_f, v_o) | self.o_ready_next)
        if self.single_buffer:  # x_work is free once B has read its last step (x_s latched it)
            busy_d = Signal()
            m.d.comb += [busy_d.eq(Mux(take, 1, Mux(en & v_b & (t_b == T - 1), 0, busy))),
                         self.ready_next.eq(~busy_d)]
            m.d.sync += busy.eq(busy_d)

        rom_b = stage("rom_b", rd.data, unsigned(plan.rom_width))
        accs = []
        for ln, (off, wb, ib) in enumerate(plan.rom_fields()):
            w_b = rom_b[off:off + wb].as_signed()
            f_b = rom_b[off + wb + ib]
            if self.dense:
                idx_b = stage(f"i_b{ln}", idx_a[ln], range(max(plan.n_in, 2)))
            else:
                idx_b = rom_b[off + wb:off + wb + ib]
            # -- B/S: the input select in two registered levels (see SELECT_GROUP) --------------
            lo_bits = min(SELECT_GROUP.bit_length() - 1, len(idx_b))
            groups = -(-plan.n_in // SELECT_GROUP)
            members = [range(g * SELECT_GROUP, min((g + 1) * SELECT_GROUP, plan.n_in)) for g in range(groups)]
            x_s = [stage(f"x_s{ln}_{g}", _select([x_work[j] for j in js], idx_b[:lo_bits]), self.in_shape)
                   for g, js in enumerate(members)]
            hi_s = stage(f"ihi_s{ln}", idx_b[lo_bits:], unsigned(max(len(idx_b) - lo_bits, 0)))
            w_s, f_s = stage(f"w_s{ln}", w_b, signed(wb)), stage(f"f_s{ln}", f_b)
            x_c = stage(f"x_c{ln}", _select(x_s, hi_s), self.in_shape)
            w_c = stage(f"w_c{ln}", w_s, signed(wb))
            f_c = stage(f"f_c{ln}", f_s)
            # -- C: multiply --------------------------------------------------------------------
            prod = soft_product(w_c, x_c, wb) if wb <= SOFT_MUL_MAX_BITS else w_c * x_c
            p_d = stage(f"p_d{ln}", prod, bounds_shape(*plan.prod_bounds[ln]))
            f_d = stage(f"f_d{ln}", f_c)
            # -- D: accumulate ------------------------------------------------------------------
            acc = Signal(bounds_shape(*plan.acc_bounds[ln]), name=f"acc{ln}", reset_less=True)
            nxt = Signal(bounds_shape(*plan.acc_bounds[ln]), name=f"acc_next{ln}")
            m.d.comb += nxt.eq(Mux(f_d, 0, acc) + p_d)
            with m.If(en & v_d):
                m.d.sync += acc.eq(nxt)
            accs.append(nxt)
        slots: dict[int, list[Signal]] = {}
        for k, s in enumerate(plan.segments):
            slot = Signal(bounds_shape(s.lo, s.hi), name=f"slot{k}_c{s.channel}", reset_less=True)
            with m.If(en & v_d & (t_d == s.end)):
                m.d.sync += slot.eq(accs[s.lane])
            slots.setdefault(s.channel, []).append(slot)

        # -- E: channel sums + bias; F: requantize ------------------------------------------------
        for c in range(ly.out_features):
            if c in self.constant_channels:
                m.d.comb += self.o.payload[c].eq(self._out_bounds[c][0])
                continue
            # the rounding offset rides along with the bias, so F is a shift and a clamp
            k = int(ly.bias[c]) + round_offset(ly, c)
            lo, hi = (v + round_offset(ly, c) for v in plan.chan_bounds[c])
            total = Const(k, signed(signed_bits_for(k, k)))
            for s in slots.get(c, []):
                total = total + s
            acc_c = Signal(signed(signed_bits_for(lo, hi)), name=f"chan{c}", reset_less=True)
            with m.If(en):  # valid in the cycle after E; F reads it then
                m.d.sync += acc_c.eq(total)
            y = Signal(self.out_shape, name=f"y_{c}", reset_less=True)
            with m.If(en):  # no valid gating: o.valid says when y means something
                m.d.sync += y.eq(shift_clamp(m, ly, c, acc_c, lo, hi))
            m.d.comb += self.o.payload[c].eq(y)
        return m


def _select(items: list[Value], index: Value) -> Value:
    """``items[index]`` for a constant-length list; an index past the end picks any (it never
    happens: the ROM holds only real input indices)."""
    if len(items) == 1:
        return Value.cast(items[0])
    return Array(items)[index]
