"""Method 3 (SQuantizer: one pass, sparsify then quantize every step) on the MLP and the 1-D CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    m, _ = float_model("digits-mlp", data, 0)
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


def test_same_seed_same_ir() -> None:
    a = run_method("squantizer", "digits-mlp", TINY, seed=4).net
    b = run_method("squantizer", "digits-mlp", TINY, seed=4).net
    for la, lb in zip(a.weight_layers, b.weight_layers, strict=True):
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.bias, lb.bias)


@pytest.mark.parametrize(("d", "msg"), [
    ({"ramp_epochs": 10, "epochs": 5}, "ramp_epochs = 10 exceeds epochs = 5"),
    ({"epochs": 0}, "epochs = 0 is outside"),
    ({"act_bits": 40}, "act_bits = 40 is outside"),
])
def test_bad_params(d: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        SQuantizerParams.from_dict(d)


@pytest.mark.slow
def test_squantizer_ir_on_verilator_bit_exact(mlp, tmp_path: Path) -> None:
    from hwgen.verilog import generate
    from sim.runner import simulate

    design = generate(mlp.net, tmp_path / "rtl")
    r = simulate(design, mlp.net, mlp.test_x[:60], tmp_path / "sim")
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match) == (60, 60)
