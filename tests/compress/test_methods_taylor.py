"""Method 1 (Taylor-score pruning, then QAT with the mask frozen) on the bundled MLP and CNN."""

from __future__ import annotations

import pytest
import torch

from compress.methods import run_method
from compress.methods.common import load_data, to_qnet
from compress.methods.taylor import TaylorParams, taylor_scores
from compress.train import Batches
from zerogate.errors import ConfigError

#: A few epochs per phase: every code path (bit-exactness does not depend on training quality).
TINY = {"sparsity": 0.9, "prune_steps": 2, "finetune_epochs": 1, "qat_epochs": 1, "score_batches": 4}


def _check(res, target: float, bits: int) -> None:
    assert res.reference_mismatches == 0
    assert res.sparsity >= target - 0.002
    for ly in res.net.weight_layers:
        assert set(ly.weight_bits.tolist()) == {bits}
    assert res.net.metadata["method"] == "taylor"


@pytest.fixture(scope="module")
def mlp():
    return run_method("taylor", "digits-mlp", TINY, seed=0)


def test_mlp_valid_bit_exact_at_target(mlp) -> None:
    _check(mlp, 0.9, 4)
    assert mlp.accuracy > 0.5  # 40 float epochs, then a few: far from chance (10 %)


def test_cnn_valid_bit_exact_at_target() -> None:
    res = run_method("taylor", "digits-cnn", {**TINY, "weight_bits": 6, "distill": 0.0}, seed=0)
    _check(res, 0.9, 6)
    assert [ly.kind.value for ly in res.net.weight_layers][:2] == ["conv2d", "conv2d"]


def test_magnitude_switch_ranks_differently() -> None:
    data = load_data("digits-mlp")
    from compress.methods.common import float_model

    m, _, _ = float_model("digits-mlp", data, 0)
    q = to_qnet(m, data, 8)
    scores = taylor_scores(q, Batches(data.x_train, data.y_train, 64), 4, torch.Generator().manual_seed(0))
    w = [ly.weight.detach().abs() for ly in q.weight_layers()]
    assert all(bool((s >= 0).all()) for s in scores)
    top_t = torch.cat([s.flatten() for s in scores]).argsort(descending=True)[:200]
    top_m = torch.cat([x.flatten() for x in w]).argsort(descending=True)[:200]
    assert len(set(top_t.tolist()) & set(top_m.tolist())) < 200  # a different ranking
    with torch.no_grad():
        q.weight_layers()[0].mask[0].zero_()
    again = taylor_scores(q, Batches(data.x_train, data.y_train, 64), 2, torch.Generator().manual_seed(0))
    assert bool((again[0][0] == 0).all())  # pruned weights score exactly 0


@pytest.mark.parametrize(("d", "msg"), [
    ({"importance": "hessian"}, "importance must be 'taylor' or 'magnitude'"),
    ({"score_batches": 0}, "score_batches = 0 is outside"),
    ({"distill": 1.5}, "distill = 1.5 is outside"),
    ({"prune_steps": 0}, "prune_steps = 0 is outside"),
])
def test_bad_params(d: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        TaylorParams.from_dict(d)
