"""Method 3 (SQuantizer: one pass, sparsify then quantize every step) on the MLP and the 1-D CNN."""

from __future__ import annotations

import pytest
import torch

from compress.methods import run_method
from compress.methods.common import float_model, load_data, to_qnet
from compress.methods.squantizer import SQuantizerParams, squantize, zscores
from zerogate.errors import ConfigError

TINY = {"sparsity": 0.9, "epochs": 3, "ramp_epochs": 2, "weight_bits": 2, "act_bits": 4}


@pytest.fixture(scope="module")
def mlp():
    return run_method("squantizer", "digits-mlp", TINY, seed=0)


def test_mlp_valid_bit_exact_at_target(mlp) -> None:
    assert mlp.reference_mismatches == 0
    assert mlp.sparsity >= 0.9 - 0.002
    assert all(set(ly.weight_bits.tolist()) == {2} for ly in mlp.net.weight_layers)
    hidden = mlp.net.weight_layers[:-1]
    assert all(ly.output.bits == 4 for ly in hidden)  # activations quantized too


def test_conv1d_valid_bit_exact_at_target() -> None:
    res = run_method("squantizer", "kws1d", {**TINY, "weight_bits": 4, "sparsity": 0.8}, seed=0)
    assert res.reference_mismatches == 0
    assert res.sparsity >= 0.8 - 0.002
    assert res.net.weight_layers[0].kind.value == "conv1d"


def test_one_shared_sigma_per_step() -> None:
    """The kept weights of every layer are exactly those above mean + σ·std of that layer's |W|."""
    data = load_data("digits-mlp")
    m, _, _ = float_model("digits-mlp", data, 0)
    q = to_qnet(m, data, 8)
    params = SQuantizerParams(sparsity=0.7, epochs=2, ramp_epochs=1)
    squantize(q, data.batches(64), params, torch.Generator().manual_seed(0))
    layers = q.weight_layers()
    kept = sum(int(ly.mask.sum()) for ly in layers)
    assert kept == round(0.3 * sum(ly.mask.numel() for ly in layers))
    z = zscores(q)
    sigma = min(float(s[ly.mask.bool()].min()) for s, ly in zip(z, layers, strict=True))
    for s, ly in zip(z, layers, strict=True):
        assert bool((s[~ly.mask.bool()] <= sigma).all())  # nothing pruned ranks above the shared σ
    assert any(bool((ly.weight[~ly.mask.bool()] != 0).any()) for ly in layers)  # not zeroed: may return


@pytest.mark.parametrize(("d", "msg"), [
    ({"ramp_epochs": 10, "epochs": 5}, "ramp_epochs = 10 exceeds epochs = 5"),
    ({"epochs": 0}, "epochs = 0 is outside"),
    ({"act_bits": 40}, "act_bits = 40 is outside"),
])
def test_bad_params(d: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        SQuantizerParams.from_dict(d)
