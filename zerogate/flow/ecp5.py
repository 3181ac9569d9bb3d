"""Verilog -> ECP5 bitstream with Yosys, nextpnr-ecp5 and ecppack, driven from Python."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from zerogate.errors import ConfigError, ToolError
from zerogate.flow import parse
from zerogate.flow.parse import ClockTiming
from zerogate.flow.tools import ECPPACK, NEXTPNR_ECP5, YOSYS, check, find_tool, run_tool, supports_option

_DEVICE = re.compile(r"^LFE5(?P<family>U|UM|UM5G)-(?P<size>12|25|45|85)F$")
_FAMILY_FLAG = {"U": "", "UM": "um-", "UM5G": "um5g-"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class DoesNotFitError(ToolError):
    """The design needs more of some resource than the chosen device/package has."""


def nextpnr_device_flag(device: str) -> str:
    """nextpnr-ecp5's flag for a Lattice part name: ``LFE5UM5G-45F`` -> ``--um5g-45k``."""
    m = _DEVICE.match(device.strip().upper())
    if m is None or (m["family"] != "U" and m["size"] == "12"):
        raise ConfigError(f"unknown ECP5 device {device!r}: use LFE5U-12F/25F/45F/85F, "
                          f"LFE5UM-25F/45F/85F or LFE5UM5G-25F/45F/85F")
    return f"--{_FAMILY_FLAG[m['family']]}{m['size']}k"


@dataclass(frozen=True)
class FlowResult:
    """What one synth -> place & route -> pack run produced and measured.

    Headline counts: ``lut4`` and ``carry`` are Yosys's LUT4 and CCU2C cells (logic LUTs and carry
    pairs, as synthesised); ``ff``, ``dsp``, ``bram``, ``io`` and ``comb`` come from nextpnr's post-pack
    utilisation (``comb`` = TRELLIS_COMB, the LUT4 sites used including both halves of each carry).
    ``fmax_mhz`` is the worst post-route clock; with no clock it is None and ``timing_met`` is True.
    """

    device: str
    package: str
    top: str
    seed: int
    lut4: int
    carry: int
    ff: int
    dsp: int
    bram: int
    io: int
    comb: int
    fmax_mhz: float | None
    constraint_mhz: float
    timing_met: bool
    bitstream: Path
    clocks: dict[str, ClockTiming] = field(default_factory=dict)
    utilisation: dict[str, tuple[int, int]] = field(default_factory=dict)
    yosys_cells: dict[str, int] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    elapsed_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """JSON-ready form. Paths are absolute unless ``relative_to`` is given (for relocatable reports)."""

        def p(path: Path) -> str:
            return os.path.relpath(path, relative_to) if relative_to is not None else str(path)

        return {
            "device": self.device, "package": self.package, "top": self.top, "seed": self.seed,
            "lut4": self.lut4, "carry": self.carry, "ff": self.ff, "dsp": self.dsp, "bram": self.bram,
            "io": self.io, "comb": self.comb,
            "fmax_mhz": self.fmax_mhz, "constraint_mhz": self.constraint_mhz,
            "timing_met": self.timing_met, "bitstream": p(self.bitstream),
            "clocks": {k: {"fmax_mhz": c.fmax_mhz, "constraint_mhz": c.constraint_mhz, "met": c.met}
                       for k, c in self.clocks.items()},
            "utilisation": {k: {"used": u, "available": a} for k, (u, a) in self.utilisation.items()},
            "yosys_cells": dict(self.yosys_cells),
            "logs": {k: p(v) for k, v in self.logs.items()},
            "elapsed_s": dict(self.elapsed_s),
        }


def synthesize_ecp5(verilog: Path, top: str, work_dir: Path, *, device: str = "LFE5U-85F",
                    package: str = "CABGA381", freq_mhz: float = 100.0, seed: int = 1,
                    log: Callable[[str], None] | None = None) -> FlowResult:
    """Synthesise, place, route and pack ``verilog`` (module ``top``) into ``work_dir/<top>.bit``.

    Timing failure is not an error (``timing_met`` says so and the bitstream is still written), so a
    slow design can be measured; a design that does not fit raises :class:`DoesNotFitError`. A fixed
    ``seed`` gives a byte-identical bitstream for the same Verilog. IO pins are left unconstrained
    (nextpnr places them), which is enough for resource and Fmax figures but not for a board.
    """
    say = log or (lambda _s: None)
    flag = nextpnr_device_flag(device)
    device = device.strip().upper()
    if not _IDENT.match(top):
        raise ConfigError(f"top module name {top!r} is not a plain Verilog identifier: rename it")
    if not freq_mhz > 0:
        raise ConfigError(f"clock frequency must be positive, got {freq_mhz} MHz")
    verilog = Path(verilog).absolute()
    if not verilog.is_file():
        raise ConfigError(f"Verilog file not found: {verilog}")
    for tool in (YOSYS, NEXTPNR_ECP5, ECPPACK):  # fail before minutes of synthesis, not after
        find_tool(tool)
    work = Path(work_dir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    bit, bit_tmp = work / f"{top}.bit", work / f"{top}.bit.partial"
    for stale in (bit, bit_tmp):  # never leave a .bit that does not match this Verilog
        stale.unlink(missing_ok=True)
    names = {"json": f"{top}.json", "stat_txt": "yosys_stat.txt", "stat_json": "yosys_stat.json",
             "config": f"{top}.config", "report": "nextpnr_report.json"}
    logs = {"yosys": work / "yosys.log", "yosys_console": work / "yosys.console.log",
            "nextpnr": work / "nextpnr.log", "ecppack": work / "ecppack.log"}
    elapsed: dict[str, float] = {}

    say(f"yosys: synth_ecp5 {top} for {device}")
    script = _render_synth_script(verilog=[os.path.relpath(verilog, work)], top=top, device=device, **names)
    (work / "synth.ys").write_text(script)
    # Yosys writes its own log (-l): under YoWASP its stdout stops when ABC runs, so a captured
    # stdout is incomplete. The console (warnings, errors, runtime messages) is kept as well.
    logs["yosys"].unlink(missing_ok=True)
    run = run_tool(YOSYS, ["-q", "-l", logs["yosys"].name, "-s", "synth.ys"], cwd=work,
                   log=logs["yosys_console"])
    check(YOSYS, run, full_log=logs["yosys"])
    elapsed["yosys"] = run.elapsed_s
    cells = parse.parse_yosys_stat_json((work / names["stat_json"]).read_text())

    say(f"nextpnr: place and route on {device} {package} at {freq_mhz:g} MHz, seed {seed}")
    args = [flag, "--package", package, "--json", names["json"], "--textcfg", names["config"],
            "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail"]
    report = work / names["report"]
    report.unlink(missing_ok=True)
    if supports_option(find_tool(NEXTPNR_ECP5), "--report"):
        args += ["--report", names["report"]]
    run = run_tool(NEXTPNR_ECP5, args, cwd=work, log=logs["nextpnr"])
    if run.returncode != 0 and (reason := parse.does_not_fit_reason(run.output)):
        raise DoesNotFitError(f"design does not fit {device} {package}: {reason}; "
                              f"choose a larger device or shrink the design (log: {run.log})")
    text = check(NEXTPNR_ECP5, run)
    elapsed["nextpnr"] = run.elapsed_s
    util, clocks = parse.parse_utilisation(text), parse.parse_clock_timing(text)
    if (not util or not clocks) and report.is_file():
        r_util, r_clocks = parse.parse_nextpnr_report(report.read_text())
        util, clocks = util or r_util, clocks or r_clocks
    if not util:
        raise ToolError(f"no 'Device utilisation' table in nextpnr output: unsupported nextpnr version? "
                        f"(log: {run.log})")

    say("ecppack: packing the bitstream")
    run = run_tool(ECPPACK, [names["config"], bit_tmp.name], cwd=work, log=logs["ecppack"])
    try:
        check(ECPPACK, run)
        if not bit_tmp.is_file() or bit_tmp.stat().st_size == 0:
            raise ToolError(f"yowasp-ecppack wrote no bitstream (log: {run.log})")
        os.replace(bit_tmp, bit)
    finally:
        bit_tmp.unlink(missing_ok=True)
    elapsed["ecppack"] = run.elapsed_s

    worst = min(clocks.values(), key=lambda c: c.fmax_mhz) if clocks else None
    res = FlowResult(
        device=device, package=package, top=top, seed=seed,
        lut4=cells.get("LUT4", 0), carry=cells.get("CCU2C", 0),
        ff=_used(util, "TRELLIS_FF"), dsp=_used(util, "MULT18X18D"), bram=_used(util, "DP16KD"),
        io=_used(util, "TRELLIS_IO"), comb=_used(util, "TRELLIS_COMB"),
        fmax_mhz=worst.fmax_mhz if worst else None, constraint_mhz=float(freq_mhz),
        timing_met=all(c.met for c in clocks.values()), bitstream=bit, clocks=clocks,
        utilisation=util, yosys_cells=cells,
        logs={**logs, "yosys_stat": work / names["stat_txt"], "synth_script": work / "synth.ys",
              **({"nextpnr_report": report} if report.is_file() else {})},
        elapsed_s=elapsed,
    )
    fmax = f"{res.fmax_mhz:.2f} MHz" if res.fmax_mhz is not None else "no clock"
    say(f"done: {res.comb} LUT4 sites, {res.ff} FF, {res.dsp} DSP, {res.bram} BRAM, Fmax {fmax} "
        f"({'met' if res.timing_met else 'NOT met'} at {freq_mhz:g} MHz) -> {bit}")
    return res


def _used(util: dict[str, tuple[int, int]], name: str) -> int:
    return util.get(name, (0, 0))[0]


def _yosys_quote(path: str) -> str:
    if '"' in path or "\n" in path:
        raise ConfigError(f"path {path!r} contains a quote or newline, which Yosys scripts cannot hold: "
                          f"rename it")
    return f'"{path}"'


def _render_synth_script(**values: Any) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("rtl_templates", "ecp5"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["yosys_quote"] = _yosys_quote
    return env.get_template("synth.ys.j2").render(**values)
