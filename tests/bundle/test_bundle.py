"""The hand-off bundle: every template renders, the Verilog is -Wall clean, the files agree with each
other, and the bundle's own Makefile rebuilds the bitstreams in a clean copy of the folder."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from netgen import random_layer, random_network

from hwgen.verilog import GeneratedDesign, generate
from sim.tools import find_verilator
from zerogate.bundle import AXIS_TOP, UART_TOP, build_bitstreams, rtl_context, write_bundle
from zerogate.errors import ConfigError
from zerogate.fixedpoint import FixedFormat
from zerogate.host import UartProtocol, design_id
from zerogate.ir import Network


def _single_output_net() -> Network:
    """One 9-bit signed output: a one-byte padded output buffer and two-byte wire elements."""
    fin = FixedFormat(4, 2, False)
    ly = random_layer(np.random.default_rng(7), "fc0", 5, 1, fin, relu=False, out_bits=9)
    return Network(name="one", input=fin, in_features=5, layers=(ly,))


# (network, in_lanes, out_lanes): several beats, one beat each way, 2-byte inputs, 2-byte outputs
DESIGNS = {
    "beats": (lambda: random_network(1, (8, 4, 3)), 4, 2),
    "one_beat_signed_in": (lambda: random_network(5, (6, 5, 4), in_format=FixedFormat(10, 3, True)), 6, 4),
    "one_output": (_single_output_net, 2, 1),
}


def _design(tmp_path: Path, key: str) -> GeneratedDesign:
    make_net, in_lanes, out_lanes = DESIGNS[key]
    return generate(make_net(), tmp_path / "rtl", in_lanes=in_lanes, out_lanes=out_lanes)


def _lint(bundle: Path, top: str, files: list[str]) -> None:
    p = subprocess.run([str(find_verilator()), "--lint-only", "-Wall", "--top-module", top,
                        "scripts/verilator.vlt", *files], cwd=bundle, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "%Warning" not in p.stderr


@pytest.mark.parametrize("key", sorted(DESIGNS))
def test_rendered_verilog_is_lint_clean(tmp_path: Path, key: str) -> None:
    design = _design(tmp_path, key)
    b = write_bundle(design, tmp_path / "bundle", network=key)
    acc = f"rtl/{design.verilog_path.name}"
    _lint(b, UART_TOP, [acc, "rtl/zerogate_uart_rx.v", "rtl/zerogate_uart_tx.v", f"rtl/{UART_TOP}.v"])
    _lint(b, AXIS_TOP, [acc, f"rtl/{AXIS_TOP}.v"])


def test_bundle_files_agree(tmp_path: Path) -> None:
    design = _design(tmp_path, "beats")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    b = write_bundle(design, tmp_path / "bundle", network="rand", name="rand-mlp", reports=[report])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "report.md", "rtl"]  # no work folders

    core_text = (b / "rand-mlp.core").read_text()
    assert core_text.startswith("CAPI=2:\n")
    core = yaml.safe_load(core_text)
    listed = [f for fs in core["filesets"].values() for f in fs["files"]]
    assert {f"rtl/{n}" for n in ("zerogate_top.v", "zerogate_uart_rx.v", "zerogate_uart_tx.v",
                                 f"{UART_TOP}.v", f"{AXIS_TOP}.v")} <= set(listed)
    for f in listed:
        assert (b / f).is_file(), f
    assert core["targets"]["default"]["toplevel"] == AXIS_TOP
    assert {core["targets"][t]["toplevel"] for t in ("ulx3s", "icebreaker", "arty")} == {UART_TOP}

    lpf = (b / "constraints/ulx3s.lpf").read_text()
    assert "ULX3S" in lpf and 'SITE "G2"' in lpf and 'SITE "L4"' in lpf and 'SITE "M1"' in lpf
    pcf = (b / "constraints/icebreaker.pcf").read_text()
    assert "iCEBreaker" in pcf and "clk 35" in pcf and "uart_rx 6" in pcf and "uart_tx 9" in pcf
    xdc = (b / "constraints/arty_a7_35t.xdc").read_text()
    assert "Arty A7-35T" in xdc and "PACKAGE_PIN E3" in xdc and "-period 10.000" in xdc
    tcl = (b / "scripts/vivado_arty.tcl").read_text()
    assert "synth_design -top zerogate_uart_top -part xc7a35ticsg324-1L -generic CLK_HZ=100000000" in tcl
    for script in ("scripts/synth_ecp5.ys", "scripts/synth_ice40.ys", "scripts/vivado_arty.tcl"):
        for word in (b / script).read_text().split():
            if word.startswith("rtl/") or word.startswith("constraints/"):
                assert (b / word.rstrip("]")).is_file(), (script, word)
    assert "chparam -set CLK_HZ 25000000" in (b / "scripts/synth_ecp5.ys").read_text()
    assert "chparam -set CLK_HZ 12000000" in (b / "scripts/synth_ice40.ys").read_text()

    proto = UartProtocol.load(b)
    assert proto == UartProtocol.from_design(design)
    # one identity everywhere: the accelerator's Verilog, protocol.json, the board top, the README
    assert proto.design_id == design_id(b / "rtl" / design.verilog_path.name)
    assert proto.design_id == design_id(design.verilog_path)
    top = (b / f"rtl/{UART_TOP}.v").read_text()
    assert f"localparam [31:0] DESIGN_ID = 32'h{proto.design_id:08X};" in top
    assert f"`{proto.design_hex}`" in (b / "README.md").read_text()
    assert UartProtocol.load(b / "rtl") == proto  # from design.json and the Verilog beside it
    assert (b / "reports/report.md").read_text() == "# report\n"
    assert "make ice40" in (b / "README.md").read_text()
    # rendering is deterministic
    again = write_bundle(design, tmp_path / "again", network="rand", name="rand-mlp", reports=[report])
    for f in (p for p in b.rglob("*") if p.is_file()):
        assert (again / f.relative_to(b)).read_bytes() == f.read_bytes(), f


def test_too_fast_a_baud_rate_is_a_config_error(tmp_path: Path) -> None:
    design = _design(tmp_path, "beats")
    with pytest.raises(ConfigError, match="lower the baud rate"):
        rtl_context(design, clk_hz=12_000_000, baud=4_000_000)


@pytest.mark.slow
def test_makefile_rebuilds_the_bitstreams_in_a_clean_copy(tmp_path: Path) -> None:
    design = _design(tmp_path, "beats")
    b = write_bundle(design, tmp_path / "bundle", network="rand")
    res = build_bitstreams(b, ("ecp5", "ice40"))
    assert {k: r.status for k, r in res.items()} == {"ecp5": "built", "ice40": "built"}
    shipped = b / "bitstreams" / "zerogate_ulx3s.bit"
    assert shipped.stat().st_size > 0 and (b / "bitstreams" / "zerogate_icebreaker.bin").stat().st_size > 0
    assert res["ecp5"].fmax_mhz is not None and res["ecp5"].fmax_mhz >= 25
    assert res["ecp5"].utilisation["TRELLIS_IO"][0] == 3  # clk, uart_rx, uart_tx: on the LPF's pins
    assert "constrained to Bel" in (b / "reports/ecp5/nextpnr.log").read_text()
    assert not (b / "build").exists()

    clean = tmp_path / "copy"
    shutil.copytree(b, clean)
    shutil.rmtree(clean / "bitstreams")
    # plain `make`, as a user would type it, with the YoWASP tools of this environment on PATH
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    p = subprocess.run(["make"], cwd=clean, env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    rebuilt = clean / "build" / "ecp5" / "zerogate_ulx3s.bit"
    assert rebuilt.read_bytes() == shipped.read_bytes()  # same sources, same seed: same bitstream


@pytest.mark.slow
def test_a_design_that_does_not_fit_leaves_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report path for a failed place-and-route, with nextpnr replaced by a script that prints
    the utilisation table nextpnr-ice40 prints for an oversized design (Yosys still runs for real)."""
    fake = tmp_path / "fake-nextpnr"
    fake.write_text("#!/bin/sh\necho 'Info: Device utilisation:'\n"
                    "echo 'Info: \t   ICESTORM_LC:  6100/  5280   115%'\n"
                    "echo 'ERROR: Unable to place cell, no BELs remaining'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setitem(os.environ, "ZEROGATE_NEXTPNR_ICE40", str(fake))
    b = write_bundle(_design(tmp_path, "beats"), tmp_path / "bundle", network="rand")
    res = build_bitstreams(b, ("ice40",))["ice40"]
    assert res.status == "does-not-fit" and res.bitstream is None
    assert "needs 6100 of 5280 ICESTORM_LC" in res.reason
    note = (b / "bitstreams" / "icebreaker.NOT-BUILT.txt").read_text()
    assert "iCEBreaker" in note and "6100 of 5280" in note
    assert not any(b.joinpath("bitstreams").glob("*.bin"))


@pytest.mark.slow
def test_build_writes_the_bundle_with_the_report(tmp_path: Path) -> None:
    """``zerogate build`` (here without synthesis) leaves a bundle holding the build's report."""
    from compress.methods import run_method
    from zerogate import ir
    from zerogate.build import BuildOptions, build

    few_epochs = {"prune_steps": 2, "finetune_epochs": 2, "qat_epochs": 2}
    ir.save(run_method("taylor", "digits-mlp", few_epochs).net, tmp_path / "ir")
    data = build(BuildOptions(out=tmp_path / "digits", ir_path=tmp_path / "ir", synth=False))
    b = tmp_path / "digits" / "bundle"
    assert data["bundle"] == {"path": "bundle", "bitstreams": {}}
    assert (b / "digits.core").is_file() and (b / "rtl" / f"{UART_TOP}.v").is_file()
    assert (b / "reports" / "report.md").read_text() == (tmp_path / "digits" / "report.md").read_text()
    assert UartProtocol.load(b).in_features == 64
