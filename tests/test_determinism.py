"""Deterministic builds: the same IR and options give byte-identical outputs, whatever the process.

Generation runs in two separate processes with different ``PYTHONHASHSEED`` (set and dict order,
object ids) into two different folders; the ECP5 flow runs twice with the same nextpnr seed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_layer
from zerogate import ir
from zerogate.fixedpoint import FixedFormat
from zerogate.outdir import MARKER


def tiny_net() -> ir.Network:
    fin, fh, fo = FixedFormat(4, 3, False), FixedFormat(6, 3, False), FixedFormat(8, 3, True)
    return ir.Network(name="tiny", input=fin, in_features=8,
                      layers=(make_layer("fc0", 8, 4, fin, fh), make_layer("fc1", 4, 3, fh, fo, relu=False)))


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` but the output marker (which records
    when the folder was made, so it differs by design)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER}


def generate_in_process(ir_dir: Path, out: Path, hash_seed: str, *args: str) -> None:
    p = subprocess.run([sys.executable, "-m", "zerogate", "generate", str(ir_dir), "--out", str(out), *args],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize(("net", "style"), [
    ("dense", "unrolled"), ("dense", "folded"), ("dense", "dense-unrolled"), ("cnn", "folded"),
])
def test_generate_is_byte_identical_across_processes(tmp_path: Path, net: str, style: str,
                                                     cnn_net: ir.Network) -> None:
    ir.save(tiny_net() if net == "dense" else cnn_net, tmp_path / "ir")
    opts = ("--style", style, "--lanes", "2", "--in-lanes", "4", "--out-lanes", "2")
    generate_in_process(tmp_path / "ir", tmp_path / "a", "1", *opts)
    generate_in_process(tmp_path / "ir", tmp_path / "b", "2", *opts)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert set(a) == {"zerogate_top.v", "design.json"} and (tmp_path / "a" / MARKER).is_file()
    assert a == b


def test_ir_save_is_byte_identical(tmp_path: Path) -> None:
    ir.save(tiny_net(), tmp_path / "a")
    ir.save(ir.load(tmp_path / "a"), tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


@pytest.mark.slow
def test_ecp5_bitstream_and_bundle_are_byte_identical(tmp_path: Path) -> None:
    from hwgen.verilog import generate
    from zerogate.bundle import write_bundle
    from zerogate.flow import synthesize_ecp5

    design = generate(tiny_net(), tmp_path / "rtl", in_lanes=4, out_lanes=3)
    bits = [synthesize_ecp5(design.verilog_path, design.top_name, tmp_path / f"ecp5_{k}", seed=7).bitstream
            for k in range(2)]
    assert bits[0].read_bytes() == bits[1].read_bytes()
    bundles = [tree(write_bundle(design, tmp_path / f"bundle_{k}", network="tiny")) for k in range(2)]
    assert bundles[0] == bundles[1] and len(bundles[0]) > 10
