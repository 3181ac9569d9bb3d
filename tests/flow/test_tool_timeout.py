"""A tool run with a time limit is stopped there and says so (the hardware benchmark caps nextpnr
with it), with or without its output echoed; one that finishes in time is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from zerogate.errors import ToolTimeout
from zerogate.flow.tools import Tool, run_tool

SLEEP = Tool("sleep", "ZEROGATE_TEST_SLEEP", "coreutils")


@pytest.mark.parametrize("echo", [False, True])
def test_a_tool_past_its_limit_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          echo: bool) -> None:
    monkeypatch.setenv(SLEEP.env_var, "sleep")
    lines: list[str] = []
    with pytest.raises(ToolTimeout, match="sleep did not finish within"):
        run_tool(SLEEP, ["30"], cwd=tmp_path, log=tmp_path / "log", timeout_s=0.5,
                 echo=lines.append if echo else None)


def test_a_tool_within_its_limit_runs_normally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLEEP.env_var, "sleep")
    run = run_tool(SLEEP, ["0"], cwd=tmp_path, log=tmp_path / "log", timeout_s=30)
    assert run.returncode == 0
