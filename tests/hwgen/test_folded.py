"""The folded engine in Amaranth's simulator: bit-exact vs golden, exact timing, lane efficiency."""

import dataclasses
import itertools

import numpy as np
import pytest
from netgen import random_inputs, random_layer, random_network
from streamsim import run_streams

from hwgen.folded import FIXED_LATENCY, FoldedDense, FoldPlan
from zerogate import golden
from zerogate.fixedpoint import Activation, FixedFormat, Rounding
from zerogate.ir import Network


@pytest.mark.parametrize(("seed", "lanes", "dense", "stalls", "single"), [
    (0, 1, False, False, False), (1, 2, False, True, False), (2, 3, False, False, False),
    (3, 4, False, True, False), (4, 5, True, False, False), (5, 2, True, True, False),
    (6, 16, False, True, False), (7, 64, False, False, False),
    # one input buffer: T + 2 cycles per inference, any T (64 lanes: one step)
    (8, 1, False, False, True), (9, 3, False, True, True), (10, 16, False, False, True),
    (11, 2, True, True, True), (12, 64, False, True, True), (13, 64, False, False, True),
])
def test_folded_matches_golden(seed: int, lanes: int, dense: bool, stalls: bool, single: bool) -> None:
    net = random_network(seed, (12, 7), sparsity=0.6)
    ly = net.layers[0]
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, net, 60)
    dut = FoldedDense(ly, lanes=lanes, dense=dense, single_buffer=single)
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    run = run_streams(dut, x, len(x), seed=seed, **kw)
    assert np.array_equal(np.array(run.outputs), golden.run(net, x))
    if not stalls:
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency == dut.plan.T + FIXED_LATENCY
        assert dut.cycles_per_inference == dut.plan.T + (2 if single else 0)
        assert np.all(np.diff(run.output_cycles) == dut.cycles_per_inference)


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize(("act", "lanes"), [(Activation.clamp(-3, 2), 2), (Activation.clamp(1, 5), 1),
                                            (Activation.leaky(1), 2), (Activation.leaky(3), 3)])
def test_folded_activations_exhaustive(act: Activation, lanes: int, rounding: Rounding) -> None:
    """Every input of a 3-input, 3-bit layer through a clamp or LeakyReLU in the folded engine
    (its requantizer gets the rounding offset pre-added, so LeakyReLU's branch differs from unrolled)."""
    fmt = FixedFormat(3, 1, True)
    ly = random_layer(np.random.default_rng(11), "fc", 3, 5, fmt, sparsity=0.2, rounding=rounding, out_bits=3,
                      activation=act)
    net = Network(name="n", input=fmt, in_features=3, layers=(ly,))
    x = np.array(list(itertools.product(range(-4, 4), repeat=3)), dtype=np.int64)
    run = run_streams(FoldedDense(ly, lanes=lanes), x, len(x), seed=1, gaps=0.2, backpressure=0.2)
    assert np.array_equal(np.array(run.outputs), golden.run(net, x))


def test_plan_cycles_and_efficiency() -> None:
    rng = np.random.default_rng(3)
    ly = random_layer(rng, "fc", 64, 32, FixedFormat(8, 4, False), sparsity=0.85)
    for lanes in (1, 2, 4, 8):
        p = FoldPlan(ly, lanes)
        assert p.macs == ly.nnz and -(-ly.nnz // lanes) == p.T
        assert p.lanes == -(-ly.nnz // p.T) <= lanes
        assert p.lane_efficiency == ly.nnz / (p.lanes * p.T) >= 0.9
        # every nonzero is walked exactly once, by exactly one lane
        walked = sorted((c, i) for chunk in p.steps for e in chunk if e is not None for c, i, _ in [e])
        assert walked == sorted(zip(*np.nonzero(ly.weight_matrix()), strict=True))
    d = FoldPlan(ly, 4, dense=True)
    assert d.macs == ly.n_weights and ly.n_weights // 4 == d.T


@pytest.mark.parametrize(("keep", "lanes", "built", "steps"), [(1, 4, 1, 1), (9, 4, 3, 3), (5, 8, 5, 1)])
def test_lanes_without_work_are_not_built(keep: int, lanes: int, built: int, steps: int) -> None:
    """Asked for more lanes than the nonzeros need, the engine builds the fewest lanes that take
    the same ``T`` steps (an idle lane is area and no speed) and stays bit-exact."""
    net = random_network(11, (10, 6), sparsity=0.0)
    w = net.layers[0].weight.copy()
    w.flat[np.flatnonzero(w)[keep:]] = 0  # keep the first ``keep`` nonzeros
    net = dataclasses.replace(net, layers=(dataclasses.replace(net.layers[0], weight=w),))
    ly = net.layers[0]
    assert ly.nnz == keep
    dut = FoldedDense(ly, lanes=lanes)
    assert (dut.lanes, dut.plan.T, dut.plan.requested_lanes) == (built, steps, lanes)
    assert len(dut.plan.rom_fields()) == built and dut.lane_efficiency == keep / (built * steps)
    x = random_inputs(np.random.default_rng(11), net, 30)
    run = run_streams(dut, x, len(x), seed=11, gaps=0.2, backpressure=0.3)
    assert np.array_equal(np.array(run.outputs), golden.run(net, x))


@pytest.mark.parametrize(("seed", "stalls"), [(0, False), (1, True), (2, True)])
def test_dense_unrolled_baseline_matches_golden(seed: int, stalls: bool) -> None:
    from hwgen.baseline import DenseUnrolled

    net = random_network(seed, (9, 5), sparsity=0.6)
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, net, 40)
    dut = DenseUnrolled(net.layers[0])
    assert dut.multipliers == net.layers[0].n_weights  # sparsity ignored
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    run = run_streams(dut, x, len(x), seed=seed, **kw)
    assert np.array_equal(np.array(run.outputs), golden.run(net, x))
    if not stalls:
        assert run.accept_cycles[0] >= dut.load_cycles
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        assert np.all(np.diff(run.output_cycles) == 1)


@pytest.mark.parametrize("lanes", [8, 12])
def test_folded_ready_is_a_register_from_three_steps(lanes: int) -> None:
    """With ``T >= 3`` steps the input side never looks at ``o.ready`` within a cycle (a sliding
    window's line-buffer enable hangs on it). Random gaps and stalls freeze the engine at every
    step, including the handover one where the old rule let ``o.ready`` through (small ``T``)."""
    from amaranth.sim import Simulator

    from hwgen.folded import registered_ready

    assert not registered_ready(2) and registered_ready(3)
    net = random_network(5, (12, 7), sparsity=0.6)
    dut = FoldedDense(net.layers[0], lanes=lanes)
    assert 3 <= dut.plan.T <= 4
    rng = np.random.default_rng(0)
    flips = 0

    async def bench(ctx: object) -> None:
        nonlocal flips
        for _ in range(400):
            ctx.set(dut.i.valid, int(rng.random() < 0.7))
            ctx.set(dut.o.ready, 1)
            ready_if_taken = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 0)
            flips += ready_if_taken != ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, int(rng.random() < 0.3))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert flips == 0
