"""The README's "Your own model and data" examples run as written: the Python snippet, then the
model file and the two shell commands, in a fresh folder."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own model and data", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def _run(cmd: list[str], cwd: Path) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=dict(os.environ), timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    return p.stdout


def test_the_section_has_the_api_snippet_the_model_file_and_the_commands() -> None:
    snippet, model_file = _blocks("python")
    assert len(snippet.strip().splitlines()) <= 20
    assert model_file.startswith("# mymodel.py\n")
    assert [c.split()[:2] for c in _blocks("sh")[0].strip().splitlines()] == [
        ["zerogate", "compress"], ["zerogate", "build"]]


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    snippet, model_file = _blocks("python")
    out = _run([sys.executable, "-c", snippet], tmp_path)
    assert "RTL == golden" in out and "0 mismatches" in out
    assert (tmp_path / "build" / "wine-hw" / "report.md").is_file()
    (tmp_path / "mymodel.py").write_text(model_file)
    for line in _blocks("sh")[0].strip().splitlines():
        argv = shlex.split(line)
        _run([sys.executable, "-m", "zerogate", *argv[1:]], tmp_path)
    rep = json.loads((tmp_path / "build" / "mine-hw" / "report.json").read_text())
    assert rep["sim"]["matches"] == rep["sim"]["vectors"] == 89  # the wine test half
    assert rep["compress"]["method"] == "squantizer" and rep["golden"]["accuracy"] is not None
