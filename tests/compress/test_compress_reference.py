"""The PyTorch reference equals the golden model on every integer of every layer."""

import numpy as np
import torch
from torch import nn

from compress.export import export_net
from compress.qnet import QuantNet
from compress.reference import reference_run, reference_trace
from compress.trace import from_module
from zerogate import golden
from zerogate.fixedpoint import FixedFormat
from zerogate.ir import Network


def golden_mismatches(model: QuantNet, net: Network, x_int: np.ndarray) -> int:
    """Integers (all layers) where the PyTorch reference and the golden model differ."""
    ref, gold = reference_trace(model, x_int), golden.trace(net, x_int)
    return sum(int(np.count_nonzero(r != t.out)) for r, t in zip(ref, gold, strict=True))


def test_trained_model_matches_golden_on_the_whole_test_split(small_result) -> None:
    r = small_result
    assert r.result.torch_matches_golden
    ref = reference_trace(r.model, r.test_x)
    gold = golden.trace(r.net, r.test_x)
    assert len(ref) == len(gold) == 2
    for a, t in zip(ref, gold, strict=True):
        assert a.dtype == np.int64 and np.array_equal(a, t.out)
    assert np.array_equal(reference_run(r.model, r.test_x), golden.run(r.net, r.test_x))


def _ties(acc: np.ndarray, shift: np.ndarray) -> int:
    """Accumulators exactly halfway between two outputs (where HALF_UP differs from even)."""
    half = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), -1)
    return int(np.count_nonzero((acc & ((1 << shift) - 1)) == half))


def _random_model(seed: int, act_bits: int, output_bits: int) -> QuantNet:
    """Untrained, oddly scaled weights, dead rows and narrow formats: ties and saturation galore."""
    torch.manual_seed(seed)
    inp = FixedFormat(6, 3, signed=False)
    mlp = nn.Sequential(nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 7))
    m = from_module(mlp, torch.rand(8, 24), input_format=inp, weight_bits=5, act_bits=act_bits,
                    output_bits=output_bits)
    with torch.no_grad():
        for k, lin in enumerate(m.weight_layers()):
            lin.weight.mul_(torch.logspace(-2, 1, lin.out_features).unsqueeze(1))
            lin.bias.mul_(3.0 + k)
            lin.mask.copy_((torch.rand_like(lin.mask) > 0.6).float())
            lin.mask[0] = 0  # an all-zero channel
    x = torch.rand(256, 24) * inp.max_int * inp.scale
    m.calibrate(x * 0.25)  # calibrate on a quarter of the range: real inputs will saturate
    return m


def test_random_models_match_golden_including_saturation_and_ties() -> None:
    rng = np.random.default_rng(0)
    saturated = 0
    for seed, (act_bits, out_bits) in enumerate([(8, 16), (4, 6), (3, 4)]):
        m = _random_model(seed, act_bits, out_bits)
        before = {k: v.clone() for k, v in m.state_dict().items()}
        net = export_net(m, "rand")
        x = rng.integers(0, 64, (2000, 24))
        x[:4] = [[0], [63], [1], [62]]  # the extremes of the input format
        assert golden_mismatches(m, net, x) == 0
        saturated += sum(t.saturated for t in golden.trace(net, x))
        ties = [_ties(t.acc, ly.shift) for t, ly in zip(golden.trace(net, x), net.layers, strict=True)]
        assert sum(ties) > 0, "no rounding ties exercised"
        assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # model untouched
        assert next(m.parameters()).dtype == torch.float32
    assert saturated > 0
