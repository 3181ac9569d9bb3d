"""What the ECP5 and iCE40 flows share: checks, the Yosys and nextpnr runs, packing, the result type.

Each family module only says what differs (script template, device flags, packer, which cells mean
what); running the tools, reading their output and refusing designs that do not fit lives here.
"""

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
from zerogate.flow.tools import YOSYS, Tool, check, find_tool, help_text, run_tool, supports_option

Echo = Callable[[str], None] | None
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class DoesNotFitError(ToolError):
    """The design needs more of some resource than the chosen device/package has."""


@dataclass(frozen=True)
class FlowResult:
    """What one synth -> place & route -> pack run produced and measured.

    Headline counts: ``lut4`` and ``carry`` are Yosys's LUT and carry cells (ECP5: LUT4/CCU2C, iCE40:
    SB_LUT4/SB_CARRY); ``ff``, ``dsp``, ``bram``, ``io`` and ``comb`` come from nextpnr's post-pack
    utilisation (``comb`` = the logic sites used: TRELLIS_COMB on ECP5, ICESTORM_LC on iCE40).
    ``lutram``: Yosys's distributed-RAM cells (ECP5 TRELLIS_DPR16X4, 16 x 4 bits in 3 slices, i.e. the
    room of 6 LUT4; not in ``lut4``); iCE40 has none.
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
    family: str = "ecp5"
    lutram: int = 0
    router: str = "router1"  # nextpnr's router algorithm (ECP5)
    placer: str = "heap"  # nextpnr's placer: "static" when HeAP found no legal placement (ECP5)

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """JSON-ready form. Paths are absolute unless ``relative_to`` is given (for relocatable reports)."""

        def p(path: Path) -> str:
            return os.path.relpath(path, relative_to) if relative_to is not None else str(path)

        return {
            "family": self.family,
            "device": self.device, "package": self.package, "top": self.top, "seed": self.seed,
            "router": self.router, "placer": self.placer,
            "lut4": self.lut4, "carry": self.carry, "ff": self.ff, "dsp": self.dsp, "bram": self.bram,
            "io": self.io, "comb": self.comb, "lutram": self.lutram,
            "fmax_mhz": self.fmax_mhz, "constraint_mhz": self.constraint_mhz,
            "timing_met": self.timing_met, "bitstream": p(self.bitstream),
            "clocks": {k: {"fmax_mhz": c.fmax_mhz, "constraint_mhz": c.constraint_mhz, "met": c.met}
                       for k, c in self.clocks.items()},
            "utilisation": {k: {"used": u, "available": a} for k, (u, a) in self.utilisation.items()},
            "yosys_cells": dict(self.yosys_cells),
            "logs": {k: p(v) for k, v in self.logs.items()},
            "elapsed_s": dict(self.elapsed_s),
        }


@dataclass(frozen=True)
class Family:
    """The parts of a flow that differ between FPGA families."""

    name: str  # also the rtl_templates/ folder holding synth.ys.j2
    nextpnr: Tool
    packer: Tool
    placed_ext: str  # nextpnr's output, fed to the packer (.config / .asc)
    placed_flag: str  # the nextpnr option that writes it (--textcfg / --asc)
    bitstream_ext: str


@dataclass
class Flow:
    """One run in progress: the work folder, file names, logs and timings, filled in step by step."""

    family: Family
    top: str
    work: Path
    say: Callable[[str], None]
    echo: Echo
    logs: dict[str, Path] = field(default_factory=dict)
    elapsed: dict[str, float] = field(default_factory=dict)
    placer: str = "heap"  # nextpnr's default; place_and_route may move to its fallback

    @property
    def json(self) -> str:
        return f"{self.top}.json"

    @property
    def placed(self) -> str:
        return f"{self.top}{self.family.placed_ext}"

    @property
    def bitstream(self) -> Path:
        return self.work / f"{self.top}{self.family.bitstream_ext}"


def start(family: Family, verilog: list[Path], top: str, work_dir: Path, freq_mhz: float, *,
          log: Callable[[str], None] | None, echo: Echo) -> tuple[Flow, list[str]]:
    """Check the inputs and tools (before minutes of synthesis, not after); clear stale outputs.

    Returns the run and the Verilog paths relative to the work folder (YoWASP cannot see /tmp paths).
    """
    if not _IDENT.match(top):
        raise ConfigError(f"top module name {top!r} is not a plain Verilog identifier: rename it")
    if not freq_mhz > 0:
        raise ConfigError(f"clock frequency must be positive, got {freq_mhz} MHz")
    sources = [Path(v).absolute() for v in verilog]
    for v in sources:
        if not v.is_file():
            raise ConfigError(f"Verilog file not found: {v}")
    for tool in (YOSYS, family.nextpnr, family.packer):
        find_tool(tool)
    work = Path(work_dir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    flow = Flow(family, top, work, log or (lambda _s: None), echo)
    for stale in (flow.bitstream, _partial(flow.bitstream)):  # never leave one that does not match
        stale.unlink(missing_ok=True)
    return flow, [os.path.relpath(v, work) for v in sources]


#: What Yosys 0.70 prints when its ABC reintegration trips on a design (fixed by a pre-pass).
_ABC_REINTEGRATE_BUG = "GetSize(conn.first) == GetSize(conn.second)"


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


#: Yosys's log of a first run that hit the ABC assertion and was run again with the pre-pass:
#: its presence in a work folder says which script made the netlist.
FIRST_ATTEMPT_LOG = "yosys.first-attempt.log"


def synthesize(flow: Flow, **script_values: Any) -> dict[str, int]:
    """Render ``<family>/synth.ys.j2`` and run Yosys on it; return the cell counts of ``stat -json``."""
    work = flow.work
    names = {"json": flow.json, "stat_txt": "yosys_stat.txt", "stat_json": "yosys_stat.json"}
    (work / "synth.ys").write_text(render_script(flow.family.name, top=flow.top, **names, **script_values))
    log, console = work / "yosys.log", work / "yosys.console.log"
    flow.logs.update(yosys=log, yosys_console=console, yosys_stat=work / names["stat_txt"],
                     synth_script=work / "synth.ys")
    # Yosys writes its own log (-l): under YoWASP its stdout stops when ABC runs, so a captured
    # stdout is incomplete. The console (warnings, errors, runtime messages) is kept as well.
    log.unlink(missing_ok=True)
    quiet = ["-q"] if flow.echo is None else []  # --verbose: Yosys's whole console, as it runs
    args = [*quiet, "-l", log.name, "-s", "synth.ys"]
    run = run_tool(YOSYS, args, cwd=work, log=console, echo=flow.echo)
    if run.returncode != 0 and not script_values.get("prepass") and _ABC_REINTEGRATE_BUG in _text(log):
        flow.say("yosys: ABC reintegration assertion (a Yosys 0.70 bug); again with a pre-pass "
                 "(flatten, memory -nomap, opt, wreduce)")
        (work / "synth.ys").write_text(render_script(flow.family.name, top=flow.top, **names, **script_values,
                                                     prepass=True))
        log.rename(work / FIRST_ATTEMPT_LOG)
        run = run_tool(YOSYS, args, cwd=work, log=console, echo=flow.echo)
    check(YOSYS, run, full_log=log)
    flow.elapsed["yosys"] = run.elapsed_s
    return parse.parse_yosys_stat_json((work / names["stat_json"]).read_text())


#: The placer tried when HeAP's legaliser gives up on a nearly full part. nextpnr's electrostatic
#: placer legalised digits-cnn 8-bit 0 % unrolled on the 85F (67651 of 83640 LUT cells), where HeAP
#: stopped after ~20 min; it took 15 min more and is weaker on timing, so it is only a fallback.
FALLBACK_PLACER = "static"


def place_and_route(flow: Flow, device_args: list[str], freq_mhz: float, seed: int, what: str,
                    advice: str = "choose a larger device or shrink the design",
                    timeout_s: float | None = None, fallback_placer: str | None = None,
                    ) -> tuple[dict[str, tuple[int, int]], dict[str, ClockTiming]]:
    """Run nextpnr; return its utilisation table and clocks.

    ``what`` names the part and ``advice`` the way out in a :class:`DoesNotFitError`; ``timeout_s``
    caps each nextpnr run (:class:`~zerogate.errors.ToolTimeout`). With ``fallback_placer``, a run
    whose HeAP legaliser found no site for a cell is repeated with that placer (if this nextpnr has
    it; HeAP's log is kept as ``nextpnr.heap.log``), and ``flow.placer`` says which one placed it.
    """
    tool, work = flow.family.nextpnr, flow.work
    args = [*device_args, "--json", flow.json, flow.family.placed_flag, flow.placed,
            "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail"]
    if flow.placer != "heap":
        args += ["--placer", flow.placer]
    report = work / "nextpnr_report.json"
    report.unlink(missing_ok=True)
    if supports_option(find_tool(tool), "--report"):
        args += ["--report", report.name]
    flow.logs["nextpnr"] = work / "nextpnr.log"
    run = run_tool(tool, args, cwd=work, log=flow.logs["nextpnr"], echo=flow.echo, timeout_s=timeout_s)
    if (run.returncode != 0 and fallback_placer and flow.placer == "heap" and parse.heap_gave_up(run.output)
            and fallback_placer in parse.placers(help_text(find_tool(tool)))):
        flow.logs["nextpnr_heap"] = flow.logs["nextpnr"].rename(work / "nextpnr.heap.log")
        flow.placer = fallback_placer
        flow.say(f"nextpnr: HeAP found no legal placement ({parse.does_not_fit_reason(run.output)}); "
                 f"again with the {fallback_placer} placer")
        return place_and_route(flow, device_args, freq_mhz, seed, what, advice, timeout_s)
    if run.returncode != 0 and (reason := parse.does_not_fit_reason(run.output)):
        tried = f" (HeAP gave up first, then the {flow.placer} placer)" if flow.placer != "heap" else ""
        raise DoesNotFitError(f"design does not fit {what}: {reason}{tried}; {advice} (log: {run.log})")
    text = check(tool, run)
    flow.elapsed["nextpnr"] = run.elapsed_s
    util, clocks = parse.parse_utilisation(text), parse.parse_clock_timing(text)
    if (not util or not clocks) and report.is_file():
        r_util, r_clocks = parse.parse_nextpnr_report(report.read_text())
        util, clocks = util or r_util, clocks or r_clocks
    if report.is_file():
        flow.logs["nextpnr_report"] = report
    if not util:
        raise ToolError(f"no 'Device utilisation' table in nextpnr output: unsupported nextpnr version? "
                        f"(log: {run.log})")
    return util, clocks


def pack(flow: Flow, extra_args: tuple[str, ...] = ()) -> Path:
    """Run the packer on nextpnr's output; the bitstream appears whole or not at all."""
    tool, bit = flow.family.packer, flow.bitstream
    tmp = _partial(bit)
    name = tool.name.removeprefix("yowasp-")
    flow.logs[name] = flow.work / f"{name}.log"
    run = run_tool(tool, [*extra_args, flow.placed, tmp.name], cwd=flow.work, log=flow.logs[name],
                   echo=flow.echo)
    try:
        check(tool, run)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise ToolError(f"{tool.name} wrote no bitstream (log: {run.log})")
        os.replace(tmp, bit)
    finally:
        tmp.unlink(missing_ok=True)
    flow.elapsed[name] = run.elapsed_s
    return bit


def finish(flow: Flow, *, device: str, package: str, seed: int, freq_mhz: float, cells: dict[str, int],
           util: dict[str, tuple[int, int]], clocks: dict[str, ClockTiming], bit: Path,
           counts: dict[str, int]) -> FlowResult:
    """The result of a finished run, said in one line; ``counts`` are the family's headline numbers."""
    worst = min(clocks.values(), key=lambda c: c.fmax_mhz) if clocks else None
    res = FlowResult(
        device=device, package=package, top=flow.top, seed=seed, **counts,
        fmax_mhz=worst.fmax_mhz if worst else None, constraint_mhz=float(freq_mhz),
        timing_met=all(c.met for c in clocks.values()), bitstream=bit, clocks=clocks, utilisation=util,
        yosys_cells=cells, logs=dict(flow.logs), elapsed_s=dict(flow.elapsed), family=flow.family.name,
    )
    fmax = f"{res.fmax_mhz:.2f} MHz" if res.fmax_mhz is not None else "no clock"
    flow.say(f"done: {res.comb} logic cells, {res.ff} FF, {res.dsp} DSP, {res.bram} BRAM, Fmax {fmax} "
             f"({'met' if res.timing_met else 'NOT met'} at {freq_mhz:g} MHz) -> {bit}")
    return res


def used(util: dict[str, tuple[int, int]], name: str) -> int:
    return util.get(name, (0, 0))[0]


def _partial(bit: Path) -> Path:
    return bit.with_name(bit.name + ".partial")


def _yosys_quote(path: str) -> str:
    if '"' in path or "\n" in path:
        raise ConfigError(f"path {path!r} contains a quote or newline, which Yosys scripts cannot hold: "
                          f"rename it")
    return f'"{path}"'


def template_env() -> jinja2.Environment:
    """The one Jinja environment over ``rtl_templates/`` (scripts, RTL, constraints, bundle files)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("rtl_templates", ""),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["yosys_quote"] = _yosys_quote
    return env


def render_script(family: str, **values: Any) -> str:
    """``rtl_templates/<family>/synth.ys.j2`` with every path quoted for Yosys."""
    return template_env().get_template(f"{family}/synth.ys.j2").render(**values)
