"""The sequential baseline (magnitude pruning with fine-tuning, then QAT) on the MLP and CNN."""

from __future__ import annotations

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


def test_bad_params() -> None:
    with pytest.raises(ConfigError, match="qat_lr = 0 is outside"):
        SequentialParams.from_dict({"qat_lr": 0})
