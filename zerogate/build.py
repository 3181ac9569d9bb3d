"""The whole toolchain as one function: compress → IR → Verilog → Verilator → bitstream → report.

A build is assembled in a private work folder beside its destination and moved into place only
when every step has passed, so a build folder is either complete or absent. A build that fails
verification is kept as ``<out>.failed`` (logs and waveforms are what one needs then), never
under the name of a good build.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zerogate import golden, ir
from zerogate.errors import ConfigError, VerificationError
from zerogate.outdir import publish

Log = Callable[[str], None]
TARGETS = ("ecp5", "ice40")


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``zerogate build`` can be told. Defaults are the embedded digits example, compressed
    by :data:`compress.methods.presets.DEFAULT_BUILD` (method 1, ``taylor``)."""

    out: Path = Path("build/digits-mlp")
    ir_path: Path | None = None  # build from an existing IR instead of compressing
    vectors: Path | None = None  # with ir_path: .npz of its test vectors x (and labels y)
    seed: int = 0
    sparsity: float = 0.85
    weight_bits: int = 6
    in_lanes: int = 8
    out_lanes: int = 2
    style: str = "unrolled"  # every weight layer's engine (hwgen.layers.STYLES)
    lanes: int = 1  # MAC lanes of a folded layer
    layer_styles: tuple[str, ...] = ()  # per-layer overrides, "K=STYLE[:LANES]"
    balance: bool = True  # folded lanes cut to what keeps up with the slowest layer (hwgen.balance)
    single_buffer: bool = False  # folded dense layers keep one copy of their input (hwgen.folded)
    head: str = "none"  # "argmax": the accelerator streams the class index (hwgen.head)
    device: str = "LFE5U-85F"
    package: str = "CABGA381"
    freq_mhz: float = 100.0
    synth: bool = True
    targets: tuple[str, ...] = ("ecp5", "ice40")  # FPGA families to build bitstreams for
    command: str = "nox -s build-hw"  # how to reproduce this build, quoted in the report
    force: bool = False  # replace an --out that zerogate did not write (zerogate.outdir)

    @property
    def inputs(self) -> tuple[Path, ...]:
        """What the build reads: its output may not be, hold or lie in any of them."""
        return tuple(p for p in (self.ir_path, self.vectors) if p is not None)

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError(f"--sparsity {self.sparsity!r} must lie in [0, 1)")
        if not 2 <= self.weight_bits <= 8:
            raise ConfigError(f"--weight-bits {self.weight_bits!r} must lie in 2..8")
        if self.in_lanes < 1 or self.out_lanes < 1:
            raise ConfigError("--in-lanes and --out-lanes must be at least 1")
        from hwgen.layers import LayerStyle, parse_layer_styles

        parse_layer_styles(self.layer_styles, LayerStyle(self.style, self.lanes))  # refuse bad ones early
        if self.vectors is not None and self.ir_path is None:
            raise ConfigError("--vectors goes with --ir (the test vectors of that IR)")
        if self.freq_mhz <= 0:
            raise ConfigError(f"--freq {self.freq_mhz!r} MHz must be positive")
        if not self.targets or set(self.targets) - set(TARGETS):
            raise ConfigError(f"--target {','.join(self.targets)!r}: choose from {', '.join(TARGETS)} "
                              f"(comma-separated)")


@dataclass
class BuildState:
    """What the steps hand each other; becomes ``report.json``."""

    work: Path
    net: ir.Network | None = None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def staged_output(out: Path, command: str = "build", *, force: bool = False,
                  inputs: Iterable[Path | None] = ()) -> AbstractContextManager[Path]:
    """A work folder that becomes ``out`` on success and vanishes (or becomes ``.failed``) otherwise.

    A mismatch, or a tool failure whose message names a log in the work folder, keeps the work as
    ``<out>.failed`` (and the message names the log there); anything else, such as a bad option,
    a missing tool or an interrupt, leaves nothing behind. Which folders may be replaced, the lock
    and the cleanup are :func:`zerogate.outdir.publish`'s.
    """
    return publish(out, command, force=force, inputs=inputs)


def _timed(state: BuildState, step: str, log: Log) -> Callable[[Callable[[], Any]], Any]:
    def run(fn: Callable[[], Any]) -> Any:
        log(f"{step} …")
        t0 = time.perf_counter()
        result = fn()
        state.timings[step] = round(time.perf_counter() - t0, 2)
        return result

    return run


def step_compress(opts: BuildOptions, state: BuildState, progress: Any = None) -> None:
    """Compress the embedded default with its published method (or load the given IR and its
    vectors) and write ``ir/`` and ``testset.npz``."""
    if opts.ir_path is not None:
        from zerogate.vectors import load_vectors, stimulus

        state.net = ir.load(opts.ir_path)
        if opts.vectors is not None:
            state.test_x, state.test_y = load_vectors(opts.vectors, state.net)
            source = str(opts.vectors)
        else:  # never another model's data: seeded random and worst-case inputs, and no accuracy
            state.test_x, state.test_y = stimulus(state.net, seed=opts.seed), None
            source = f"{len(state.test_x)} seeded random and worst-case vectors (seed {opts.seed}); no labels"
        state.facts["compress"] = {"source": str(opts.ir_path), "vectors": source, **dict(state.net.metadata)}
    else:
        from compress.methods import run_method
        from compress.methods.presets import DEFAULT_BUILD

        method, model, params = DEFAULT_BUILD
        params = {**params, "sparsity": opts.sparsity, "weight_bits": opts.weight_bits}
        res = run_method(method, model, params, seed=opts.seed, progress=progress)
        state.net, state.test_x, state.test_y = res.net, res.test_x, res.test_y
        total = len(res.test_x) * sum(math.prod(ly.out_shape) for ly in res.net.layers)
        state.facts["compress"] = {
            "method": res.method,
            "model": model,
            "params": dict(res.net.metadata["params"]),
            "float_accuracy": res.float_accuracy,
            "quant_accuracy": res.accuracy,
            "torch_matches_golden": res.torch_matches_golden,
            # every layer's output integers, every test sample: PyTorch reference vs golden
            "torch_vs_golden_outputs": [total - res.reference_mismatches, total],
            "input_format": str(res.input_format),
            "train_seconds": round(res.train_seconds, 2),
        }
        if res.reference_mismatches:
            raise VerificationError(
                "the PyTorch reference and the golden model disagree; this is a zerogate bug, "
                "please report it with the build folder"
            )
    ir.save(state.net, state.work / "ir")
    arrays = {"x": state.test_x} if state.test_y is None else {"x": state.test_x, "y": state.test_y}
    np.savez(state.work / "testset.npz", **arrays)


def step_golden(state: BuildState) -> np.ndarray:
    """Quantized accuracy on the labelled test vectors, by the golden model (the definition of correct)."""
    assert state.net is not None and state.test_x is not None
    traces = golden.trace(state.net, state.test_x)
    pred = np.argmax(traces[-1].out.reshape(len(state.test_x), -1), axis=1)
    state.facts["golden"] = {
        # labelled vectors only: an accuracy on vectors that are not the model's data means nothing
        "accuracy": None if state.test_y is None else float(np.mean(pred == state.test_y)),
        "vectors": int(len(state.test_x)),
        "saturated_outputs": [t.saturated for t in traces],
    }
    return pred


def step_generate(opts: BuildOptions, state: BuildState) -> Any:
    from hwgen.layers import LayerStyle, parse_layer_styles
    from hwgen.verilog import generate

    assert state.net is not None
    default = LayerStyle(opts.style, opts.lanes)
    overrides = parse_layer_styles(opts.layer_styles, default, len(state.net.layers))
    design = generate(state.net, state.work / "rtl", in_lanes=opts.in_lanes, out_lanes=opts.out_lanes,
                      style=default, layer_styles=overrides, balance=opts.balance,
                      single_buffer=opts.single_buffer, head=opts.head)
    state.facts["rtl"] = {
        "verilog": str(design.verilog_path.relative_to(state.work)),
        "top": design.top_name,
        "latency_cycles": design.latency,
        "ii_cycles": design.ii,
        "beats_in": design.beats_in,
        "beats_out": design.beats_out,
        "in_lanes": design.in_lanes,
        "out_lanes": design.out_lanes,
        "layers": [{"name": ly.name, "style": ly.style, "lanes": ly.lanes,
                    "cycles_per_inference": ly.cycles_per_inference, "latency_cycles": ly.latency}
                   for ly in design.layers],
    }
    return design


def step_simulate(state: BuildState, design: Any, echo: Log | None = None) -> None:
    from sim.runner import simulate

    assert state.net is not None and state.test_x is not None
    res = simulate(design, state.net, state.test_x, state.work / "sim")
    if echo is not None:  # Verilator's and the testbench's output, after the fact (cocotb logs to files)
        for log in (res.log_path.with_name("build.log"), res.log_path):
            if log.is_file():
                for line in log.read_text(errors="replace").splitlines():
                    echo(line)
    state.facts["sim"] = {
        "vectors": res.n_vectors,
        "matches": res.n_match,
        "first_mismatch": res.first_mismatch,
        "cycles_per_inference": res.cycles_per_inference,
        "latency_cycles": res.latency,
        "summary": res.summary(),
    }
    if res.n_match != res.n_vectors or res.n_vectors != len(state.test_x):
        raise VerificationError(f"{res.summary()}; logs kept in the .failed build folder")


def step_synth(opts: BuildOptions, state: BuildState, design: Any, log: Log, echo: Log | None = None) -> None:
    from zerogate.flow import synthesize_ecp5

    res = synthesize_ecp5(
        design.verilog_path, design.top_name, state.work / "synth",
        device=opts.device, package=opts.package, freq_mhz=opts.freq_mhz, seed=1, echo=echo,
    )
    state.facts["synth"] = res.to_dict(relative_to=state.work)


def step_bundle(opts: BuildOptions, state: BuildState, design: Any, log: Log) -> dict[str, Any]:
    """The hand-off folder ``bundle/``; with synthesis, its Makefile builds the board bitstreams."""
    from zerogate.bundle import build_bitstreams, ulx3s_device, write_bundle

    assert state.net is not None
    device = ulx3s_device(opts.device, opts.package)
    bundle = write_bundle(design, state.work / "bundle", network=state.net.name, name=opts.out.name,
                          ecp5_device=device)
    families = [f for f in opts.targets if f == "ecp5"]  # iCE40: step_ice40, with its fit pre-check
    built = build_bitstreams(bundle, families, ecp5_device=device, log=log) if opts.synth else {}
    state.facts["bundle"] = {"path": "bundle",
                             "bitstreams": {k: r.to_dict(state.work) for k, r in built.items()}}
    return built


def step_ice40(state: BuildState, built: dict[str, Any], log: Log, echo: Log | None = None) -> None:
    """The iCEBreaker bitstream from the bundle; a design too big for the UP5K is recorded, not fatal."""
    from zerogate.bundle import file_ice40, synthesize_board_ice40, write_summary
    from zerogate.flow import DoesNotFitError
    from zerogate.flow.parse import parse_yosys_stat_json

    bundle, work = state.work / "bundle", state.work / "synth_ice40"
    try:
        res = synthesize_board_ice40(bundle, work, echo=echo)
        filed = file_ice40(bundle, work, res)
        state.facts["ice40"] = {"status": filed.status, **res.to_dict(relative_to=state.work)}
    except DoesNotFitError as e:
        reason = str(e).split(" (log: ")[0]
        filed = file_ice40(bundle, work, None, reason)
        stat = work / "yosys_stat.json"
        cells = parse_yosys_stat_json(stat.read_text()) if stat.is_file() else {}
        state.facts["ice40"] = {"status": "does-not-fit", "reason": reason, "device": "iCE40 UP5K",
                                "package": "sg48", "yosys_cells": cells}
        log(f"ice40: {reason}")
    state.facts["bundle"]["bitstreams"]["ice40"] = filed.to_dict(state.work)
    write_summary(bundle, {**built, "ice40": filed})


def build(opts: BuildOptions, log: Log = lambda s: None, progress: Any = None,
          echo: Log | None = None) -> dict[str, Any]:
    """Run every step into ``opts.out``; return the report's data. ``echo`` gets the tools' output."""
    from zerogate.report import write_reports

    with staged_output(opts.out, "build", force=opts.force, inputs=opts.inputs) as work:
        state = BuildState(work=work)
        _timed(state, "compress", log)(lambda: step_compress(opts, state, progress))
        _timed(state, "golden", log)(lambda: step_golden(state))
        design = _timed(state, "generate", log)(lambda: step_generate(opts, state))
        _timed(state, "simulate", log)(lambda: step_simulate(state, design, echo))
        if opts.synth and "ecp5" in opts.targets:
            _timed(state, "synth", log)(lambda: step_synth(opts, state, design, log, echo))
        built = _timed(state, "bundle", log)(lambda: step_bundle(opts, state, design, log))
        if opts.synth and "ice40" in opts.targets:
            _timed(state, "ice40", log)(lambda: step_ice40(state, built, log, echo))
        data = write_reports(state.net, state.facts, state.timings, opts, work)
        for name in ("report.md", "report.json", "report.html"):  # the bundle travels alone: give it these
            if (work / name).is_file():
                shutil.copyfile(work / name, work / "bundle" / "reports" / name)
        if (work / "report").is_dir():  # the figures, at the same relative place
            shutil.copytree(work / "report", work / "bundle" / "reports" / "report", dirs_exist_ok=True)
    return data
