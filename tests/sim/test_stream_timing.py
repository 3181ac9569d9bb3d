"""The token model of the chain (:mod:`hwgen.timing`) against the older per-stage model and the
Amaranth simulator: quick checks that need no Verilator (the Verilator ones are in
``test_spatial_chains.py`` and ``test_conv_pool.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_inputs, random_network
from streamsim import run_streams
from test_conv_pool import CASES as CONV_POOL
from test_conv_pool import Case, build_net, stimulus
from test_spatial_chains import CASES as CHAINS

from hwgen.conv import FoldedModel
from hwgen.layers import build_layer
from hwgen.pool import PoolEngine
from hwgen.serdes import beats
from hwgen.spatial import SpatialStage
from hwgen.top import Accelerator
from hwgen.window import EngineModel, PipeModel, window_timing
from zerogate import golden

ALL = {**CONV_POOL, **CHAINS}


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("style", ["unrolled", "folded:1", "folded:3"])
def test_isolated_stage_agrees_with_window_timing(name: str, style: str) -> None:
    """A vector-in, vector-out stage on its own: the token model and :func:`window_timing` (which
    replays the window's step rule with an engine that is never back-pressured) agree."""
    st, _, lanes = style.partition(":")
    for k, node in enumerate(build_net(ALL[name]).layers):
        stage = build_layer(node, k, st, int(lanes or 1))
        parts = [stage, getattr(stage, "engine", None), getattr(stage, "window", None),
                 getattr(stage, "scatter", None), getattr(stage, "gather", None)]
        for c in parts:  # built for their timing only: no "never elaborated" warnings
            if c is not None:
                c._MustUse__silence = True
        if not isinstance(stage, SpatialStage):
            continue
        eng = stage.engine
        model: EngineModel = FoldedModel(eng.plan.T) if hasattr(eng, "plan") else PipeModel(eng.latency)
        t = window_timing(stage.geometry, model)
        assert (stage.latency, stage.cycles_per_inference) == (t.latency, t.cycles_per_map)


@pytest.mark.parametrize("name", ["cpc1m", "ccc1f3", "ucf1"])
def test_streaming_chain_in_amaranth_simulator(name: str) -> None:
    case = CHAINS[name]
    net = build_net(case)
    style, _, lanes = case.style.partition(":")
    dut = Accelerator(net, case.in_lanes, case.out_lanes, style=style, lanes=int(lanes or 1),
                      layer_styles=dict(case.layer_styles))
    x = stimulus(net, case.seed, 20)
    b = beats(net.in_features, case.in_lanes)
    pad = np.zeros((len(x), b * case.in_lanes - net.in_features), dtype=np.int64)
    stream = np.concatenate([x, pad], axis=1).reshape(-1, case.in_lanes)
    run = run_streams(dut, stream, len(x) * dut.beats_out)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))
    assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
    done = np.array(run.output_cycles[dut.beats_out - 1::dut.beats_out])
    assert np.all(np.diff(done)[len(done) // 2:] == dut.ii)



# conv chains that end in a conv map streamed out one element per beat: with most output cycles
# refused, every engine's credits run out and every window waits with a full output register
LOOKAHEAD = {
    "cc2u": Case((2, 6, 6), (("conv", 3, (3, 3), (1, 1), (1, 1)), ("conv", 2, (2, 2), (1, 1), (0, 0))),
                 "unrolled", out_lanes=1, seed=31),
    "cc1f": Case((2, 12), (("conv", 3, (3,), (1,), (1,)), ("conv", 2, (3,), (2,), (1,))),
                 "unrolled", layer_styles=((1, "folded:1"),), out_lanes=1, seed=38),
    "cpcp1u": Case((2, 12), (("conv", 3, (3,), (1,), (1,)), ("max", (2,), (1,)),
                             ("conv", 2, (3,), (1,), (1,)), ("avg", (2,), (1,))),
                   "unrolled", out_lanes=1, seed=33),
    "cpf2u": Case((2, 6, 6), (("conv", 3, (3, 3), (1, 1), (1, 1)), ("max", (2, 2), (2, 2)), ("fc", 3)),
                  "unrolled", out_lanes=1, seed=34),
}


@pytest.mark.parametrize("name", list(LOOKAHEAD))
def test_lookahead_windows_under_stalls(name: str) -> None:
    """Windows in front of an engine with a registered ``i.ready`` plan their output a cycle ahead
    (:class:`~hwgen.window.SlidingWindow` ``lookahead``); with gaps on the input and
    back-pressure on the output, which reach them through the engines' credits, the outputs stay
    exact."""
    case = LOOKAHEAD[name]
    net = build_net(case)
    style, _, lanes = case.style.partition(":")
    dut = Accelerator(net, case.in_lanes, case.out_lanes, style=style, lanes=int(lanes or 1),
                      layer_styles=dict(case.layer_styles))
    spatial = [s for s in dut.layers if isinstance(s, SpatialStage)]
    # a conv engine's ready is a register (credits); a pool engine's is not, so its window cannot plan
    assert [s.window.lookahead for s in spatial] == [not isinstance(s.engine, PoolEngine) for s in spatial]
    x = stimulus(net, case.seed, 8)
    b = beats(net.in_features, case.in_lanes)
    pad = np.zeros((len(x), b * case.in_lanes - net.in_features), dtype=np.int64)
    stream = np.concatenate([x, pad], axis=1).reshape(-1, case.in_lanes)
    run = run_streams(dut, stream, len(x) * dut.beats_out, seed=case.seed, gaps=0.3, backpressure=0.6)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))


@pytest.mark.parametrize(("seed", "style", "sparsity", "out_lanes"), [
    (40, "folded:4", 0.5, 6), (41, "dense-folded:2", 0.5, 6),
    (42, "folded:64", 0.9, 6),  # one step per inference: results back to back, the skid fills at once
    # a serializer of 3 or 6 beats, slower than the last layer: its registered i.ready is often low
    (43, "folded:8", 0.5, 2), (44, "dense-folded:8", 0.5, 1),
])
def test_folded_engines_plan_their_stalls(seed: int, style: str, sparsity: float, out_lanes: int) -> None:
    """Folded dense layers run on a registered enable planned from their consumer's ``ready_next``
    (a skid buffer's, or, where no skid is needed, the next folded layer's or the serializer's
    registered ``i.ready``): with the output refused 70 % of the time, nothing is lost or repeated."""
    net = random_network(seed, (16, 10, 6), sparsity=sparsity)
    st, _, lanes = style.partition(":")
    dut = Accelerator(net, 16, out_lanes, style=st, lanes=int(lanes), balance=False)
    assert all("o_ready_next" in s.signature.members for s in dut.layers)
    # a skid only in front of a consumer whose i.ready is combinational (a 1-beat serializer is
    # wires, a 1-step layer)
    assert [s is None for s in dut.skids] == [ly.plan.T >= 3 for ly in dut.layers] + [dut.beats_out > 1]
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, net, 40)
    run = run_streams(dut, x, len(x) * dut.beats_out, seed=seed, gaps=0.1, backpressure=0.7)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))
