"""Quantizer units: the per-channel exponent rule, HALF_UP, masks, STE gradients."""

import pytest
import torch

from compress.prune import cubic_schedule
from compress.quant import ActQuant, QuantLinear, channel_exponent, round_half_up


def test_round_half_up_ties_go_to_plus_infinity() -> None:
    v = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999])
    assert round_half_up(v).tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 2.0]


@pytest.mark.parametrize(
    ("amax", "g"),
    [(0.3, 6), (0.5, 6), (0.51, 5), (1.0, 5), (3.0, 3), (0.0, 5)],  # 6-bit weights
)
def test_channel_exponent_uses_the_range(amax: float, g: int) -> None:
    w = torch.tensor([[amax, -amax / 3]])
    assert int(channel_exponent(w, torch.tensor([6]), None)[0]) == g


def test_min_frac_lower_bounds_the_exponent_and_sets_zero_rows() -> None:
    w = torch.tensor([[3.0, 0.1], [0.0, 0.0], [0.1, 0.0]])
    g = channel_exponent(w, torch.tensor([6, 6, 6]), min_frac=4)
    assert g.tolist() == [4, 4, 8]


def test_quant_weight_range_mask_and_power_of_two_saturation() -> None:
    torch.manual_seed(0)
    lin = QuantLinear(16, 4, weight_bits=5)
    with torch.no_grad():
        lin.weight[0, 0] = 0.5  # exactly a power of two: top code saturates to 15
        lin.weight[0, 1:] = 0.01
        lin.mask[1, ::2] = 0
    q, w = lin.quant_weight()
    assert q.abs().max() <= 15 and q.min() >= -16
    assert int(q[0, 0]) == 15
    assert torch.all(q[1, ::2] == 0) and torch.all(w[1, ::2] == 0)
    g = lin.exponent().to(torch.float64)
    assert torch.equal(w.double() * 2.0 ** g.unsqueeze(1), q.double())


def test_bias_sits_at_accumulator_scale_with_half_up() -> None:
    lin = QuantLinear(2, 2, weight_bits=4)
    lin.in_frac = 3
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, 0.25], [0.5, 0.25]]))  # g = 4 -> bias scale 2**-7
        lin.bias.copy_(torch.tensor([2.5, -2.5]) / 2**7)
    assert lin.exponent().tolist() == [4, 4]
    qb, _ = lin.quant_bias()
    assert qb.tolist() == [3.0, -2.0]


def test_straight_through_gradients_and_act_clamp() -> None:
    lin = QuantLinear(3, 2, weight_bits=4)
    with torch.no_grad():
        # Row 0: max |w| = 0.4753 gives g = 4, codes in [-8, 7]; 0.4423 * 16 = 7.08 clips to 7.
        lin.weight.copy_(torch.tensor([[-0.4753, -0.0535, 0.4423], [-0.4871, -0.0667, 0.2582]]))
    lin.in_frac, lin.quant_enabled = 0, True
    x = torch.tensor([[1.0, 2.0, 3.0]])
    lin(x).sum().backward()
    # Straight through where the code is in range (d/dw = x), zero where the clamp saturates.
    assert lin.weight.grad is not None
    assert lin.weight.grad.tolist() == [[1.0, 2.0, 0.0], [1.0, 2.0, 3.0]]
    aq = ActQuant(4, 2, signed=False)
    aq.enabled = True
    v = torch.tensor([-1.0, 0.125, 0.3, 10.0], requires_grad=True)
    out = aq(v)
    assert out.tolist() == [0.0, 0.25, 0.25, 3.75]
    out.sum().backward()
    assert v.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # no gradient where saturated


def test_cubic_schedule_ramps_to_the_target() -> None:
    sched = cubic_schedule(0.8, 3)
    assert sched[-1] == pytest.approx(0.8) and sched == sorted(sched)
    assert sched[0] > 0.8 / 3  # prunes hardest first
