"""The iCE40 flow on tiny designs: a bitstream, and both does-not-fit paths (Yosys pre-check, nextpnr)."""

from pathlib import Path

import pytest

from hwgen.verilog import generate
from zerogate import cli
from zerogate.flow import UP5K, DoesNotFitError, Ice40Device, ice40, synthesize_ice40
from zerogate.flow.ice40 import check_fits, demand
from zerogate.ir import Network

# A multiply-accumulate: Yosys maps all of it, accumulator included, into one SB_MAC16.
MAC = """\
module top(input clk, input rst, input [7:0] a, input [7:0] b, output reg [15:0] q);
  always @(posedge clk) q <= rst ? 16'd0 : q + a * b;
endmodule
"""

# 61 IOs: more than the 39 of the UP5K's sg48 package; only nextpnr sees that.
WIDE_IO = """\
module top(input clk, input [29:0] a, output reg [29:0] q);
  always @(posedge clk) q <= a;
endmodule
"""


def _src(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "src" / "top.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.slow
def test_mac_builds_a_bin(tmp_path: Path) -> None:
    res = synthesize_ice40(_src(tmp_path, MAC), "top", tmp_path / "work", freq_mhz=12)
    assert res.bitstream.name == "top.bin" and res.bitstream.stat().st_size > 100_000
    assert res.bitstream.read_bytes()[:4] == b"\xff\x00\x00\xff"  # icepack's preamble
    assert not (tmp_path / "work" / "top.bin.partial").exists()
    assert res.family == "ice40" and res.device == "iCE40 UP5K" and res.package == "sg48"
    assert (res.lut4, res.ff, res.dsp, res.bram, res.io) == (0, 0, 1, 0, 34)
    assert res.yosys_cells == {"SB_MAC16": 1} and res.utilisation["ICESTORM_DSP"] == (1, 8)
    assert res.utilisation["ICESTORM_LC"] == (res.comb, 5280)
    assert res.fmax_mhz is None and res.timing_met  # the registers are inside the SB_MAC16: nothing to time
    assert set(res.elapsed_s) == {"yosys", "nextpnr", "icepack"}
    assert all(p.is_file() for p in res.logs.values())


@pytest.mark.slow
def test_precheck_refuses_before_place_and_route(tmp_path: Path) -> None:
    tiny = Ice40Device(dsp=0)
    with pytest.raises(DoesNotFitError, match=r"^design does not fit iCE40 UP5K: needs 1 of 0 DSP; try "
                                              r"--style folded --single-buffer, a higher sparsity or the "
                                              r"ECP5 target$"):
        synthesize_ice40(_src(tmp_path, MAC), "top", tmp_path / "work", device=tiny)
    assert (tmp_path / "work" / "yosys_stat.json").is_file()
    assert not (tmp_path / "work" / "nextpnr.log").exists() and not (tmp_path / "work" / "top.bin").exists()


@pytest.mark.slow
def test_nextpnr_placement_failure_is_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(DoesNotFitError, match=r"^design does not fit iCE40 UP5K: needs 61 of 39 SB_IO "
                                              r"\(IO pins\); .*nextpnr\.log\)$") as e:
        synthesize_ice40(_src(tmp_path, WIDE_IO), "top", tmp_path / "work")
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_a_placement_past_its_time_cap_is_does_not_fit(tmp_path: Path) -> None:
    """A part so full that nextpnr searches on is reported as not fitting, not left to hang the build."""
    with pytest.raises(DoesNotFitError, match=r"^design does not fit iCE40 UP5K: nextpnr found no placement"
                                              r".* within 0\.001 min; .*nextpnr\.log\)$") as e:
        synthesize_ice40(_src(tmp_path, MAC), "top", tmp_path / "work", place_minutes=0.001)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "work" / "top.bin").exists()


def test_demand_counts_every_flip_flop_kind() -> None:
    cells = {"SB_LUT4": 7312, "SB_DFF": 3, "SB_DFFER": 4, "SB_CARRY": 9, "SB_MAC16": 9}
    assert demand(cells, UP5K)[:2] == [("LUTs", 7312, 5280), ("FFs", 7, 5280)]
    with pytest.raises(DoesNotFitError, match="needs 7312 of 5280 LUTs, 9 of 8 DSP;"):
        check_fits(cells)
    check_fits({"SB_LUT4": 5280, "SB_RAM40_4K": 30})


@pytest.fixture
def rtl(small_net: Network, tmp_path: Path) -> Path:
    generate(small_net, tmp_path / "rtl", in_lanes=5, out_lanes=2)
    return tmp_path / "rtl"


def _synth(rtl: Path, out: Path, *extra: str) -> list[str]:
    return ["synth", "--rtl", str(rtl), "--out", str(out), "--target", "ice40", *extra]


@pytest.mark.slow
def test_cli_synth_ice40_is_quiet_unless_verbose(rtl: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(_synth(rtl, tmp_path / "quiet")) == 0
    out, err = capsys.readouterr()
    assert out.startswith("iCE40 UP5K (board top): LC ") and out.rstrip().endswith("zerogate_uart_top.bin")
    assert err == ""  # the tools' output went to the logs only
    assert "Info: Max frequency for clock" in (tmp_path / "quiet" / "ice40" / "nextpnr.log").read_text()

    monkeypatch.setattr(ice40, "UP5K", Ice40Device(lut4=20))  # stop after Yosys: a quick verbose run
    assert cli.main(_synth(rtl, tmp_path / "loud", "--verbose")) == 3
    err = capsys.readouterr().err
    assert "Executing SYNTH_ICE40 pass" in err  # Yosys, live (YoWASP's console stops at ABC)
    assert err.rstrip().splitlines()[-1].startswith("zerogate: error: design does not fit iCE40 UP5K")


@pytest.mark.slow
def test_cli_does_not_fit_is_one_line(rtl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ice40, "UP5K", Ice40Device(lut4=20))
    assert cli.main(_synth(rtl, tmp_path / "out")) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("zerogate: error: design does not fit iCE40 UP5K: needs ")
    assert err.rstrip().endswith(" of 20 LUTs; try --style folded --single-buffer, a higher sparsity or the "
                                 "ECP5 target")


def test_cli_rejects_an_unknown_target(rtl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["synth", "--rtl", str(rtl), "--out", str(tmp_path / "o"), "--target", "ecp5,gowin"]) == 2
    assert "choose from ecp5, ice40" in capsys.readouterr().err
