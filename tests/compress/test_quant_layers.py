"""Quantized Linear/Conv1d/Conv2d: drop-in float behaviour, masks, per-channel bits, dead channels, STE."""

import pytest
import torch
from torch import nn

from compress.quant import (
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    QuantWeightLayer,
    fake_quant_weight,
    quantized_copy,
)

KINDS = {
    "linear": (lambda: nn.Linear(12, 5), (3, 12)),
    "conv1d": (lambda: nn.Conv1d(3, 5, 3, stride=2, padding=1), (3, 3, 16)),
    "conv2d": (lambda: nn.Conv2d(2, 5, (3, 2), padding=(1, 0)), (3, 2, 6, 5)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_drop_in_float_equals_torch_layer(kind: str) -> None:
    torch.manual_seed(0)
    make, shape = KINDS[kind]
    ref = make()
    q = quantized_copy(ref, weight_bits=5)
    assert isinstance(q, QuantWeightLayer) and isinstance(q, type(ref))
    assert q.mask.shape == ref.weight.shape and q.bits.dtype == torch.int64 and q.bits.tolist() == [5] * 5
    x = torch.randn(shape)
    assert torch.equal(q(x), ref(x))  # quantization off, full mask: the float layer itself
    assert set(q.state_dict()) == {"weight", "bias", "mask", "bits"}


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_bits_ranges_zero_stays_zero_and_dead_channels(kind: str) -> None:
    torch.manual_seed(1)
    make, shape = KINDS[kind]
    q = quantized_copy(make())
    q.set_bits(torch.tensor([2, 3, 8, 0, 6]))
    with torch.no_grad():
        q.mask.flatten(1)[4] = 0  # channel 4: no kept weight, keeps its bias
        q.mask.flatten(1)[2, ::2] = 0
        q.bias.fill_(0.75)
    assert q.alive().tolist() == [True, True, True, False, False]
    codes, w = q.quant_weight()
    flat = codes.flatten(1)
    for c, b in enumerate([2, 3, 8, 0, 6]):
        hi = 2 ** max(b - 1, 0)
        assert flat[c].min() >= -hi and flat[c].max() <= max(hi - 1, 0)
    assert torch.all(flat[2, ::2] == 0) and torch.all(flat[3:] == 0)
    g = q.exponent().to(torch.float64)
    assert torch.equal(w.double() * 2.0 ** g.reshape(-1, *[1] * (w.dim() - 1)), codes.double())
    q.in_frac, q.quant_enabled = 3, True
    y = q(torch.randn(shape)).detach().transpose(0, 1).flatten(1)  # [out, everything else]
    assert torch.all(y[3] == 0)  # bits 0: pruned whole, bias included
    assert torch.all(y[4] == y[4, 0]) and float(y[4, 0]) == 0.75  # no weights: the bias alone


def test_fake_quant_weight_matches_the_layer_and_spares_zeros() -> None:
    w = torch.tensor([[0.3, -0.1, 0.0], [2.0, 0.5, 0.0]])
    q, real, g = fake_quant_weight(w, torch.tensor([4, 4]), None)
    assert g.tolist() == [4, 2] and q.tolist() == [[5.0, -2.0, 0.0], [7.0, 2.0, 0.0]]
    assert torch.equal(real * 2.0 ** g.unsqueeze(1).float(), q)


@pytest.mark.parametrize("cls", [QuantConv1d, QuantConv2d])
def test_conv_straight_through_gradients_respect_the_mask(cls: type) -> None:
    torch.manual_seed(2)
    nd = 1 if cls is QuantConv1d else 2
    q = cls(2, 3, 3, padding=1, weight_bits=4)
    with torch.no_grad():
        q.mask[0] = 0
    q.in_frac, q.quant_enabled = 2, True
    q(torch.rand(2, 2, *([6] * nd))).sum().backward()
    assert torch.all(q.weight.grad[0] == 0)
    assert (q.weight.grad[1:] != 0).double().mean() > 0.8  # zero only where a weight saturates
    assert q.bias.grad is not None and float(q.bias.grad[0]) != 0  # a dead channel's bias still learns


def test_constructors_are_drop_in() -> None:
    assert QuantLinear(4, 3, bias=False).bias is None
    c = QuantConv2d(2, 4, kernel_size=3, stride=2, padding=1, bias=False, weight_bits=3)
    assert c.stride == (2, 2) and c.bits.tolist() == [3] * 4 and c.weight_bits is c.bits
    assert QuantConv1d(1, 2, 5).kernel_size == (5,)
    with pytest.raises(TypeError, match="GELU"):
        quantized_copy(nn.GELU())
