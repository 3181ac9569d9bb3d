"""The AXI4-Stream wrapper of the bundle on Verilator: stream vectors through it, decode the outputs.

Checks what an SoC integrator relies on: byte-aligned lanes in and out (outputs sign- or
zero-extended to whole bytes), TLAST on the last beat of every output vector, and correct
behaviour under TVALID gaps and TREADY back-pressure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwgen.verilog import GeneratedDesign
from sim.axis_tb import CONFIG_ENV
from sim.testbench import unpack
from sim.uart import verilate
from zerogate.bundle import AXIS_TOP, render_rtl
from zerogate.errors import ToolError
from zerogate.host import UartProtocol


@dataclass(frozen=True)
class AxisResult:
    """Decoded outputs ``[vectors received, out_features]`` and the TLAST check."""

    outputs: np.ndarray
    tlast_ok: bool  # TLAST high on exactly the last beat of each vector
    extra_beats: int  # output beats beyond the expected ones
    cycles: int


def simulate_axis(design: GeneratedDesign, x: np.ndarray, build_dir: Path, *, seed: int = 0,
                  gap_probability: float = 0.3, stall_probability: float = 0.4) -> AxisResult:
    """Stream the input integers ``x[n, in_features]`` through ``zerogate_axis`` and decode what comes out."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    ours = render_rtl(design, build_dir / "rtl")
    runner = verilate([design.verilog_path, *(p for p in ours if p.stem == AXIS_TOP)], AXIS_TOP, build_dir)
    proto = UartProtocol.from_design(design)  # the byte sizes of the lanes are the same as on the UART
    np.savez(build_dir / "stimulus.npz", x=np.asarray(x, dtype=np.int64))
    result = build_dir / "result.json"
    result.unlink(missing_ok=True)
    cfg = {"stimulus": "stimulus.npz", "result": str(result), "seed": seed,
           "gap_probability": gap_probability, "stall_probability": stall_probability,
           "in_lanes": design.in_lanes, "beats_in": design.beats_in, "bytes_per_input": proto.bytes_per_input,
           "beats_out": design.beats_out,
           "max_cycles": 1000 + 20 * (design.latency + len(x) * design.ii),
           "drain_cycles": design.latency + 2 * design.ii + 8}
    cfg_path = build_dir / "axis_sim.json"
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    log = build_dir / "sim.log"
    try:
        runner.test(test_module="sim.axis_tb", hdl_toplevel=AXIS_TOP, build_dir=build_dir / "obj",
                    test_dir=build_dir, results_xml=str(build_dir / "results.xml"),
                    extra_env={CONFIG_ENV: str(cfg_path), "PYTHONDONTWRITEBYTECODE": "1"}, log_file=log)
    except (RuntimeError, SystemExit) as e:
        raise ToolError(f"simulation failed ({e}); see {log}") from None
    if not result.is_file():
        raise ToolError(f"the testbench wrote no result; see {log}")
    r = json.loads(result.read_text())
    beats = r["beats"]
    b, width = design.beats_out, 8 * proto.bytes_per_output
    values = [v for data, _ in beats[:len(x) * b]
              for v in unpack(data, width, design.out_lanes, proto.out_signed)]
    per_vector = b * design.out_lanes
    rows = [values[k:k + proto.out_features] for k in range(0, len(values) - per_vector + 1, per_vector)]
    tlast = [last for _, last in beats[:len(x) * b]]
    return AxisResult(outputs=np.array(rows, dtype=np.int64).reshape(len(rows), proto.out_features),
                      tlast_ok=tlast == ([0] * (b - 1) + [1]) * len(x),
                      extra_beats=max(0, len(beats) - len(x) * b), cycles=r["cycles"])
