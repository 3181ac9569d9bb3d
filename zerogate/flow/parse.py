"""Parsers for what Yosys and nextpnr (ecp5, ice40) actually print.

Kept apart from the runner so they can be tested on captured output without running any tool.
Formats were taken from Yosys 0.70 and nextpnr-0.11.1 (YoWASP builds); see tests/flow for samples.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# "Info: Max frequency for clock '$glbnet$clk': 326.05 MHz (PASS at 100.00 MHz)"; the prefix is
# "Warning:" or "ERROR:" when timing fails, so it is not anchored.
_FMAX = re.compile(
    r"Max frequency for clock '(?P<clock>[^']*)': (?P<fmax>[0-9.]+) MHz "
    r"\((?P<status>PASS|FAIL) at (?P<target>[0-9.]+) MHz\)"
)
# "Info: \t          TRELLIS_IO:      34/    365     9%"
_UTIL_ROW = re.compile(r"^(?:Info:)?\s*(?P<name>\w+):\s+(?P<used>\d+)/\s*(?P<avail>\d+)\s+\d+%\s*$")
_UTIL_HEADER = "Device utilisation:"
_NO_BELS = re.compile(r"no BELs remaining to implement cell type '(?P<type>[^']+)'")
_AT_LIMIT = "design is probably at utilisation limit"
# HeAP's legaliser giving up on one cell: near a full part (digits-cnn 8-bit 0 % unrolled, 81 % of
# the 85F's LUT cells, after some 20 min), or with impossible constraints.
_NO_LEGAL = re.compile(r"Unable to find legal placement for cell '[^']+' of type '(?P<type>[^']+)' after")
_ERROR = re.compile(r"\bERROR\b|\b[Ee]rror:")
_SUMMARY = re.compile(r"^\d+ warnings?, \d+ errors?$")
_NOISE = ("Preparing to run ",)

# What each nextpnr cell type means to someone sizing a design.
FRIENDLY = {
    "TRELLIS_COMB": "LUT4",
    "TRELLIS_FF": "FF",
    "TRELLIS_IO": "IO pins",
    "MULT18X18D": "DSP",
    "DP16KD": "BRAM",
    "TRELLIS_RAMW": "distributed RAM",
    "ICESTORM_LC": "LUTs",
    "ICESTORM_RAM": "EBR",
    "ICESTORM_DSP": "DSP",
    "ICESTORM_SPRAM": "SPRAM",
    "SB_IO": "IO pins",
}


@dataclass(frozen=True)
class ClockTiming:
    """nextpnr's verdict for one clock: achieved Fmax against the requested frequency."""

    fmax_mhz: float
    constraint_mhz: float
    met: bool


def parse_clock_timing(text: str) -> dict[str, ClockTiming]:
    """Per-clock timing from a nextpnr log.

    nextpnr prints the line after placement and again after routing; only the last one per clock is
    the real (post-route) figure, so later lines overwrite earlier ones.
    """
    clocks: dict[str, ClockTiming] = {}
    for m in _FMAX.finditer(text):
        clocks[m["clock"]] = ClockTiming(float(m["fmax"]), float(m["target"]), m["status"] == "PASS")
    return clocks


def parse_utilisation(text: str) -> dict[str, tuple[int, int]]:
    """The post-pack "Device utilisation" block of a nextpnr log: cell type -> (used, available).

    If the block appears more than once the last one wins. Empty if there is none.
    """
    table: dict[str, tuple[int, int]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith(_UTIL_HEADER):
            continue
        table = {}
        for row in lines[i + 1:]:
            m = _UTIL_ROW.match(row)
            if not m:
                break
            table[m["name"]] = (int(m["used"]), int(m["avail"]))
    return table


def parse_nextpnr_report(text: str) -> tuple[dict[str, tuple[int, int]], dict[str, ClockTiming]]:
    """Utilisation and timing from nextpnr's ``--report`` JSON (a fallback if the log format changes)."""
    data: dict[str, Any] = json.loads(text)
    util = {k: (int(v["used"]), int(v["available"])) for k, v in data.get("utilization", {}).items()}
    clocks = {
        k: ClockTiming(round(float(v["achieved"]), 2), float(v["constraint"]),
                       float(v["achieved"]) >= float(v["constraint"]))
        for k, v in data.get("fmax", {}).items()
    }
    return util, clocks


def parse_yosys_stat_json(text: str) -> dict[str, int]:
    """Cell counts by type from ``stat -json``, for the whole (flattened) design."""
    data: dict[str, Any] = json.loads(text)
    design = data.get("design")
    if design is not None:
        return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    cells: dict[str, int] = {}
    for mod in data.get("modules", {}).values():
        for k, v in mod.get("num_cells_by_type", {}).items():
            cells[k] = cells.get(k, 0) + int(v)
    return cells


def over_capacity(util: dict[str, tuple[int, int]]) -> list[tuple[str, int, int]]:
    """Cell types whose demand exceeds what the device has, as (type, used, available)."""
    return [(name, used, avail) for name, (used, avail) in util.items() if used > avail]


def does_not_fit_reason(text: str) -> str | None:
    """Why nextpnr could not fit the design ("needs 301 of 197 TRELLIS_IO (IO pins)"), or None.

    The utilisation table gives the numbers; the placer's error is a fallback when the table is
    within limits but placement still ran out of sites.
    """
    over = over_capacity(parse_utilisation(text))
    if over:
        return ", ".join(
            f"needs {used} of {avail} {name}" + (f" ({FRIENDLY[name]})" if name in FRIENDLY else "")
            for name, used, avail in over
        )
    m = _NO_BELS.search(text)
    if m:
        return f"no sites left for {m['type']} cells"
    if _AT_LIMIT in text:
        return "placement failed at the utilisation limit"
    m = _NO_LEGAL.search(text)
    if m:
        used = parse_utilisation(text).get(m["type"])
        share = f", {used[0]} of {used[1]} in use" if used else ""
        return f"the placer found no legal site for a {m['type']} cell{share}"
    return None


def heap_gave_up(text: str) -> bool:
    """Whether nextpnr stopped because HeAP's legaliser found no site for a cell: the part may still
    hold the design, placed another way (see ``common.place_and_route``)."""
    return bool(_NO_LEGAL.search(text))


_PLACERS = re.compile(r"--placer arg.*?available:(?P<names>[\s\w,]+)[;.]", re.S)


def placers(help_text: str) -> set[str]:
    """The placer algorithms a nextpnr build offers, from its ``--help`` ("available: sa, heap, static;")."""
    m = _PLACERS.search(help_text)
    return {n.strip() for n in m["names"].split(",") if n.strip()} if m else set()


def last_error_line(text: str) -> str:
    """The line of a tool's output that best says what went wrong, for a one-line error message.

    The last line mentioning an error wins; otherwise the last line that is not runtime noise or a
    "0 warnings, 1 error" summary.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(_NOISE) and not _SUMMARY.match(ln)]
    for ln in reversed(lines):
        if _ERROR.search(ln):
            return _clip(ln)
    return _clip(lines[-1]) if lines else "no output"


def _clip(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."
