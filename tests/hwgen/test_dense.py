"""UnrolledDense against the golden model, in Amaranth's simulator, bit for bit."""

import itertools
import re

import numpy as np
import pytest
from amaranth.back import rtlil
from netgen import random_inputs, random_layer, random_network
from streamsim import run_streams

from hwgen.dense import UnrolledDense
from zerogate import golden
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import Activation, FixedFormat, Rounding, requantize
from zerogate.ir import Layer, LayerKind, Network


def _layer(seed: int) -> Layer:
    rng = np.random.default_rng(seed)
    signed = bool(rng.integers(2))
    fmt = FixedFormat(int(rng.integers(2 if signed else 1, 9)), int(rng.integers(0, 6)), signed)
    return random_layer(rng, "fc", int(rng.integers(1, 13)), int(rng.integers(1, 9)), fmt,
                        sparsity=float(rng.uniform(0.2, 0.95)))


def _check(layer: Layer, x: np.ndarray, **kw: object) -> golden.LayerTrace:
    dut = UnrolledDense(layer, **kw.pop("dut_kw", {}))
    run = run_streams(dut, x, len(x), **kw)
    expect = golden.run_layer(layer, x)
    got = np.array(run.outputs, dtype=np.int64).reshape(expect.out.shape)
    bad = np.argwhere(got != expect.out)
    assert bad.size == 0, f"first mismatch sample/channel {bad[0]}: expected {expect.out[tuple(bad[0])]}, " \
                          f"got {got[tuple(bad[0])]}"
    return expect


@pytest.mark.parametrize("seed", range(24))
def test_random_layer_matches_golden(seed: int) -> None:
    layer = _layer(seed)
    net = Network(name="n", input=layer.input, in_features=layer.in_features, layers=(layer,))
    x = random_inputs(np.random.default_rng(seed), net, 150)
    stalls = {"gaps": 0.3, "backpressure": 0.4} if seed % 2 else {}
    _check(layer, x, seed=seed, dut_kw={"adder_levels_per_stage": 1 + seed % 3}, **stalls)


def test_random_layers_saturate_somewhere() -> None:
    """The generator must exercise saturation, or the clamp logic goes untested."""
    sat = 0
    for seed in range(16):
        layer = _layer(seed)
        lo, hi = layer.input.min_int, layer.input.max_int
        x = np.random.default_rng(seed).integers(lo, hi + 1, (60, layer.in_features))
        sat += golden.run_layer(layer, x).saturated
    assert sat > 0


@pytest.mark.parametrize(("rounding", "relu"), list(itertools.product(Rounding, (False, True))))
def test_exhaustive_tiny_layer(rounding: Rounding, relu: bool) -> None:
    """Every input vector of a 3-input, 3-bit layer: all rounding ties and clamps included."""
    rng = np.random.default_rng(7)
    fmt = FixedFormat(3, 1, True)
    layer = random_layer(rng, "fc", 3, 5, fmt, sparsity=0.2, relu=relu, rounding=rounding, out_bits=3)
    x = np.array(list(itertools.product(range(-4, 4), repeat=3)), dtype=np.int64)
    _check(layer, x, gaps=0.1, backpressure=0.2)


#: Clamp bounds inside a 3-bit output (signed: -4..3, unsigned: 0..7) and LeakyReLU slopes.
ACTIVATIONS = {"clamp-signed": Activation.clamp(-3, 2), "clamp-unsigned": Activation.clamp(1, 5),
               "clamp-at-0": Activation.clamp(0, 6), "leaky-1": Activation.leaky(1),
               "leaky-2": Activation.leaky(2),
               "leaky-4": Activation.leaky(4)}


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_exhaustive_tiny_layer_activations(rounding: Rounding, act: str) -> None:
    """Every input vector of a 3-input, 3-bit layer through a clamp or a LeakyReLU: both ends of
    the clamp and LeakyReLU's rounding ties, bit for bit."""
    rng = np.random.default_rng(11)
    fmt = FixedFormat(3, 1, True)
    layer = random_layer(rng, "fc", 3, 5, fmt, sparsity=0.2, rounding=rounding, out_bits=3,
                         activation=ACTIVATIONS[act])
    x = np.array(list(itertools.product(range(-4, 4), repeat=3)), dtype=np.int64)
    exp = _check(layer, x, gaps=0.1, backpressure=0.2)
    lo, hi = ACTIVATIONS[act].bounds(layer.output)
    live = np.flatnonzero(layer.weight.any(axis=1))
    assert {lo, hi} <= set(exp.out[:, live].ravel().tolist()) or act.startswith("leaky")


def test_latency_and_throughput() -> None:
    net = random_network(5, (12, 6))
    layer = net.layers[0]
    x = random_inputs(np.random.default_rng(0), net, 20)
    for k in (1, 2, 3):
        dut = UnrolledDense(layer, adder_levels_per_stage=k)
        run = run_streams(dut, x, len(x))
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        assert np.all(np.diff(run.output_cycles) == 1)  # II = 1


def _cells(dut: UnrolledDense) -> list[str]:
    """Cells of the datapath (the layer's own module; the credit queue's counters are control)."""
    text = rtlil.convert(dut)
    own = text[text.index("module \\top\n"):]
    own = own[:own.index("\nend\n")]
    return re.findall(r"cell \$(\w+)", own)


def test_zero_weights_generate_no_hardware() -> None:
    """An all-zero layer is constants only: no adder, no multiplier, no data register."""
    rng = np.random.default_rng(1)
    layer = random_layer(rng, "fc", 6, 4, FixedFormat(6, 2, True), sparsity=1.0)
    dut = UnrolledDense(layer)
    assert dut.constant_channels == [0, 1, 2, 3] and dut.adders == 0
    cells = _cells(dut)
    assert not {"add", "sub", "mul", "neg"} & set(cells), cells
    x = rng.integers(-32, 32, (10, 6))
    exp = _check(layer, x)
    const = requantize(layer.bias, layer.shift, layer.output, layer.rounding, layer.activation)
    assert np.all(exp.out == const)


def test_adder_count_is_csd_digits_only() -> None:
    """Adders in the netlist = CSD tree adders + one incrementer per rounded channel; no multipliers."""
    for seed in range(4):
        layer = _layer(100 + seed)
        dut = UnrolledDense(layer)
        cells = _cells(dut)
        live = [c for c in range(layer.out_features) if c not in dut.constant_channels]
        incr = sum(1 for c in live if layer.rounding is Rounding.HALF_UP and layer.shift[c] > 0)
        assert "mul" not in cells
        assert sum(cells.count(k) for k in ("add", "sub", "neg")) == dut.adders + incr


def test_accumulator_width_is_acc_bits() -> None:
    layer = random_network(3, (16, 8)).layers[0]
    text = rtlil.convert(UnrolledDense(layer))
    widths = {int(c): int(w) for w, c in re.findall(r"wire width (\d+) signed \\acc_(\d+)\n", text)}
    assert len(widths) >= 4, "accumulator wires not found"
    for c, w in widths.items():
        assert w == layer.acc_bits()[c]


def test_unsupported_layer_kind() -> None:
    layer = _layer(0)
    conv = Layer(
        name="conv", kind=LayerKind.CONV1D, in_features=1, out_features=1, weight=np.ones((1, 1, 3)),
        bias=np.zeros(1), weight_bits=np.full(1, 2), weight_frac=np.zeros(1),
        shift=np.zeros(1) + layer.input.frac,
        input=layer.input, output=FixedFormat(8, 0, True), bias_bits=2, activation=Activation.NONE,
        in_shape=(1, 8), kernel=(3,), stride=(1,), padding=(0,),
    )
    with pytest.raises(UnsupportedError, match="conv"):
        UnrolledDense(conv)


def _sim(dut: UnrolledDense, bench: object) -> None:
    from amaranth.sim import Simulator

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("levels", [1, 2])
def test_ready_is_a_register_and_capacity_is_latency_plus_two(levels: int) -> None:
    """A stalled output fills exactly ``capacity`` places, then ``i.ready`` falls; ``o.ready``
    never reaches ``i.ready`` within a cycle (no combinational path across the layer)."""
    net = random_network(11, (10, 5))
    dut = UnrolledDense(net.layers[0], adder_levels_per_stage=levels)
    assert dut.capacity == dut.latency + 2
    accepted: list[int] = []

    async def bench(ctx: object) -> None:
        ctx.set(dut.i.valid, 1)
        for cycle in range(3 * dut.capacity):
            before = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, cycle % 2)  # toggling o.ready must not move i.ready until the edge
            assert ctx.get(dut.i.ready) == before
            ctx.set(dut.o.ready, 0)
            if before:
                accepted.append(cycle)
            await ctx.tick()
        assert len(accepted) == dut.capacity and not ctx.get(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        taken = 0
        for _ in range(3 * dut.capacity):
            *_, valid = await ctx.tick().sample(dut.o.valid)
            taken += valid
        assert taken == dut.capacity

    _sim(dut, bench)


def test_heavy_backpressure_keeps_order() -> None:
    """Mostly stalled output: the queue fills and drains many times, nothing lost or reordered."""
    net = random_network(12, (9, 7))
    x = random_inputs(np.random.default_rng(3), net, 120)
    _check(net.layers[0], x, seed=5, gaps=0.1, backpressure=0.8, dut_kw={"adder_levels_per_stage": 1})
