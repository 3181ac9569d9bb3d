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


@pytest.mark.slow
def test_a_run_still_routing_at_the_limit_gives_way_to_the_next(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """nextpnr's router1 can circle for good on a congested design: the flow tries the next (seed,
    router) on the same netlist and says which run its figures come from; with every run stopped,
    the timeout stands."""
    from zerogate.flow import common, synthesize_ecp5

    real = common.place_and_route
    tried: list[tuple[int, str]] = []

    def circling_on_seed_1(flow, device_args, freq_mhz, seed, what, advice="", timeout_s=None, **_):
        router = device_args[device_args.index("--router") + 1]
        tried.append((seed, router))
        if router == "router1" or not ok:
            raise ToolTimeout(f"nextpnr-ecp5 did not finish within {timeout_s / 60:g} min")
        return real(flow, device_args, freq_mhz, seed, what, timeout_s=timeout_s)

    monkeypatch.setattr(common, "place_and_route", circling_on_seed_1)
    src = tmp_path / "src" / "reg.v"
    src.parent.mkdir()
    src.write_text("module top(input clk, input [3:0] a, output reg [3:0] q);\n"
                   "  always @(posedge clk) q <= q + a;\nendmodule\n")
    ok = True
    res = synthesize_ecp5(src, "top", tmp_path / "w", seed=1, retries=((1, "router2"), (6, "router1")),
                          pnr_timeout_s=600)
    assert tried == [(1, "router1"), (1, "router2")] and (res.seed, res.router) == (1, "router2")
    assert res.fmax_mhz is not None and res.bitstream.is_file()
    ok, tried[:] = False, []
    with pytest.raises(ToolTimeout):
        synthesize_ecp5(src, "top", tmp_path / "w2", seed=1, retries=((1, "router2"), (6, "router1")),
                        pnr_timeout_s=600)
    assert tried == [(1, "router1"), (1, "router2"), (6, "router1")]
