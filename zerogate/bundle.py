"""The bitstream hand-off bundle: everything a board or SoC engineer needs, in one self-contained folder.

``write_bundle`` renders ``rtl_templates/`` from a generated design into ``<build>/bundle/``: the
accelerator's Verilog, a UART board top level and an AXI4-Stream wrapper, constraints for three
named boards, Yosys and Vivado scripts, a FuseSoC core and a Makefile. ``build_bitstreams`` then runs
that Makefile, so the bitstreams shipped in ``bitstreams/`` are exactly what ``make`` rebuilds from
the bundle alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwgen.verilog import GeneratedDesign
from zerogate.errors import ConfigError, ToolError
from zerogate.flow import parse
from zerogate.flow.common import Echo, FlowResult, template_env
from zerogate.flow.ecp5 import nextpnr_device_flag
from zerogate.flow.ice40 import Ice40Device
from zerogate.flow.tools import ECPPACK, ICEPACK, NEXTPNR_ECP5, NEXTPNR_ICE40, YOSYS, find_tool
from zerogate.host import (
    CRC_BYTES,
    DEFAULT_BAUD,
    DEFAULT_TIMEOUT_BITS,
    NAK,
    REPLY_HEADER,
    REQUEST_HEADER,
    SYNC_REPLY,
    SYNC_REQUEST,
    UartProtocol,
    crc16,
)
from zerogate.ir import check_identifier
from zerogate.outdir import staged_folder

UART_TOP = "zerogate_uart_top"
AXIS_TOP = "zerogate_axis"
UART_SOURCES = ("zerogate_uart_rx.v", "zerogate_uart_tx.v")  # copied verbatim from rtl_templates/rtl
MAKE_TARGETS = {"ecp5": "ecp5", "ice40": "ice40", "xilinx": "arty"}  # the bundle Makefile's, by family


@dataclass(frozen=True)
class BoardTarget:
    """One board the bundle builds for: its part, clock, pin file and bitstream name."""

    key: str
    board: str
    family: str  # ecp5 | ice40 | xilinx
    device: str
    package: str
    clk_hz: int
    constraints: str
    bitstream: str
    nextpnr_device: str = ""

    @property
    def clk_mhz(self) -> str:
        return f"{self.clk_hz / 1e6:g}"

    @property
    def make_target(self) -> str:
        return MAKE_TARGETS[self.family]


#: The ECP5 parts a ULX3S is sold with (all in the CABGA381 package).
ULX3S_DEVICES = ("LFE5U-12F", "LFE5U-25F", "LFE5U-45F", "LFE5U-85F")


def ulx3s_device(device: str, package: str) -> str:
    """``device`` if a ULX3S carries it in ``package``, else the 85F (the board the bundle targets)."""
    d = device.strip().upper()
    return d if d in ULX3S_DEVICES and package.strip().upper() == "CABGA381" else "LFE5U-85F"


def board_targets(ecp5_device: str = "LFE5U-85F") -> dict[str, BoardTarget]:
    """The three boards, by family; ``ecp5_device`` picks the ULX3S variant."""
    if ecp5_device.strip().upper() not in ULX3S_DEVICES:
        raise ConfigError(f"no ULX3S has a {ecp5_device}: use one of {', '.join(ULX3S_DEVICES)}")
    return {
        "ecp5": BoardTarget("ulx3s", "Radiona ULX3S", "ecp5", ecp5_device.upper(), "CABGA381", 25_000_000,
                            "ulx3s.lpf", "zerogate_ulx3s.bit", nextpnr_device_flag(ecp5_device)),
        "ice40": BoardTarget("icebreaker", "1BitSquared iCEBreaker", "ice40", "iCE40UP5K", "sg48", 12_000_000,
                             "icebreaker.pcf", "zerogate_icebreaker.bin", "--up5k"),
        "xilinx": BoardTarget("arty", "Digilent Arty A7-35T", "xilinx", "xc7a35ticsg324-1L", "", 100_000_000,
                              "arty_a7_35t.xdc", "zerogate_arty.bit"),
    }


def _bits(n: int) -> int:
    """Register width that holds 0..n."""
    return max(1, int(n).bit_length())


def rtl_context(design: GeneratedDesign, *, clk_hz: int = 25_000_000, baud: int = DEFAULT_BAUD,
                timeout_bits: int = DEFAULT_TIMEOUT_BITS) -> dict[str, Any]:
    """The numbers the Verilog templates need, all derived from ``design`` (widths, lanes, beats)."""
    if clk_hz / baud < 4:
        raise ConfigError(f"a {clk_hz} Hz clock is too slow for {baud} baud (needs >= 4 cycles per bit); "
                          "lower the baud rate")
    proto = UartProtocol.from_design(design, baud=baud, timeout_bits=timeout_bits)
    last = design.layers[-1]
    bpe_in, bpe_out = proto.bytes_per_input, proto.bytes_per_output
    return {
        "acc": design.top_name, "clk_hz": int(clk_hz), "baud": int(baud), "timeout_bits": int(timeout_bits),
        "sync_req": SYNC_REQUEST, "sync_rep": SYNC_REPLY, "nak": NAK,
        "crc_sync_req": crc16(bytes([SYNC_REQUEST])), "design_id": proto.design_id,
        "design_hex": proto.design_hex, "hdr": REPLY_HEADER, "i_crc": REPLY_HEADER + proto.reply_bytes,
        "req_frame": REQUEST_HEADER + proto.request_bytes + CRC_BYTES,
        "rep_frame": REPLY_HEADER + proto.reply_bytes + CRC_BYTES, "nak_frame": REPLY_HEADER + CRC_BYTES,
        "in_features": design.in_features, "in_bits": design.in_bits, "in_signed": design.in_signed,
        "in_lanes": design.in_lanes, "beats_in": design.beats_in, "bpe_in": bpe_in,
        "out_features": last.out_features, "out_bits": last.out_bits, "out_signed": last.out_signed,
        "out_lanes": design.out_lanes, "beats_out": design.beats_out, "bpe_out": bpe_out,
        "nb_in": proto.request_bytes, "nb_out": proto.reply_bytes,
        "lane_in_bytes": design.in_lanes * bpe_in, "lane_out_bytes": design.out_lanes * bpe_out,
        "nb_in_pad": design.beats_in * design.in_lanes * bpe_in,
        "nb_out_pad": design.beats_out * design.out_lanes * bpe_out,
        "pcw": _bits(design.beats_in * design.in_lanes * bpe_in), "bpw": _bits(design.in_lanes * bpe_in - 1),
        "opw": _bits(design.out_lanes * bpe_out - 1),
        "bow": _bits(design.beats_out - 1), "ocw": _bits(REPLY_HEADER + proto.reply_bytes + 1),
    }


def render_rtl(design: GeneratedDesign, out_dir: Path, **kw: Any) -> list[Path]:
    """Write the UART top level, the UART and the AXI4-Stream wrapper for ``design`` into ``out_dir``.

    Returns the files written (the accelerator's own Verilog is not among them). ``kw`` goes to
    :func:`rtl_context` (``clk_hz``, ``baud``, ``timeout_bits``: the Verilog defaults).
    """
    ctx = rtl_context(design, **kw)
    env = template_env()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in UART_SOURCES:
        dst = out_dir / src
        dst.write_text(env.loader.get_source(env, f"rtl/{src}")[0])  # type: ignore[union-attr]
        written.append(dst)
    for template, name in (("rtl/uart_top.v.j2", UART_TOP), ("rtl/axis.v.j2", AXIS_TOP)):
        dst = out_dir / f"{name}.v"
        dst.write_text(env.get_template(template).render(name=name, **ctx))
        written.append(dst)
    return written


def write_bundle(design: GeneratedDesign, out: Path, *, network: str = "network", name: str = "zerogate",
                 baud: int = DEFAULT_BAUD, timeout_bits: int = DEFAULT_TIMEOUT_BITS,
                 ecp5_device: str = "LFE5U-85F", reports: Iterable[Path] = ()) -> Path:
    """Render the whole bundle for ``design`` into ``out`` (replaced atomically); return ``out``.

    ``reports`` are files copied into ``reports/`` (the build report, for instance). ``network``
    must be an IR identifier and ``name`` (often the output folder's name) is reduced to safe file
    characters, since both are written into the YAML core file, the README and file names.
    """
    check_identifier(network, "network name")
    name = _file_stem(name)
    boards = board_targets(ecp5_device)
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(out) as work:
        rtl = work / "rtl"
        rtl.mkdir()
        shutil.copyfile(design.verilog_path, rtl / design.verilog_path.name)
        shutil.copyfile(design.verilog_path.with_name("design.json"), rtl / "design.json")
        ours = render_rtl(design, rtl, clk_hz=boards["ecp5"].clk_hz, baud=baud, timeout_bits=timeout_bits)
        acc_v = f"rtl/{design.verilog_path.name}"
        uart_v = [f"rtl/{p.name}" for p in ours if p.stem != AXIS_TOP]
        axis_v = f"rtl/{AXIS_TOP}.v"
        verilog = [acc_v, *uart_v]
        ctx = {
            **rtl_context(design, baud=baud, timeout_bits=timeout_bits),
            "name": name, "network": network, "uart_top": UART_TOP, "axis_top": AXIS_TOP, "top": UART_TOP,
            "verilog": verilog, "acc_verilog": acc_v, "uart_verilog": uart_v, "axis_verilog": axis_v,
            "acc_file": design.verilog_path.name, "uart_file": f"{UART_TOP}.v", "axis_file": f"{AXIS_TOP}.v",
            "core_name": f"zerogate:accelerator:{_core_id(name)}:0.1.0", "core_file": f"{name}.core",
            "description": f"zerogate sparse fixed-point accelerator for {network}",
            "boards": list(boards.values()), **boards,
            "arty": boards["xilinx"],
        }
        env = template_env()
        files = {
            "constraints/ulx3s.lpf": ("constraints/ulx3s.lpf.j2", boards["ecp5"]),
            "constraints/icebreaker.pcf": ("constraints/icebreaker.pcf.j2", boards["ice40"]),
            "constraints/arty_a7_35t.xdc": ("constraints/arty_a7_35t.xdc.j2", boards["xilinx"]),
            "scripts/synth_ecp5.ys": ("scripts/synth_ecp5.ys.j2", boards["ecp5"]),
            "scripts/synth_ice40.ys": ("scripts/synth_ice40.ys.j2", boards["ice40"]),
            "scripts/vivado_arty.tcl": ("scripts/vivado_arty.tcl.j2", boards["xilinx"]),
            "scripts/verilator.vlt": ("scripts/verilator.vlt.j2", None),
            f"{name}.core": ("bundle/core.j2", None),
            "Makefile": ("bundle/Makefile.j2", None),
            "README.md": ("bundle/README.md.j2", None),
        }
        for dst, (template, board) in files.items():
            extra = {} if board is None else {
                "board": board.board, "device": board.device, "package": board.package, "part": board.device,
                "clk_hz": board.clk_hz, "clk_mhz": board.clk_mhz, "clk_period_ns": 1e9 / board.clk_hz,
                "constraints": board.constraints, "bitstream": board.bitstream,
            }
            path = work / dst
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(env.get_template(template).render(**{**ctx, **extra}))
        proto = UartProtocol.from_design(design, baud=baud, timeout_bits=timeout_bits)
        (work / "protocol.json").write_text(proto.to_json())
        (work / "bitstreams").mkdir()
        (work / "reports").mkdir()
        for r in reports:
            shutil.copyfile(r, work / "reports" / Path(r).name)
    return out


def _core_id(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name.lower())


def _file_stem(name: str) -> str:
    """``name`` with every character but ASCII letters, digits, ``_``, ``-`` and ``.`` made ``_``,
    and not starting with a dot: a plain file name, and a plain YAML/Markdown word."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "_-.") else "_" for c in name)[:64]
    return stem if stem and not stem.startswith(".") else f"zerogate{stem}"


@dataclass(frozen=True)
class BitstreamResult:
    """What ``make <target>`` in a bundle gave: a bitstream, or the one-line reason there is none."""

    board: str
    device: str
    status: str  # built | does-not-fit | timing-not-met | failed | skipped
    reason: str
    bitstream: Path | None
    fmax_mhz: float | None
    constraint_mhz: float
    utilisation: dict[str, tuple[int, int]]
    elapsed_s: float

    def to_dict(self, relative_to: Path) -> dict[str, Any]:
        return {
            "board": self.board, "device": self.device, "status": self.status, "reason": self.reason,
            "bitstream": os.path.relpath(self.bitstream, relative_to) if self.bitstream else None,
            "fmax_mhz": self.fmax_mhz, "constraint_mhz": self.constraint_mhz,
            "utilisation": {k: {"used": u, "available": a} for k, (u, a) in self.utilisation.items() if u},
            "elapsed_s": self.elapsed_s,
        }


_TOOLS = {"ecp5": {"YOSYS": YOSYS, "NEXTPNR_ECP5": NEXTPNR_ECP5, "ECPPACK": ECPPACK},
          "ice40": {"YOSYS": YOSYS, "NEXTPNR_ICE40": NEXTPNR_ICE40, "ICEPACK": ICEPACK}}


def make_command(bundle: Path, family: str) -> list[str]:
    """``make <target>`` for ``family`` with the tools zerogate itself would use (venv first, then PATH)."""
    make = shutil.which("make")
    if make is None:
        raise ToolError("'make' not found on PATH (the bundle rebuilds with make); install it "
                        "(e.g. apt-get install make)")
    tools = [f"{var}={find_tool(tool)}" for var, tool in _TOOLS[family].items()]
    return [make, "-C", str(bundle), *tools, MAKE_TARGETS[family]]


def build_bitstream(bundle: Path, family: str, *, ecp5_device: str = "LFE5U-85F",
                    timeout_s: float = 3600) -> BitstreamResult:
    """Run the bundle's Makefile for ``family`` (``ecp5`` or ``ice40``) and file the outcome.

    A built bitstream is copied to ``bitstreams/``; the logs go to ``reports/<family>/`` and the
    intermediate files are removed. A design that does not fit, misses timing or fails to build
    leaves ``bitstreams/<board>.NOT-BUILT.txt`` saying why, instead of a bitstream; a missing tool
    is a :class:`ToolError`.
    """
    bundle = Path(bundle).absolute()
    target = board_targets(ecp5_device)[family]
    cmd = make_command(bundle, family)
    build = bundle / "build" / family
    log = bundle / "reports" / f"make_{family}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log.open("w") as f:
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout_s, check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
    elapsed = round(time.monotonic() - t0, 2)
    pnr_log = build / "nextpnr.log"
    text = pnr_log.read_text(errors="replace") if pnr_log.is_file() else ""
    util = parse.parse_utilisation(text)
    clocks = parse.parse_clock_timing(text)
    fmax = min((c.fmax_mhz for c in clocks.values()), default=None)
    reports = bundle / "reports" / family
    reports.mkdir(exist_ok=True)
    for name in ("yosys.log", "yosys_stat.txt", "nextpnr.log"):
        if (build / name).is_file():
            shutil.copyfile(build / name, reports / name)
    bit = build / target.bitstream
    status, reason, shipped = "built", "", None
    if code == 0 and bit.is_file():
        shipped = bundle / "bitstreams" / target.bitstream
        shutil.copyfile(bit, shipped)
    else:
        all_text = text + "\n" + log.read_text(errors="replace")
        if code == -1:
            status, reason = "failed", f"make {target.make_target} took longer than {timeout_s:g} s"
        elif (why := parse.does_not_fit_reason(all_text)) is not None:
            status, reason = "does-not-fit", f"does not fit the {target.device}: {why}"
        elif clocks and not all(c.met for c in clocks.values()):
            status = "timing-not-met"
            reason = f"timing not met: Fmax {fmax:.2f} MHz < {target.clk_mhz} MHz board clock"
        else:
            status, reason = "failed", f"make {target.make_target} failed: {parse.last_error_line(all_text)}"
        note = bundle / "bitstreams" / f"{target.key}.NOT-BUILT.txt"
        note.write_text(f"No bitstream for the {target.board} ({target.device}): {reason}\n"
                        f"Logs: reports/{family}/ and reports/make_{family}.log\n")
    shutil.rmtree(bundle / "build", ignore_errors=True)
    return BitstreamResult(board=target.board, device=target.device, status=status, reason=reason,
                           bitstream=shipped, fmax_mhz=fmax, constraint_mhz=target.clk_hz / 1e6,
                           utilisation=util, elapsed_s=elapsed)


def build_bitstreams(bundle: Path, families: Iterable[str] = ("ecp5", "ice40"), *,
                     ecp5_device: str = "LFE5U-85F",
                     log: Callable[[str], None] = lambda s: None) -> dict[str, BitstreamResult]:
    """:func:`build_bitstream` for each family, saying what happened in one line each."""
    results = {}
    for fam in families:
        log(f"bundle: make {MAKE_TARGETS[fam]}")
        res = build_bitstream(bundle, fam, ecp5_device=ecp5_device)
        fmax = f", Fmax {res.fmax_mhz:.1f} MHz" if res.fmax_mhz is not None else ""
        log(f"bundle: {res.board}: {res.status}{fmax}" + (f" ({res.reason})" if res.reason else ""))
        results[fam] = res
    write_summary(Path(bundle), results)
    return results


def synthesize_board_ice40(bundle: Path, work_dir: Path, *, device: Ice40Device | None = None,
                           log: Callable[[str], None] | None = None, echo: Echo = None) -> FlowResult:
    """The bundle's iCEBreaker build (``make ice40``: UART top + accelerator, its PCF, 12 MHz) from Python.

    Unlike ``make``, the Yosys cell counts are checked against the part first, so a design that cannot
    fit raises :class:`~zerogate.flow.DoesNotFitError` in seconds ("needs 7312 of 5280 LUTs").
    """
    from zerogate.flow import ice40

    bundle = Path(bundle).absolute()
    target = board_targets()["ice40"]
    sources = [p for p in sorted((bundle / "rtl").glob("*.v")) if p.stem != AXIS_TOP]
    pcf = bundle / "constraints" / target.constraints
    return ice40.synthesize_ice40(sources, UART_TOP, work_dir, device=device or ice40.UP5K,
                                  freq_mhz=target.clk_hz / 1e6, pcf=pcf, params={"CLK_HZ": target.clk_hz},
                                  log=log, echo=echo)


def file_ice40(bundle: Path, work: Path, res: FlowResult | None, reason: str = "") -> BitstreamResult:
    """Put the iCE40 outcome of the run in ``work`` into the bundle: the .bin in ``bitstreams/``, or
    ``ice40/DOES_NOT_FIT.txt`` with ``reason``. The logs go to ``reports/ice40/`` as for ``make``.
    """
    bundle = Path(bundle).absolute()
    target = board_targets()["ice40"]
    (bundle / "ice40").mkdir(exist_ok=True)
    reports = bundle / "reports" / "ice40"
    reports.mkdir(parents=True, exist_ok=True)
    for name in ("yosys.log", "yosys_stat.txt", "nextpnr.log"):
        if (Path(work) / name).is_file():
            shutil.copyfile(Path(work) / name, reports / name)
    note = bundle / "ice40" / "DOES_NOT_FIT.txt"
    note.unlink(missing_ok=True)
    if res is None:
        note.write_text(f"{reason}\nThe {target.board} bitstream was not built: logs in reports/ice40/.\n")
        return BitstreamResult(board=target.board, device=target.device, status="does-not-fit", reason=reason,
                               bitstream=None, fmax_mhz=None, constraint_mhz=target.clk_hz / 1e6,
                               utilisation={}, elapsed_s=0.0)
    shipped = bundle / "bitstreams" / target.bitstream
    shutil.copyfile(res.bitstream, shipped)
    return BitstreamResult(board=target.board, device=target.device,
                           status="built" if res.timing_met else "timing-not-met", reason="",
                           bitstream=shipped, fmax_mhz=res.fmax_mhz, constraint_mhz=res.constraint_mhz,
                           utilisation=res.utilisation, elapsed_s=round(sum(res.elapsed_s.values()), 2))


def write_summary(bundle: Path, results: dict[str, BitstreamResult]) -> None:
    """``bitstreams/README.md``: what was built, with the measured figures, and how to rebuild it."""
    lines = ["# Bitstreams", "",
             "Built from this folder's RTL and constraints with the Makefile's tools and options "
             "(nextpnr seed 1; iCE40 via zerogate's flow, which checks the fit first); figures from nextpnr.",
             "",
             "| board | device | status | Fmax (MHz) | clock (MHz) | logic used | file | rebuild |",
             "|---|---|---|---|---|---|---|---|"]
    for fam, r in results.items():
        logic = next(((k, u, a) for k, (u, a) in r.utilisation.items()
                      if k in ("TRELLIS_COMB", "ICESTORM_LC")), None)
        used = f"{logic[1]}/{logic[2]} {logic[0]}" if logic else "-"
        fmax = f"{r.fmax_mhz:.1f}" if r.fmax_mhz is not None else "-"
        what = r.bitstream.name if r.bitstream else f"none: {r.reason}"
        lines.append(f"| {r.board} | {r.device} | {r.status} | {fmax} | {r.constraint_mhz:g} | {used} | "
                     f"{what} | `make {MAKE_TARGETS[fam]}` |")
    (bundle / "bitstreams" / "README.md").write_text("\n".join(lines) + "\n")

