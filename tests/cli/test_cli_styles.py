"""Engine styles from the command line: ``--style``, ``--lanes`` and per-layer ``--layer-style``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zerogate import ir
from zerogate.ir import Network


def _zerogate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zerogate", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


@pytest.mark.slow
def test_folded_cnn_with_a_per_layer_override_is_bit_exact(tmp_path: Path, cnn_net: Network) -> None:
    ir.save(cnn_net, tmp_path / "ir")
    styles = ("--style", "folded", "--lanes", "3", "--layer-style", "4=unrolled",
              "--layer-style", "2=dense-folded:2")
    p = _zerogate("generate", "ir", "--out", "rtl", *styles, "--no-balance", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    full = json.loads((tmp_path / "rtl" / "design.json").read_text())
    picked = [(ly["style"], ly["lanes"]) for ly in full["layers"] if ly["name"] in ("conv0", "conv1", "fc")]
    assert picked == [("folded", 3), ("dense-folded", 2), ("unrolled", 1)]
    # balanced (the default): the same throughput, fewer lanes than asked (no layer here splits badly)
    p = _zerogate("generate", "ir", "--out", "rtl-balanced", *styles, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    bal = json.loads((tmp_path / "rtl-balanced" / "design.json").read_text())
    assert bal["ii"] == full["ii"]
    assert all(b["lanes"] <= f["lanes"] for b, f in zip(bal["layers"], full["layers"], strict=True))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 32, (12, 64)))
    p = _zerogate("simulate", "ir", "--rtl", "rtl", "--vectors", "x.npz", "--out", "sim", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "12 of 12 vectors, 0 mismatches" in p.stdout


@pytest.mark.parametrize("args, message", [
    (("--style", "sideways"), "unknown layer style 'sideways'"),
    (("--lanes", "0", "--style", "folded"), "lanes=0 is out of range"),
    (("--layer-style", "9=folded"), "the network has only 5 layers"),
    (("--layer-style", "folded"), "is not INDEX=STYLE[:LANES]"),
])
def test_bad_style_options_are_one_line_errors(tmp_path: Path, cnn_net: Network, args: tuple,
                                               message: str) -> None:
    ir.save(cnn_net, tmp_path / "ir")
    p = _zerogate("generate", "ir", "--out", "rtl", *args, cwd=tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "rtl").exists()
