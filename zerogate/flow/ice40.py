"""Verilog -> iCE40 bitstream with Yosys (synth_ice40), nextpnr-ice40 and icepack.

The small iCE40 parts fill up quickly, so the Yosys cell counts are compared with the device before
place and route: a design that cannot fit fails in seconds with the numbers, not after nextpnr.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from zerogate.errors import ConfigError, ToolTimeout
from zerogate.flow import common, parse
from zerogate.flow.common import DoesNotFitError, Echo, FlowResult
from zerogate.flow.tools import ICEPACK, NEXTPNR_ICE40

ICE40 = common.Family("ice40", NEXTPNR_ICE40, ICEPACK, ".asc", "--asc", ".bin")

#: What to try when a design does not fit the small part.
FIT_ADVICE = "try --style folded --single-buffer, a higher sparsity or the ECP5 target"

#: nextpnr places a UP5K design in a minute or two, but near a full part its analytic placer can
#: search for hours without a legal placement (95 % of the logic cells: still searching after 12
#: min). Past this cap the design is reported as not fitting instead of leaving the build hanging.
PLACE_MINUTES = 15.0


@dataclass(frozen=True)
class Ice40Device:
    """An iCE40 part and what it holds (a smaller capacity lets tests reach the does-not-fit path)."""

    name: str = "iCE40 UP5K"
    flag: str = "--up5k"
    package: str = "sg48"
    lut4: int = 5280
    ff: int = 5280
    ebr: int = 30
    dsp: int = 8
    spram: int = 4


UP5K = Ice40Device()


def demand(cells: Mapping[str, int], device: Ice40Device) -> list[tuple[str, int, int]]:
    """(resource, needed, available) from Yosys's ``stat`` cell counts, for every resource the part has."""
    ff = sum(n for k, n in cells.items() if k.startswith("SB_DFF"))
    return [("LUTs", cells.get("SB_LUT4", 0), device.lut4), ("FFs", ff, device.ff),
            ("EBR", cells.get("SB_RAM40_4K", 0), device.ebr), ("DSP", cells.get("SB_MAC16", 0), device.dsp),
            ("SPRAM", cells.get("SB_SPRAM256KA", 0), device.spram)]


def check_fits(cells: Mapping[str, int], device: Ice40Device = UP5K, advice: str = FIT_ADVICE) -> None:
    """Raise :class:`DoesNotFitError` ("... needs 7312 of 5280 LUTs; ...") if the cells exceed ``device``."""
    over = [f"{need} of {have} {what}" for what, need, have in demand(cells, device) if need > have]
    if over:
        raise DoesNotFitError(f"design does not fit {device.name}: needs {', '.join(over)}; {advice}")


def synthesize_ice40(verilog: Path | list[Path], top: str, work_dir: Path, *, device: Ice40Device = UP5K,
                     freq_mhz: float = 12.0, seed: int = 1, pcf: Path | None = None,
                     params: Mapping[str, int] | None = None, advice: str = FIT_ADVICE,
                     log: Callable[[str], None] | None = None, echo: Echo = None,
                     place_minutes: float = PLACE_MINUTES) -> FlowResult:
    """Synthesise, place, route and pack ``verilog`` (module ``top``) into ``work_dir/<top>.bin``.

    ``pcf`` pins the IOs (without it nextpnr places them); ``params`` are ``chparam`` overrides of the
    top level (e.g. its clock frequency). A design whose Yosys cells exceed ``device``, or that
    nextpnr cannot place (or not within ``place_minutes``), raises :class:`DoesNotFitError` with
    ``advice``; timing failure is reported in the result, not raised, as in the ECP5 flow.
    """
    sources = [verilog] if isinstance(verilog, str | os.PathLike) else list(verilog)
    if pcf is not None and not Path(pcf).is_file():
        raise ConfigError(f"pin constraints file not found: {pcf}")
    flow, rel = common.start(ICE40, sources, top, work_dir, freq_mhz, log=log, echo=echo)

    flow.say(f"yosys: synth_ice40 {top} for {device.name}")
    cells = common.synthesize(flow, verilog=rel, device=device.name, params=dict(params or {}))
    check_fits(cells, device, advice)
    pins = (["--pcf", os.path.relpath(Path(pcf).absolute(), flow.work)] if pcf
            else ["--pcf-allow-unconstrained"])
    flow.say(f"nextpnr: place and route on {device.name} {device.package} at {freq_mhz:g} MHz, seed {seed}")
    try:
        util, clocks = common.place_and_route(flow, [device.flag, "--package", device.package, *pins],
                                              freq_mhz, seed, device.name, advice,
                                              timeout_s=place_minutes * 60)
    except ToolTimeout:
        log_path = flow.logs["nextpnr"]
        cells = parse.parse_utilisation(log_path.read_text(errors="replace")).get("ICESTORM_LC")
        at = f" with {cells[0]} of {cells[1]} logic cells" if cells else ""
        raise DoesNotFitError(f"design does not fit {device.name}: nextpnr found no placement{at} within "
                              f"{place_minutes:g} min; {advice} (log: {log_path})") from None
    flow.say("icepack: packing the bitstream")
    bit = common.pack(flow)

    counts = {"lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
              "ff": sum(n for k, n in cells.items() if k.startswith("SB_DFF")),
              **{k: common.used(util, name) for k, name in (("dsp", "ICESTORM_DSP"), ("bram", "ICESTORM_RAM"),
                 ("io", "SB_IO"), ("comb", "ICESTORM_LC"))}}
    return common.finish(flow, device=device.name, package=device.package, seed=seed, freq_mhz=freq_mhz,
                         cells=cells, util=util, clocks=clocks, bit=bit, counts=counts)
