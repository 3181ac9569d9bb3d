"""``zerogate compress --config FILE``: a tiny method-2 run end to end, reproducible by seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zerogate import ir
from zerogate.cli import main

TINY = """
[run]
model = "digits-mlp"
method = "mixed"
seed = 1

[method]
lambda = 3.0
search_epochs = 2
finetune_epochs = 1
"""


def _config(tmp_path: Path, text: str = TINY) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return p


def test_config_run_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    assert main(["compress", "--config", str(cfg), "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "mixed" in out and "digits-mlp" in out
    assert main(["compress", "--config", str(cfg), "--seed", "5", "--out", str(tmp_path / "b")]) == 0
    a, b = tmp_path / "a" / "ir", tmp_path / "b" / "ir"
    assert (a / ir.WEIGHTS).read_bytes() == (b / ir.WEIGHTS).read_bytes()
    assert (a / ir.MANIFEST).read_bytes() == (b / ir.MANIFEST).read_bytes()
    net = ir.load(a)
    assert net.metadata["method"] == "mixed" and net.metadata["seed"] == 5
    assert (tmp_path / "a" / "testset.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "tiny.toml"]  # nothing half-written


@pytest.mark.parametrize(("edit", "needle"), [
    (("lambda = 3.0", "lambda = -1.0"), "λ must be >= 0"),
    (('"mixed"', '"nope"'), "unknown method 'nope'"),
    (("[method]", "[method]\nprecisions = [0, 9]"), "9 bits is out of range"),
])
def test_config_errors_one_line(tmp_path: Path, edit: tuple[str, str], needle: str) -> None:
    cfg = _config(tmp_path, TINY.replace(*edit))
    p = subprocess.run([sys.executable, "-m", "zerogate", "compress", "--config", str(cfg), "--out", "o"],
                       cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    errs = [ln for ln in p.stderr.splitlines() if "error:" in ln]
    assert len(errs) == 1 and needle in errs[0] and str(cfg) in errs[0], p.stderr
    assert not (tmp_path / "o").exists()


def test_missing_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compress", "--config", str(_config(tmp_path))]) == 2
    assert "--out" in capsys.readouterr().err
