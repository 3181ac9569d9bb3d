"""Verilog -> ECP5 bitstream with Yosys, nextpnr-ecp5 and ecppack, driven from Python."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zerogate.errors import ConfigError, ToolTimeout
from zerogate.flow import common
from zerogate.flow.common import DoesNotFitError, Echo, FlowResult
from zerogate.flow.tools import ECPPACK, NEXTPNR_ECP5

__all__ = ["CELLS", "ECP5", "DoesNotFitError", "FlowResult", "nextpnr_device_flag", "synthesize_ecp5",
           "synthesize_only_ecp5",
           "yosys_counts"]

_DEVICE = re.compile(r"^LFE5(?P<family>U|UM|UM5G)-(?P<size>12|25|45|85)F$")
_FAMILY_FLAG = {"U": "", "UM": "um-", "UM5G": "um5g-"}

ECP5 = common.Family("ecp5", NEXTPNR_ECP5, ECPPACK, ".config", "--textcfg", ".bit")

#: Headline count -> ECP5 primitive. The first three are always Yosys's (nextpnr unpacks them);
#: the others are nextpnr's post-pack use after a full run, Yosys's when the part is too small.
CELLS = {"lut4": "LUT4", "carry": "CCU2C", "lutram": "TRELLIS_DPR16X4", "ff": "TRELLIS_FF",
         "dsp": "MULT18X18D", "bram": "DP16KD"}
_YOSYS_ONLY = ("lut4", "carry", "lutram")


def yosys_counts(cells: dict[str, int]) -> dict[str, int]:
    """Every headline count from Yosys's cell table alone (a design nextpnr refused)."""
    return {k: cells.get(name, 0) for k, name in CELLS.items()}


def nextpnr_device_flag(device: str) -> str:
    """nextpnr-ecp5's flag for a Lattice part name: ``LFE5UM5G-45F`` -> ``--um5g-45k``."""
    m = _DEVICE.match(device.strip().upper())
    if m is None or (m["family"] != "U" and m["size"] == "12"):
        raise ConfigError(f"unknown ECP5 device {device!r}: use LFE5U-12F/25F/45F/85F, "
                          f"LFE5UM-25F/45F/85F or LFE5UM5G-25F/45F/85F")
    return f"--{_FAMILY_FLAG[m['family']]}{m['size']}k"


def synthesize_ecp5(verilog: Path | list[Path], top: str, work_dir: Path, *, device: str = "LFE5U-85F",
                    package: str = "CABGA381", freq_mhz: float = 100.0, seed: int = 1,
                    router: str = "router1", log: Callable[[str], None] | None = None, echo: Echo = None,
                    pnr_timeout_s: float | None = None,
                    retries: Sequence[tuple[int, str]] = (), noflatten: bool = False) -> FlowResult:
    """Synthesise, place, route and pack ``verilog`` (module ``top``) into ``work_dir/<top>.bit``.

    Timing failure is not an error (``timing_met`` says so and the bitstream is still written), so a
    slow design can be measured; a design that does not fit raises :class:`DoesNotFitError`. A fixed
    ``seed`` gives a byte-identical bitstream for the same Verilog. IO pins are left unconstrained
    (nextpnr places them), which is enough for resource figures but not for a board; for Fmax see
    :mod:`zerogate.flow.harness`. ``echo`` receives the tools' output lines as they run
    (``--verbose``); ``pnr_timeout_s`` caps nextpnr (a benchmark's limit:
    :class:`~zerogate.errors.ToolTimeout`). nextpnr's router1 can circle for good on a congested
    design and router2 or another seed then finish in minutes, so a run stopped at the limit is
    retried with each ``(seed, router)`` of ``retries`` in turn (on the same netlist);
    ``FlowResult.seed``/``router`` say which run the figures come from, and the last timeout is
    raised when none finishes. ``noflatten`` runs ``synth_ecp5 -noflatten`` (each module mapped on
    its own: a peer generator's adder modules stay carry chains). A design HeAP's legaliser gives
    up on is placed again with the static placer (``common.FALLBACK_PLACER``; ``FlowResult.placer``
    says so) before it is called too big: near a full part the static placer can still legalise it.
    """
    flag = nextpnr_device_flag(device)
    device = device.strip().upper()
    sources_in = list(verilog) if isinstance(verilog, list) else [verilog]
    flow, sources = common.start(ECP5, sources_in, top, work_dir, freq_mhz, log=log, echo=echo)

    flow.say(f"yosys: synth_ecp5 {top} for {device}")
    cells = common.synthesize(flow, verilog=sources, device=device, noflatten=noflatten)
    tries = iter(retries)
    while True:
        flow.say(f"nextpnr: place and route on {device} {package} at {freq_mhz:g} MHz, seed {seed}, {router}")
        try:
            util, clocks = common.place_and_route(flow, [flag, "--package", package, "--router", router],
                                                  freq_mhz, seed, f"{device} {package}",
                                                  timeout_s=pnr_timeout_s,
                                                  fallback_placer=common.FALLBACK_PLACER)
            break
        except ToolTimeout:
            stuck, (seed, router) = (seed, router), next(tries, (None, router))
            if seed is None:
                raise
            flow.say(f"nextpnr: seed {stuck[0]}, {stuck[1]} still routing after {pnr_timeout_s:g} s; "
                     f"seed {seed}, {router} next")
    flow.say("ecppack: packing the bitstream")
    bit = common.pack(flow)

    counts = {**{k: cells.get(CELLS[k], 0) for k in _YOSYS_ONLY},
              **{k: common.used(util, name) for k, name in CELLS.items() if k not in _YOSYS_ONLY},
              "io": common.used(util, "TRELLIS_IO"), "comb": common.used(util, "TRELLIS_COMB")}
    res = common.finish(flow, device=device, package=package, seed=seed, freq_mhz=freq_mhz, cells=cells,
                        util=util, clocks=clocks, bit=bit, counts=counts)
    return dataclasses.replace(res, router=router, placer=flow.placer)


def synthesize_only_ecp5(verilog: list[Path], top: str, work_dir: Path, *, device: str = "LFE5U-85F",
                         noflatten: bool = False) -> dict[str, int]:
    """Yosys ``synth_ecp5`` alone (no placement): the cell counts of ``stat -json``, by type.

    Seconds instead of minutes, for comparing netlists where Fmax is not asked for."""
    nextpnr_device_flag(device)  # a bad part name is refused before synthesis
    flow, sources = common.start(ECP5, list(verilog), top, work_dir, 100.0, log=None, echo=None)
    return common.synthesize(flow, verilog=sources, device=device.strip().upper(), noflatten=noflatten)


def _render_synth_script(**values: Any) -> str:
    return common.render_script("ecp5", **values)
