"""``zerogate`` command line: one subcommand per toolchain step, and ``build`` for all of them.

User errors (bad input, missing tools, failed verification) print one line and exit non-zero;
only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

from zerogate.console import build_progress, tool_line, training_progress
from zerogate.console import say as _say
from zerogate.errors import ConfigError, UserError

PROG = "zerogate"


def _add_compress_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="makes the run reproducible (default 0)")
    p.add_argument("--sparsity", type=float, default=0.85, help="target weight sparsity in [0,1)")
    p.add_argument("--weight-bits", type=int, default=6, help="weight width, 2..8 bits")


def _add_hw_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in-lanes", type=int, default=8, help="input elements per stream beat")
    p.add_argument("--out-lanes", type=int, default=2, help="output elements per stream beat")
    p.add_argument("--style", default="unrolled",
                   help="engine of every weight layer: unrolled (one inference per clock, zero weights "
                        "cost nothing), folded (only nonzeros stored, --lanes MACs walk them), or the "
                        "dense baselines dense-unrolled / dense-folded (sparsity ignored)")
    p.add_argument("--lanes", type=int, default=1,
                   help="most MAC lanes of a folded layer (default 1); each gets the fewest that keep up "
                        "with the slowest layer unless --no-balance")
    p.add_argument("--no-balance", action="store_true",
                   help="give every folded layer all its --lanes (lower latency, more area, same throughput)")
    p.add_argument("--single-buffer", action="store_true",
                   help="one input buffer per folded dense layer instead of two: a copy of its input "
                        "vector fewer (for small parts such as the iCE40 UP5K), 2 more cycles per "
                        "inference")
    p.add_argument("--head", choices=("none", "argmax"), default="none",
                   help="argmax: stream the class index (ties: lowest index) instead of the output vector, "
                        "one element of ceil(log2(classes)) bits")
    p.add_argument("--layer-style", action="append", default=[], metavar="K=STYLE[:LANES]",
                   help="override one layer's engine, e.g. 0=folded:4 (repeatable)")


def _targets(text: str) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in text.split(",") if t.strip())


def _add_synth_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", type=_targets, default=("ecp5", "ice40"), metavar="ecp5,ice40",
                   help="FPGA families, comma-separated (default both; iCE40 = the iCEBreaker UP5K)")
    p.add_argument("--verbose", action="store_true", help="also print the tools' own output")
    p.add_argument("--device", default="LFE5U-85F", help="ECP5 device (default LFE5U-85F)")
    p.add_argument("--package", default="CABGA381", help="device package (default CABGA381)")
    p.add_argument("--freq", type=float, default=100.0, help="clock constraint in MHz")


def _add_force_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it holds files zerogate did not write")


def _output(args: argparse.Namespace, *inputs: Path | None, out: Path | None = None) -> Any:
    """The work folder of this command's ``--out`` (see :mod:`zerogate.outdir`): refused before any work
    if this run may not replace it, published atomically when the block ends."""
    from zerogate.outdir import publish

    return publish(args.out if out is None else out, args.cmd, force=args.force, inputs=inputs)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--debug", action="store_true",
                    help="show the Python traceback of any error (for reporting a bug)")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="compress → generate → simulate → synth → report, into one folder")
    p.add_argument("--out", type=Path, default=Path("build/digits-mlp"), help="build folder")
    p.add_argument("--ir", type=Path, default=None, help="start from this IR instead of compressing")
    p.add_argument("--vectors", type=Path, default=None,
                   help="with --ir: its test vectors, the testset.npz written beside it (x, labels y); "
                        "without, seeded random and worst-case vectors check the RTL and no accuracy is "
                        "claimed")
    p.add_argument("--no-synth", action="store_true", help="stop after the Verilator check")
    _add_force_opt(p)
    _add_compress_opts(p)
    _add_hw_opts(p)
    _add_synth_opts(p)

    p = sub.add_parser("compress", help="prune and quantize a model (default: the digits MLP); write its IR")
    p.add_argument("--out", type=Path, default=None, help="folder for ir/ and testset.npz")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML run config (model, method, its parameters; see examples/)")
    _add_force_opt(p)
    p.add_argument("--model", default=None, metavar="PATH.py:FACTORY",
                   help="your own model: a function in a Python file that returns an nn.Module")
    p.add_argument("--weights", type=Path, default=None, metavar="STATE_DICT.pt",
                   help="its trained weights (torch.save(model.state_dict(), PATH)); fine-tuned, not "
                        "retrained")
    p.add_argument("--data", type=Path, default=None, metavar="DATA.npz",
                   help="x_train, y_train, x_test, y_test (x_val, y_val optional) for --model")
    p.add_argument("--method", default=None, help="taylor, mixed, squantizer or sequential (with --model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter as in the config's [method] table, value in TOML (repeatable)")
    p.add_argument("--float-epochs", type=int, default=None,
                   help="float training before the method when there are no --weights (default 40)")
    p.add_argument("--input-format", default=None, metavar="s8.4",
                   help="input fixed-point format: s|u (signed|unsigned), total bits, '.', fractional bits "
                        "(default: chosen from x_train)")
    _add_compress_opts(p)
    p.set_defaults(seed=None)  # None: the config's seed, else 0

    p = sub.add_parser("generate", help="IR → Verilog of the sparse accelerator")
    p.add_argument("ir", type=Path, help="IR folder (holds manifest.json)")
    p.add_argument("--out", type=Path, required=True, help="folder for the Verilog")
    _add_force_opt(p)
    _add_hw_opts(p)

    p = sub.add_parser("simulate", help="run the Verilog on Verilator and compare with the golden model")
    p.add_argument("ir", type=Path, help="IR folder")
    p.add_argument("--rtl", type=Path, required=True, help="folder written by 'generate'")
    p.add_argument("--vectors", type=Path, required=True, help=".npz with integer inputs x[n, features]")
    p.add_argument("--out", type=Path, required=True, help="folder for the simulation build and log")
    _add_force_opt(p)

    p = sub.add_parser("synth", help="Verilog → ECP5 bitstream with Yosys and nextpnr")
    p.add_argument("--rtl", type=Path, required=True, help="folder written by 'generate'")
    p.add_argument("--out", type=Path, required=True, help="folder for logs and the bitstream")
    _add_force_opt(p)
    p.add_argument("--fmax-harness", action="store_true",
                   help="ECP5: place and route inside a few-pin harness (input bus from a shift register, "
                        "output bus folded into one registered bit), so Fmax is the core's rather than "
                        "that of routes to ~100 unconstrained pads; that bitstream is not for a board")
    _add_synth_opts(p)
    return ap


def _load_vectors(path: Path):
    from zerogate.vectors import read_npz

    arrays = read_npz(path, "pass an .npz with an integer array 'x'",
                      "expected an .npz with an integer array 'x'")
    if "x" not in arrays:
        raise UserError(f"{path}: no array 'x'; expected input integers x[n, ...]")
    return arrays["x"]


def _compress_config(args: argparse.Namespace) -> int:
    """``compress --config FILE`` or ``--model PATH.py:FACTORY --data DATA.npz ...``: the method,
    its IR and test split written atomically."""
    from compress.usercli import run_config_from_args

    cfg = run_config_from_args(args)  # fail fast, before any training
    out = args.out or cfg.out
    if out is None:
        raise ConfigError(f"{args.config}: no output folder; pass --out DIR or set [run] out")
    import numpy as np

    from compress.runconfig import run_config
    from zerogate import ir

    model_file = Path(cfg.model.rpartition(":")[0]) if cfg.user_model else None
    with _output(args, args.config, model_file, cfg.data, cfg.weights, out=out) as work, \
            training_progress() as progress:
        res = run_config(cfg, args.seed, progress)
        ir.save(res.net, work / "ir")
        np.savez(work / "testset.npz", x=res.test_x, y=res.test_y)
    print(res.summary())
    print(f"input format {res.input_format}: {res.clipped_inputs} input values clipped")
    _say(f"wrote {out}/ir and {out}/testset.npz")
    return 0


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    if args.cmd == "build":
        from zerogate.build import BuildOptions, build

        opts = BuildOptions(
            out=args.out, ir_path=args.ir, vectors=args.vectors, seed=args.seed, sparsity=args.sparsity,
            weight_bits=args.weight_bits, in_lanes=args.in_lanes, out_lanes=args.out_lanes,
            style=args.style, lanes=args.lanes, layer_styles=tuple(args.layer_style),
            balance=not args.no_balance, single_buffer=args.single_buffer, head=args.head, device=args.device,
            package=args.package, freq_mhz=args.freq,
            synth=not args.no_synth,
            targets=args.target, force=args.force,
            command=" ".join([PROG, *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        )
        with build_progress() as (progress, log):
            d = build(opts, log=log, progress=progress, echo=tool_line if args.verbose else None)
        s = d.get("sim", {})
        _say(f"done: {args.out}/report.md — RTL == golden {s.get('matches')} of {s.get('vectors')}")
        return 0

    if args.cmd == "compress" and (args.config is not None or args.model is not None):
        return _compress_config(args)

    if args.cmd == "compress":
        from zerogate.build import BuildOptions, BuildState, step_compress

        if args.out is None:
            raise ConfigError("compress needs --out DIR (or --config FILE with [run] out)")
        for flag in ("weights", "data", "method", "input_format", "float_epochs"):
            if getattr(args, flag) is not None or (flag == "method" and args.set):
                raise ConfigError(f"--{flag.replace('_', '-')} goes with --model PATH.py:FACTORY (your own "
                                  "model) or --config FILE")
        opts = BuildOptions(out=args.out, seed=0 if args.seed is None else args.seed, sparsity=args.sparsity,
                            weight_bits=args.weight_bits)
        with _output(args) as work, training_progress() as progress:
            step_compress(opts, BuildState(work=work), progress)
        _say(f"wrote {args.out}/ir and {args.out}/testset.npz")
        return 0

    if args.cmd == "generate":
        from zerogate import ir

        net = ir.load(args.ir)  # validate before anything else is imported or written
        from hwgen.layers import LayerStyle, parse_layer_styles
        from hwgen.verilog import generate
        from zerogate.build import BuildOptions

        BuildOptions(in_lanes=args.in_lanes, out_lanes=args.out_lanes)  # validated like build's
        overrides = parse_layer_styles(args.layer_style, LayerStyle(args.style, args.lanes), len(net.layers))
        with _output(args, args.ir) as work:
            design = generate(net, work, in_lanes=args.in_lanes, out_lanes=args.out_lanes, style=args.style,
                              lanes=args.lanes, layer_styles=overrides, balance=not args.no_balance,
                              single_buffer=args.single_buffer, head=args.head)
        _say(f"wrote {args.out / design.verilog_path.name} ({design.ii} cycles per inference, "
             f"latency {design.latency})")
        return 0

    if args.cmd == "simulate":
        from hwgen.verilog import load_design
        from sim.runner import simulate
        from zerogate import golden, ir
        from zerogate.errors import VerificationError

        net = ir.load(args.ir)
        x = golden.check_input(net, _load_vectors(args.vectors))
        design = load_design(args.rtl)
        with _output(args, args.ir, args.rtl, args.vectors) as work:
            res = simulate(design, net, x, work)
            if res.n_match != res.n_vectors:  # the logs and waveform are kept in <out>.failed
                raise VerificationError(f"{res.summary()}; log {res.log_path}")
        print(res.summary())
        return 0

    if args.cmd == "synth":
        from hwgen.verilog import load_design
        from zerogate.build import BuildOptions
        from zerogate.flow import synthesize_ecp5

        targets = BuildOptions(targets=args.target).targets  # validated like build's
        echo = tool_line if args.verbose else None
        design = load_design(args.rtl)
        lines = []
        with _output(args, args.rtl) as work:
            def shown(p: Path) -> Path:  # where a file of the work folder will be once published
                return args.out / p.relative_to(work)

            if "ecp5" in targets:
                sources, top, own_ff, where = design.verilog_path, design.top_name, 0, ""
                if args.fmax_harness:
                    from zerogate.flow.harness import write_harness

                    h = write_harness(work / "harness" / "fmax_harness.v", design.verilog_path,
                                      design.top_name)
                    sources, top, own_ff = h.sources, h.top, h.ff
                    where = f" (inside the Fmax harness; FF without its {h.ff})"
                res = synthesize_ecp5(sources, top, work, device=args.device,
                                      package=args.package, freq_mhz=args.freq, echo=echo)
                lines.append(f"ECP5{where}: LUT4 {res.lut4}  FF {res.ff - own_ff}  DSP {res.dsp}  "
                             f"BRAM {res.bram}  Fmax {res.fmax_mhz} MHz  → {shown(res.bitstream)}")
            if "ice40" in targets:  # the iCEBreaker board top: the bare accelerator has too many IOs for sg48
                from zerogate.bundle import synthesize_board_ice40, write_bundle

                bundle = write_bundle(design, work / "bundle", name=design.top_name)
                res = synthesize_board_ice40(bundle, work / "ice40", echo=echo)
                lines.append(f"iCE40 UP5K (board top): LC {res.comb}  LUT4 {res.lut4}  FF {res.ff}  "
                             f"DSP {res.dsp}  EBR {res.bram}  Fmax {res.fmax_mhz} MHz  "
                             f"→ {shown(res.bitstream)}")
        print("\n".join(lines))
        return 0
    raise AssertionError(args.cmd)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args, argv)
    except UserError as e:
        _forget_abandoned_design()
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        # the output is already cleaned up: a second SIGINT (a user pressing Ctrl-C again, or one
        # reaching the process group late) must not turn the exit status 130 into death by signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _forget_abandoned_design()
        from zerogate.outdir import Terminated

        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{PROG}: {what}; no partial output was left behind", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # a bug: one line by default, the traceback with --debug
        _forget_abandoned_design()
        if args.debug:
            raise
        text = " ".join(str(e).split()) or "(no message)"
        print(f"{PROG}: internal error: {type(e).__name__}: {text}; rerun with --debug for the traceback "
              "and report it", file=sys.stderr)
        return 70


def _forget_abandoned_design() -> None:
    """A run stopped mid-elaboration leaves Amaranth components that were never elaborated; at exit
    Amaranth would warn about each one, burying the one-line error under pages of noise."""
    if "amaranth" in sys.modules:
        from amaranth.hdl import UnusedElaboratable

        warnings.filterwarnings("ignore", category=UnusedElaboratable)


if __name__ == "__main__":
    sys.exit(main())
