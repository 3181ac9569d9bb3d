"""The CLI end to end on the embedded default: real training, real Verilator, every vector."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _zerogate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "zerogate", *args], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ), timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    return p


@pytest.mark.slow
def test_build_without_synth_matches_on_whole_test_split(tmp_path: Path) -> None:
    _zerogate("build", "--no-synth", "--out", "b", cwd=tmp_path)
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    n = rep["golden"]["vectors"]
    assert n == 450  # the whole digits test split
    assert rep["sim"]["matches"] == rep["sim"]["vectors"] == n
    good, total = rep["compress"]["torch_vs_golden_outputs"]
    assert good == total > 0
    assert rep["memory"]["sparsity"] >= 0.80 and rep["memory"]["max_weight_bits"] <= 8
    assert rep["compress"]["float_accuracy"] - rep["golden"]["accuracy"] <= 0.02
    assert rep["compress"]["method"] == "taylor" and rep["compress"]["params"]["sparsity"] == 0.85
    assert "| compressed by | taylor on digits-mlp (" in (tmp_path / "b" / "report.md").read_text()
    assert rep["sim"]["cycles_per_inference"] == rep["rtl"]["ii_cycles"]
    assert (tmp_path / "b" / "report.md").read_text().count(f"{n} of {n} vectors") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no work folders left behind


@pytest.mark.slow
def test_step_by_step_commands(tmp_path: Path) -> None:
    _zerogate("compress", "--out", "c", "--sparsity", "0.9", "--weight-bits", "4", cwd=tmp_path)
    _zerogate("generate", "c/ir", "--out", "rtl", "--in-lanes", "16", cwd=tmp_path)
    with np.load(tmp_path / "c" / "testset.npz") as z:
        np.savez(tmp_path / "few.npz", x=z["x"][:40])
    p = _zerogate("simulate", "c/ir", "--rtl", "rtl", "--vectors", "few.npz", "--out", "s", cwd=tmp_path)
    assert "40 of 40 vectors, 0 mismatches" in p.stdout
