"""The Fmax harness: its buses are as wide as the accelerator's ports, and Yosys keeps every gate
of the accelerator behind it (a harness that let logic be optimised away would flatter Fmax)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hwgen.layers import parse_style
from hwgen.verilog import generate
from zerogate.errors import ToolError
from zerogate.flow.harness import port_width, write_harness
from zerogate.flow.tools import YOSYS, find_tool, run_tool
from zerogate.ir import Network


def _cells(tmp: Path, sources: list[Path], top: str) -> tuple[int, int]:
    """(cells, flip-flops) of ``top`` after a generic flattening synthesis, from Yosys's ``stat``."""
    script = tmp / f"{top}.ys"
    reads = "\n".join(f"read_verilog {p.name}" for p in sources)
    script.write_text(f"{reads}\nhierarchy -check -top {top}\nsynth -flatten -top {top}\n"
                      f"tee -o {top}.stat stat\n")
    run = run_tool(YOSYS, ["-q", "-s", script.name], cwd=tmp, log=tmp / f"{top}.log")
    assert run.returncode == 0, (tmp / f"{top}.log").read_text()[-2000:]
    text = (tmp / f"{top}.stat").read_text()
    ffs = sum(int(n) for n in re.findall(r"^\s*(\d+)\s+\$_\w*DFF\w*_", text, re.M))
    return int(re.search(r"(\d+)\s+cells", text).group(1)), ffs


@pytest.mark.parametrize("style", ["unrolled", "folded:2"])
def test_the_harness_keeps_the_whole_accelerator(tmp_path: Path, small_net: Network, style: str) -> None:
    find_tool(YOSYS)
    design = generate(small_net, tmp_path, style=parse_style(style))
    h = write_harness(tmp_path / "harness.v", design.verilog_path, design.top_name)
    text = h.verilog_path.read_text()
    acc = design.verilog_path.read_text()
    w_in = port_width(acc, design.top_name, "i__payload")
    assert w_in == design.in_lanes * design.in_bits and f"reg [{w_in - 1}:0] shift;" in text
    w_out = port_width(acc, design.top_name, "o__payload")
    assert h.ff == w_in + w_out + 3
    cells, ff = _cells(tmp_path, [design.verilog_path], design.top_name)
    cells_h, ff_h = _cells(tmp_path, [design.verilog_path, h.verilog_path], h.top)
    # every flip-flop of the accelerator survives (one whose value reached no output would be the
    # first thing Yosys removes), plus the harness's own; the logic may be restructured (ABC folds
    # a mux per output bit into the parity tree), but not lost wholesale
    assert ff > 0 and ff_h == ff + h.ff
    assert cells_h > cells


def test_a_missing_port_is_named(tmp_path: Path) -> None:
    v = tmp_path / "a.v"
    v.write_text("module acc(clk, i__payload);\n  input clk;\n  input [7:0] i__payload;\nendmodule\n")
    with pytest.raises(ToolError, match="port o__payload of module acc"):
        write_harness(tmp_path / "h.v", v, "acc")
    with pytest.raises(ToolError, match="module other not found"):
        write_harness(tmp_path / "h.v", v, "other")


@pytest.mark.slow
def test_cli_synth_inside_the_harness(tmp_path: Path, small_net: Network) -> None:
    """``zerogate synth --fmax-harness``: a few pins, and FF counts the accelerator's alone."""
    import subprocess
    import sys

    from zerogate.flow.ecp5 import yosys_counts
    from zerogate.flow.parse import parse_utilisation, parse_yosys_stat_json

    design = generate(small_net, tmp_path / "rtl")
    p = subprocess.run([sys.executable, "-m", "zerogate", "synth", "--rtl", "rtl", "--out", "out",
                        "--target", "ecp5", "--fmax-harness"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr
    m = re.search(r"ECP5 \(inside the Fmax harness; FF without its (\d+)\): LUT4 \d+  FF (\d+) .*"
                  r"Fmax ([\d.]+) MHz", p.stdout)
    assert m, p.stdout
    acc = design.verilog_path.read_text()
    own = port_width(acc, design.top_name, "i__payload") + port_width(acc, design.top_name, "o__payload") + 3
    total = yosys_counts(parse_yosys_stat_json((tmp_path / "out" / "yosys_stat.json").read_text()))["ff"]
    assert int(m.group(1)) == own and int(m.group(2)) == total - own
    util = parse_utilisation((tmp_path / "out" / "nextpnr.log").read_text())
    # clk, rst, serial in, i_valid, o_ready in; i_ready, o_valid, signature out
    assert util["TRELLIS_IO"][0] <= 8
