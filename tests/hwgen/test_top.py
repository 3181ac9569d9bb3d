"""The whole accelerator in Amaranth's simulator, and Verilog generation."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from netgen import random_inputs, random_network
from streamsim import run_streams

from hwgen.serdes import beats
from hwgen.top import Accelerator
from hwgen.verilog import generate
from zerogate import golden
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat
from zerogate.ir import LayerKind, Network, Pool


def _to_beats(rng: np.random.Generator, x: np.ndarray, lanes: int, lo: int, hi: int) -> np.ndarray:
    n, k = x.shape
    b = beats(k, lanes)
    junk = rng.integers(lo, hi + 1, (n, b * lanes - k))  # padding lanes must be ignored
    return np.concatenate([x, junk], axis=1).reshape(n * b, lanes)


@pytest.mark.parametrize(("seed", "in_lanes", "out_lanes", "stalls"), [
    (0, 8, 2, False), (1, 8, 2, True), (2, 3, 4, True), (3, 16, 1, True), (4, 5, 5, False),
])
def test_accelerator_matches_golden(seed: int, in_lanes: int, out_lanes: int, stalls: bool) -> None:
    net = random_network(seed, (16, 8, 4))
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, net, 150)
    dut = Accelerator(net, in_lanes, out_lanes)
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    lo, hi = net.input.min_int, net.input.max_int
    run = run_streams(dut, _to_beats(rng, x, in_lanes, lo, hi), len(x) * dut.beats_out, seed=seed, **kw)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))
    if not stalls:
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        done = np.array(run.output_cycles[dut.beats_out - 1::dut.beats_out])  # last beat of each vector
        assert np.all(np.diff(done) == dut.ii)


def _pool_net() -> Network:
    """A pool whose input map (1 x 8192) is larger than a conv/pool stage holds."""
    from netgen import random_layer

    fmt = FixedFormat(6, 2, True)
    pool = Pool(name="pool", kind=LayerKind.MAXPOOL, in_shape=(1, 8192), kernel=(2,), stride=(2,), input=fmt)
    dense = random_layer(np.random.default_rng(0), "fc", 4096, 3, fmt)
    return Network(name="p", input=fmt, in_features=8192, in_shape=(1, 8192), layers=(pool, dense))


def test_unsupported_layer_raises_before_writing(tmp_path: Path) -> None:
    net = _pool_net()
    with pytest.raises(UnsupportedError, match=r"layer 0 \(pool\).*8192 elements"):
        Accelerator(net)
    with pytest.raises(UnsupportedError, match="pool"):
        generate(net, tmp_path / "out")
    assert not (tmp_path / "out").exists()


_GEN = """
import sys; sys.path.insert(0, {here!r})
from pathlib import Path
from netgen import random_network
from hwgen.verilog import generate
generate(random_network(11, (16, 8, 4)), Path({out!r}))
"""


def test_generate_is_deterministic_and_atomic(tmp_path: Path) -> None:
    net = random_network(11, (16, 8, 4))
    d = generate(net, tmp_path / "a")
    assert d.verilog_path == tmp_path / "a" / "zerogate_top.v"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["design.json", "zerogate_top.v"]
    # another process, another hash seed: same bytes
    code = _GEN.format(here=str(Path(__file__).parent), out=str(tmp_path / "b"))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    for name in ("zerogate_top.v", "design.json"):
        a, b = ((tmp_path / s / name).read_bytes() for s in "ab")
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), name
    text = d.verilog_path.read_text()
    assert "module zerogate_top(" in text and str(tmp_path) not in text and "/work" not in text
    info = json.loads((tmp_path / "a" / "design.json").read_text())
    assert info["latency"] == d.latency and info["ii"] == d.ii == 2
    assert [ly["acc_bits"] for ly in info["layers"]] == [list(ly.acc_bits()) for ly in net.layers]
    assert [ly["nnz"] for ly in info["layers"]] == [ly.nnz for ly in net.layers]
    assert all(ly.csd_adders > 0 for ly in d.layers)


@pytest.mark.parametrize(("seed", "style", "lanes", "overrides", "stalls", "single"), [
    (20, "folded", 1, {}, False, False), (21, "folded", 3, {}, True, False),
    (22, "dense-folded", 2, {}, True, False), (23, "dense", 1, {}, False, False),
    (24, "unrolled", 1, {1: "folded:2"}, True, False),
    (25, "folded", 4, {0: "unrolled", 1: "dense-folded:3"}, False, False),
    # single_buffer: each folded dense layer takes its input straight into its one buffer, linked
    # to its producer without a skid even at one or two steps (16 lanes)
    (30, "folded", 1, {}, False, True), (31, "folded", 3, {}, True, True),
    (32, "dense-folded", 2, {}, False, True), (33, "folded", 16, {}, True, True),
])
def test_accelerator_styles_match_golden(seed: int, style: str, lanes: int, overrides: dict,
                                         stalls: bool, single: bool) -> None:
    net = random_network(seed, (12, 8, 4))
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, net, 40)
    dut = Accelerator(net, 4, 2, style=style, lanes=lanes, layer_styles=overrides, single_buffer=single)
    assert dut.ii == max(dut.beats_in, dut.beats_out, *(s.cycles_per_inference for s in dut.layers))
    assert dut.beats_out == 2 and dut.skids[-1] is None  # the serializer's i.ready is a register
    if single:
        assert all(s.single_buffer and s.cycles_per_inference == s.plan.T + 2 for s in dut.layers)
        assert dut.skids[1:] == [None] * len(dut.layers)  # layer -> layer -> serializer: no skids
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    lo, hi = net.input.min_int, net.input.max_int
    run = run_streams(dut, _to_beats(rng, x, 4, lo, hi), len(x) * dut.beats_out, seed=seed, **kw)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))
    if not stalls:
        # the dense baseline first loads its weight registers: inputs queue up, then drain
        skip = 10 if style == "dense" else 0
        if not skip:
            assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        done = np.array(run.output_cycles[dut.beats_out - 1::dut.beats_out])
        assert np.all(np.diff(done)[skip:] == dut.ii)


def test_bad_style_raises_before_writing(tmp_path: Path) -> None:
    from zerogate.errors import ConfigError

    net = random_network(11, (16, 8, 4))
    for kw in ({"style": "sparse"}, {"style": "folded", "lanes": 0}, {"layer_styles": {5: "folded"}},
               {"layer_styles": {0: "folded:x"}}):
        with pytest.raises(ConfigError):
            generate(net, tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()
    d = generate(net, tmp_path / "ok", style="folded", lanes=2, layer_styles={1: "unrolled"})
    info = json.loads((tmp_path / "ok" / "design.json").read_text())
    assert [(ly["style"], ly["lanes"]) for ly in info["layers"]] == [("folded", 2), ("unrolled", 1)]
    assert d.layers[0].cycles_per_inference == -(-net.layers[0].nnz // 2)
    assert d.ii == max(d.beats_in, d.beats_out, d.layers[0].cycles_per_inference)
