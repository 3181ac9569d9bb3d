"""The sequential baseline (magnitude pruning with fine-tuning, then QAT) on the MLP and CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compress.methods import run_method
from compress.methods.sequential import SequentialParams
from zerogate.errors import ConfigError

TINY = {"sparsity": 0.85, "prune_steps": 2, "finetune_epochs": 1, "qat_epochs": 1}


@pytest.fixture(scope="module")
def mlp():
    return run_method("sequential", "digits-mlp", TINY, seed=0)


def test_mlp_valid_bit_exact_at_target(mlp) -> None:
    assert mlp.reference_mismatches == 0
    assert mlp.sparsity >= 0.85 - 0.002
    assert all(set(ly.weight_bits.tolist()) == {4} for ly in mlp.net.weight_layers)
    assert mlp.net.metadata["method"] == "sequential"


def test_cnn_valid_bit_exact_at_target() -> None:
    res = run_method("sequential", "digits-cnn", {**TINY, "weight_bits": 3, "act_bits": 6}, seed=0)
    assert res.reference_mismatches == 0
    assert res.sparsity >= 0.85 - 0.002
    assert all(set(ly.weight_bits.tolist()) == {3} for ly in res.net.weight_layers)
    assert [ly.output.bits for ly in res.net.weight_layers][:2] == [6, 6]


def test_same_seed_same_ir() -> None:
    a = run_method("sequential", "digits-mlp", TINY, seed=2).net
    b = run_method("sequential", "digits-mlp", TINY, seed=2).net
    for la, lb in zip(a.weight_layers, b.weight_layers, strict=True):
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.bias, lb.bias)


def test_bad_params() -> None:
    with pytest.raises(ConfigError, match="qat_lr = 0 is outside"):
        SequentialParams.from_dict({"qat_lr": 0})


@pytest.mark.slow
def test_sequential_ir_on_verilator_bit_exact(mlp, tmp_path: Path) -> None:
    from hwgen.verilog import generate
    from sim.runner import simulate

    design = generate(mlp.net, tmp_path / "rtl")
    r = simulate(design, mlp.net, mlp.test_x[:60], tmp_path / "sim")
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match) == (60, 60)
