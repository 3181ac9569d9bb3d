"""export_net on random small QuantNets (dense, conv1d, conv2d, max/avg pools, mixed per-channel
bits, pruned channels): a valid IR that round-trips, and the float64 reference equals the golden
model on every integer of every node, saturation and rounding ties included."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compress.export import export_net
from compress.qnet import PoolStage, QuantNet, WeightStage
from compress.quant import ActQuant, QuantConv1d, QuantConv2d, QuantLinear
from compress.reference import reference_run, reference_trace
from zerogate import golden, ir
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat
from zerogate.ir import LayerKind


def _ws(layer: nn.Module, relu: bool, bits: int = 5) -> WeightStage:
    return WeightStage(layer, ActQuant(bits, 0, signed=not relu), relu)


def random_qnet(nd: int, pool: str, seed: int, mixed: bool = True, prune: bool = True) -> QuantNet:
    """Untrained, oddly scaled weights, sparse masks, narrow formats; calibrated on a quarter of the
    input range so real inputs saturate. ``nd`` = spatial dims (0: an MLP)."""
    torch.manual_seed(seed)
    if nd == 0:
        inp, shape = FixedFormat(6, 3, signed=True), (10,)
        stages = [_ws(QuantLinear(10, 8), True), _ws(QuantLinear(8, 7), False),
                  _ws(QuantLinear(7, 4), False, 8)]
    elif nd == 1:  # (2,16) -> conv p1 (6,16) -> pool (6,8) -> conv p0 s2 (5,3) -> fc
        inp, shape = FixedFormat(5, 4, signed=False), (2, 16)
        stages = [_ws(QuantConv1d(2, 6, 3, padding=1), True), PoolStage(pool, (2,)),
                  _ws(QuantConv1d(6, 5, 3, stride=2), False), nn.Flatten(), _ws(QuantLinear(15, 4), False, 8)]
    else:  # (1,6,6) -> conv p1 (5,6,6) -> pool (5,3,3) -> conv p1 (4,4,4) -> pool (4,2,2) -> fc
        inp, shape = FixedFormat(5, 4, signed=False), (1, 6, 6)
        stages = [_ws(QuantConv2d(1, 5, 3, padding=1), True), PoolStage("max", (2, 2)),
                  _ws(QuantConv2d(5, 4, 2, padding=1), True), PoolStage(pool, (2, 2)), nn.Flatten(),
                  _ws(QuantLinear(16, 3), False, 8)]
    net = QuantNet(inp, shape, stages)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, ly in enumerate(net.weight_layers()):
            n = ly.n_out
            ly.weight.mul_(torch.logspace(-1.5, 1, n).reshape(-1, *[1] * (ly.weight.dim() - 1)))
            ly.bias.mul_(3.0 + k)
            ly.mask.copy_((torch.rand(ly.mask.shape, generator=g) > 0.4).float())
            if mixed:
                ly.set_bits(torch.randint(2, 9, (n,), generator=g))
            if prune:
                ly.bits[0] = 0  # pruned whole: outputs 0
                ly.mask[1] = 0  # no kept weight: outputs relu(bias), a constant
    x = torch.rand(256, *shape, generator=g) * inp.max_int * inp.scale
    if inp.signed:
        x = x * 2 - inp.max_int * inp.scale
    net.calibrate(x * 0.25)
    return net


def _inputs(net: QuantNet, n: int, seed: int) -> np.ndarray:
    f = net.input_format
    x = np.random.default_rng(seed).integers(f.min_int, f.max_int + 1, (n, *net.in_shape))
    x[0], x[1] = f.min_int, f.max_int
    return x


CASES = [(nd, pool, mixed, prune) for nd, pool in [(0, "max"), (1, "max"), (1, "avg"), (2, "max"), (2, "avg")]
         for mixed, prune in [(False, False), (True, True)]]


@pytest.mark.parametrize(("nd", "pool", "mixed", "prune"), CASES)
def test_reference_equals_golden_and_ir_round_trips(nd: int, pool: str, mixed: bool, prune: bool,
                                                     tmp_path: Path) -> None:
    saturated = ties = 0
    for seed in range(2):
        q = random_qnet(nd, pool, seed, mixed, prune)
        before = {k: v.clone() for k, v in q.state_dict().items()}
        net = export_net(q, "rand", {"seed": seed})
        x = _inputs(q, 400, seed)
        ref = reference_trace(q, x)
        gold = golden.trace(net, x.reshape(len(x), -1))
        assert len(ref) == len(gold) == len(net.layers)
        for r, t in zip(ref, gold, strict=True):
            assert r.dtype == np.int64 and np.array_equal(r, t.out)
        assert np.array_equal(reference_run(q, x), golden.run(net, x.reshape(len(x), -1)))
        saturated += sum(t.saturated for t in gold)
        for t, ly in zip(gold, net.layers, strict=True):
            if ly.kind in (LayerKind.DENSE, LayerKind.CONV1D, LayerKind.CONV2D):
                s = ly.shift.reshape(-1, *[1] * (t.acc.ndim - 2))
                half = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), -1)
                ties += int(np.count_nonzero((t.acc & ((1 << s) - 1)) == half))
        assert all(torch.equal(before[k], v) for k, v in q.state_dict().items())  # model untouched
        ir.save(net, tmp_path / f"ir{seed}")
        back = ir.load(tmp_path / f"ir{seed}")
        assert np.array_equal(golden.run(back, x.reshape(len(x), -1)), golden.run(net, x.reshape(len(x), -1)))
    assert saturated > 0 and ties > 0


def test_dead_channels_leave_the_ir_and_the_next_layers_inputs() -> None:
    q = random_qnet(1, "max", 0)  # conv0: ch0 bits 0, ch1 no weights; conv1 the same; fc reads conv1
    net = export_net(q, "t")
    conv0, pool, conv1, fc = net.layers
    assert conv0.out_features == 4 and pool.in_shape == (4, 16) and conv1.in_shape == (4, 8)
    assert conv1.out_features == 3 and fc.in_features == 3 * 3 and fc.out_features == 4
    codes = q.weight_layers()[2].quant_weight()[0].to(torch.int64).numpy()
    kept_cols = np.concatenate([np.arange(c * 3, c * 3 + 3) for c in (2, 3, 4)])  # channel-major flatten
    assert np.array_equal(fc.weight, codes[:, kept_cols])
    q.weight_layers()[0].bias.data[1] = -5.0  # dead channel with ReLU of a negative bias: 0, nothing folded
    want = q.weight_layers()[1].quant_bias()[0].int().tolist()[2:]
    assert export_net(q, "t").layers[2].bias.tolist() == want


def test_a_padded_conv_keeps_a_constant_channel_but_not_a_zero_one() -> None:
    q = random_qnet(2, "max", 0)  # conv1 (padding 1) reads conv0: border taps see 0, not the constant
    net = export_net(q, "t")
    assert net.layers[0].out_features == 4  # ch0 (zero) removed, ch1 (constant) kept
    assert not net.layers[0].weight[0].any()  # the kept constant channel has no weights
    assert net.layers[2].out_features == 2 and net.layers[-1].in_features == 2 * 4  # fc is dense: folded


def test_last_layer_keeps_every_output() -> None:
    q = random_qnet(0, "max", 0)
    net = export_net(q, "t")
    last = net.layers[-1]
    assert last.out_features == 4 and not last.weight[:2].any() and last.weight_bits[0] == 2
    assert last.bias[0] == 0  # bits 0: pruned whole


def test_errors_are_one_line_user_errors() -> None:
    q = random_qnet(1, "avg", 0, prune=False)
    q.weight_layers()[1].bits.zero_()
    with pytest.raises(UnsupportedError, match="every output channel") as e:
        export_net(q, "t")
    assert "\n" not in str(e.value)
    q = random_qnet(1, "avg", 0, prune=False)
    q.weight_layers()[0].bits[3] = 1
    with pytest.raises(UnsupportedError, match="channel 3 has 1-bit weights"):
        export_net(q, "t")
    with pytest.raises(UnsupportedError, match="power-of-two"):
        PoolStage("avg", (3,))
