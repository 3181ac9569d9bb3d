"""Cycle-accurate token model of the accelerator's stream chain: handshakes only, no data.

Once neighbouring spatial stages stream positions to each other, a sliding window's timing
depends on when its upstream produces positions, and a slow engine's back-pressure reaches
back through several stages: per-stage latencies and throughputs no longer add up. So every
component of the chain gets a small *part* that replays its RTL's valid/ready rules, and
:func:`run_chain` composes them cycle by cycle exactly as the hardware does: output valids
forward (from registered state, or combinationally from the input valid, as :class:`Scatter
<hwgen.spatial.Scatter>` does), readies backward (some are combinational in the downstream
ready), then every part advances on what was transferred. Latency and cycles per inference
are then read off a run with the input always available and the output always ready; tests
compare both with Verilator's measurements for exact equality.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from hwgen.folded import registered_ready
from hwgen.window import Geometry


class Part(Protocol):
    """One component's handshake rules. ``tick`` is the clock edge at the end of a cycle."""

    def out_valid(self, in_valid: bool) -> bool: ...

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool: ...

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None: ...


class Skid:
    """:class:`hwgen.skid.SkidBuffer`: registered ``i.ready = ~skid_valid``."""

    def __init__(self) -> None:
        self.ov = self.sv = False

    def out_valid(self, in_valid: bool) -> bool:
        return self.ov

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return not self.sv

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if not self.ov or out_ready:
            if self.sv:
                self.ov, self.sv = True, False
            else:
                self.ov = in_valid
        elif in_valid and not self.sv:
            self.sv = True


class Collect:
    """``n`` input beats -> one output held until taken; next input accepted as it is taken.

    :class:`~hwgen.serdes.Deserializer` (``n`` = beats) and :class:`~hwgen.spatial.Gather`
    (``n`` = positions) share these rules.
    """

    def __init__(self, n: int) -> None:
        self.n, self.count, self.ov = n, 0, False

    def out_valid(self, in_valid: bool) -> bool:
        return self.ov

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return not self.ov or out_ready

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if out_fire:
            self.ov = False
        if in_fire:
            self.count += 1
            if self.count == self.n:
                self.count, self.ov = 0, True


class MapStore:
    """:class:`~hwgen.mapbuf.MapBuffer`: two map buffers, ``n`` beats in per map (registered
    ``i.ready``: the buffer being written is free), ``positions`` out through a two-register read
    pipeline that stalls on ``en = ~o.valid | o.ready``."""

    def __init__(self, n: int, positions: int) -> None:
        self.n, self.positions = n, positions
        self.full = [False, False]
        self.wb = self.rb = self.count = self.rp = 0
        self.rv = self.ov = False

    def out_valid(self, in_valid: bool) -> bool:
        return self.ov

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return not self.full[self.wb]

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        en = not self.ov or out_ready
        issue = en and self.full[self.rb]
        if en:
            self.ov, self.rv = self.rv, issue
        if in_fire:  # the buffers written and read are never the same one
            self.count += 1
            if self.count == self.n:
                self.count, self.full[self.wb], self.wb = 0, True, self.wb ^ 1
        if issue:
            self.rp += 1
            if self.rp == self.positions:
                self.rp, self.full[self.rb], self.rb = 0, False, self.rb ^ 1


class Serialize:
    """:class:`~hwgen.serdes.Serializer`: a vector goes into ``nxt`` (registered ``i.ready =
    ~nxt_full``), then into the shift register when that is free; ``n`` beats out. One beat
    (``n == 1``) is wires."""

    def __init__(self, n: int) -> None:
        self.n, self.left, self.nxt_full = n, 0, False

    def out_valid(self, in_valid: bool) -> bool:
        return in_valid if self.n == 1 else self.left != 0

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return out_ready if self.n == 1 else not self.nxt_full

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if self.n == 1:
            return
        free = self.left == 0 or (self.left == 1 and out_ready)
        if out_fire:
            self.left -= 1
        if free and self.nxt_full:
            self.left, self.nxt_full = self.n, False
        elif in_fire:
            self.nxt_full = True


class Scatter:
    """:class:`~hwgen.spatial.Scatter`: combinational, the input is taken with its last position."""

    def __init__(self, n: int) -> None:
        self.n, self.p = n, 0

    def out_valid(self, in_valid: bool) -> bool:
        return in_valid

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return out_ready and self.p == self.n - 1

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if out_fire:
            self.p = 0 if self.p == self.n - 1 else self.p + 1


class Window:
    """:class:`~hwgen.window.SlidingWindow`: one walked position per step, parked on the first real one."""

    def __init__(self, g: Geometry) -> None:
        order = g.walk
        rows, cols = set(g.emit_rows), set(g.emit_cols)
        self.pad = [g.is_padding(r, c) for r, c in order]
        self.emit = [r in rows and c in cols for r, c in order]
        self.idx = g.start
        self.ov = False

    def out_valid(self, in_valid: bool) -> bool:
        return self.ov

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return not self.pad[self.idx] and (not self.emit[self.idx] or not self.ov or out_ready)

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        k = self.idx
        step = (self.pad[k] or in_valid) and (not self.emit[k] or not self.ov or out_ready)
        if out_fire:
            self.ov = False
        if step:
            self.idx = (k + 1) % len(self.pad)
            if self.emit[k]:
                self.ov = True


class StallPipe:
    """A pipeline that stalls as a whole on ``en = ~o.valid | o.ready`` (``i.ready = en``).

    :class:`~hwgen.pool.PoolEngine` (latency 1) and :class:`~hwgen.baseline.DenseUnrolled`,
    which also keeps ``i.ready`` low for its first ``ready_from`` cycles (weight loading).
    """

    def __init__(self, latency: int, ready_from: int = 0) -> None:
        self.v = [False] * latency
        self.ready_from, self.cycle = ready_from, 0

    def out_valid(self, in_valid: bool) -> bool:
        return self.v[-1]

    def _en(self, out_ready: bool) -> bool:
        return not self.v[-1] or out_ready

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return self._en(out_ready) and self.cycle >= self.ready_from

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if self._en(out_ready):
            self.v = [in_fire, *self.v[:-1]]
        self.cycle += 1


class CreditPipe:
    """:class:`~hwgen.dense.UnrolledDense`: free-running pipeline with credit-based flow control.

    ``latency + 2`` credits; ``i.ready`` is the registered flag ``credits != 0``. An input taken in
    cycle ``t`` reaches the output side for cycle ``t + latency``: into the output register if it
    is free (empty or being taken) and the queue is empty, else into the queue (FIFO). A credit
    comes back one cycle after its output was taken (through a register).
    """

    def __init__(self, latency: int) -> None:
        self.latency = latency
        self.credits = latency + 2
        self.returned = False
        self.cycle = 0
        self.flight: deque[int] = deque()  # cycle at which each item reaches the output side
        self.queue = 0
        self.ov = False

    def out_valid(self, in_valid: bool) -> bool:
        return self.ov

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        return self.credits != 0

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        if in_fire:
            self.flight.append(self.cycle + self.latency)
        arrive = bool(self.flight) and self.flight[0] == self.cycle + 1
        if arrive:
            self.flight.popleft()
        if not self.ov or out_fire:
            if self.queue:
                self.queue -= 1
                self.queue += arrive
                self.ov = True
            else:
                self.ov = arrive
        else:
            self.queue += arrive
        self.credits += self.returned - in_fire
        self.returned = out_fire
        self.cycle += 1


class Folded:
    """:class:`~hwgen.folded.FoldedDense`: double-buffered input, ``T`` steps, stalls on ``en``;
    with ``single_buffer``, one buffer that takes an input once stage B has read the last step."""

    def __init__(self, steps: int, single_buffer: bool = False) -> None:
        self.T = steps
        self.single = single_buffer
        self.registered = registered_ready(steps)
        self.busy = self.pend = False
        self.full = self.active = False
        self.t = 0
        self.pipe = [(False, 0)] * 4  # (valid, step) of stages B, S, C, D
        self.v_e = self.v_f = self.v_o = False

    def out_valid(self, in_valid: bool) -> bool:
        return self.v_o

    def _handover(self, out_ready: bool) -> bool:
        return (not self.v_o or out_ready) and self.active and self.t == 0

    def in_ready(self, in_valid: bool, out_ready: bool) -> bool:
        if self.single:
            return not self.busy
        return not self.full or (not self.registered and self._handover(out_ready))

    def tick(self, in_valid: bool, in_fire: bool, out_ready: bool, out_fire: bool) -> None:
        en = not self.v_o or out_ready
        if self.single:
            v_b, t_b = self.pipe[0]
            start = self.pend or in_fire
            self.pend = not en and start
            if in_fire:
                self.busy = True
            elif en and v_b and t_b == self.T - 1:
                self.busy = False
        else:
            handover = self._handover(out_ready)
            start = (self.full and not handover) or in_fire
            if in_fire:
                self.full = True
            elif handover:
                self.full = False
        if not en:
            return
        v_d, t_d = self.pipe[-1]
        self.v_o, self.v_f, self.v_e = self.v_f, self.v_e, v_d and t_d == self.T - 1
        self.pipe = [(self.active, self.t), *self.pipe[:-1]]
        if self.active and self.t != self.T - 1:
            self.t += 1
        else:
            self.active, self.t = start, 0


def engine_part(engine: object) -> Part:
    """The part of a dense engine (a dense layer, or the per-window engine of a convolution)."""
    from hwgen.baseline import DenseUnrolled
    from hwgen.dense import UnrolledDense
    from hwgen.folded import FoldedDense
    from hwgen.pool import PoolEngine

    if isinstance(engine, FoldedDense):
        return Folded(engine.plan.T, engine.single_buffer)
    if isinstance(engine, DenseUnrolled):
        return StallPipe(engine.latency, engine.load_cycles)
    if isinstance(engine, UnrolledDense):
        return CreditPipe(engine.latency)
    if isinstance(engine, PoolEngine):
        return StallPipe(engine.latency)
    raise TypeError(f"no timing model for {type(engine).__name__}")  # pragma: no cover


@dataclass(frozen=True)
class Run:
    """What :func:`run_chain` saw: per link, the cycles of its transfers and its first valid."""

    fires: list[list[int]]
    first_valid: list[int | None]


def run_chain(parts: Sequence[Part], done: int, per_item: int = 1, max_cycles: int = 10_000_000) -> Run:
    """Clock ``parts`` (link ``k`` feeds ``parts[k]``) until ``done`` items left the last one.

    The input is always valid and the output always ready. An item is ``per_item`` output beats.
    """
    n = len(parts)
    fires: list[list[int]] = [[] for _ in range(n + 1)]
    first: list[int | None] = [None] * (n + 1)
    valid, ready = [True] * (n + 1), [True] * (n + 1)
    for cycle in range(max_cycles):
        for k, p in enumerate(parts):
            valid[k + 1] = p.out_valid(valid[k])
        for k in range(n - 1, -1, -1):
            ready[k] = parts[k].in_ready(valid[k], ready[k + 1])
        fire = [v and r for v, r in zip(valid, ready, strict=True)]
        for k in range(n + 1):
            if valid[k] and first[k] is None:
                first[k] = cycle
            if fire[k]:
                fires[k].append(cycle)
        for k, p in enumerate(parts):
            p.tick(valid[k], fire[k], ready[k + 1], fire[k + 1])
        if len(fires[n]) >= done * per_item:
            return Run(fires, first)
    raise RuntimeError(f"timing model: {done} items not done in {max_cycles} cycles")  # pragma: no cover


def steady_interval(ends: Sequence[int]) -> int | Fraction:
    """Cycles per item in steady state: the mean interval over the second half of ``ends``."""
    half = ends[len(ends) // 2:]
    if len(half) < 2:
        return ends[-1] - ends[-2] if len(ends) > 1 else ends[0]
    q = Fraction(half[-1] - half[0], len(half) - 1)
    return int(q) if q.denominator == 1 else q


def item_ends(run: Run, link: int, per_item: int) -> list[int]:
    """Cycle of the last transfer of each item on ``link``."""
    return run.fires[link][per_item - 1::per_item]


@dataclass(frozen=True)
class PartsTiming:
    """Latency (first input valid -> first output valid) and cycles per item of parts in isolation."""

    latency: int
    cycles_per_inference: int | Fraction


def isolated(parts: Sequence[Part], per_item: int = 1, items: int = 8) -> PartsTiming:
    """Timing of ``parts`` alone: input always available, output always ready."""
    run = run_chain(parts, items, per_item)
    lat = run.first_valid[-1] - run.first_valid[0]  # type: ignore[operator]
    return PartsTiming(lat, steady_interval(item_ends(run, len(parts), per_item)))

