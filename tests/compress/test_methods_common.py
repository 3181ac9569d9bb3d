"""The shared method API: registry, run_method's errors, params checking, masks, MethodResult."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compress.methods import METHODS, run_method
from compress.methods.common import MethodParams, MethodResult, global_masks
from compress.quant import QuantLinear
from zerogate import ir
from zerogate.errors import ConfigError


def test_registry_lists_every_method_with_a_params_class() -> None:
    assert {"taylor", "squantizer", "sequential"} <= set(METHODS)
    for name, m in METHODS.items():
        assert m.name == name
        assert callable(m.params.from_dict)
        assert isinstance(m.params(), m.params)  # defaults are valid


def test_unknown_method_and_model_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown method 'nope': choose one of .*sequential"):
        run_method("nope", "digits-mlp")
    with pytest.raises(ConfigError, match=r"unknown model 'resnet': choose one of .*digits-mlp"):
        run_method("taylor", "resnet")
    with pytest.raises(ConfigError, match="unknown key 'epochz' for method 'sequential'"):
        run_method("sequential", "digits-mlp", {"epochz": 3})
    with pytest.raises(ConfigError, match="takes TaylorParams parameters"):
        run_method("taylor", "digits-mlp", METHODS["sequential"].params())


@pytest.mark.parametrize("method", ["taylor", "squantizer", "sequential"])
@pytest.mark.parametrize(("d", "msg"), [
    ({"sparsity": 1.0}, r"sparsity = 1.0 is outside \[0.0, 1.0\)"),
    ({"sparsity": -0.1}, "sparsity = -0.1 is outside"),
    ({"weight_bits": 1}, "weight_bits = 1 is outside 2..8"),
    ({"weight_bits": 17}, "weight_bits = 17 is outside"),
    ({"act_bits": 1}, "act_bits = 1 is outside"),
    ({"weight_bits": 4.0}, "weight_bits must be an integer"),
    ({"bogus": 1}, "unknown key 'bogus'"),
])
def test_bad_params_are_config_errors(method: str, d: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        METHODS[method].params.from_dict(d)


@pytest.mark.parametrize(("method", "key"), [("taylor", "qat_epochs"), ("taylor", "finetune_epochs"),
                                             ("sequential", "qat_epochs"), ("squantizer", "epochs")])
def test_negative_epochs_rejected(method: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} = -1 is outside"):
        METHODS[method].params.from_dict({key: -1})


def test_params_from_dict_turns_lists_into_tuples() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class P(MethodParams):
        xs: tuple[int, ...] = ()

    assert P.from_dict({"xs": [1, 2]}) == P((1, 2))


def test_global_masks_hit_the_target_and_never_empty_a_layer() -> None:
    torch.manual_seed(0)
    big, small = QuantLinear(32, 16), QuantLinear(16, 4)
    with torch.no_grad():
        small.weight.mul_(1e-3)  # globally, every weight of this layer ranks last
    layers = [big, small]
    global_masks(layers, [ly.weight.abs() for ly in layers], 0.9)
    kept = [int(ly.mask.sum()) for ly in layers]
    assert kept[1] == 1  # the best weight of the small layer survives
    assert sum(kept) == round(0.1 * (512 + 64)) + 1
    assert torch.equal(big.weight == 0, big.mask == 0)  # pruned weights are zeroed


def test_run_method_result_is_checked_and_saved(tmp_path) -> None:
    res = run_method("sequential", "digits-mlp",
                     {"sparsity": 0.8, "prune_steps": 1, "finetune_epochs": 1, "qat_epochs": 1})
    assert isinstance(res, MethodResult)
    assert res.reference_mismatches == 0 and res.torch_matches_golden
    assert res.network is res.net and res.compressed_accuracy == res.accuracy
    assert res.ratio_vs_float32 == pytest.approx(4 * res.ratio_vs_int8)
    assert res.sparsity >= 0.799 and 0.0 < res.accuracy <= 1.0  # round(0.2·N) kept
    assert res.test_x.shape[0] == res.test_y.shape[0] > 0
    assert res.net.metadata["method"] == "sequential" and res.net.metadata["model"] == "digits-mlp"
    back = ir.load(ir.save(res.net, tmp_path / "ir"))
    for a, b in zip(back.weight_layers, res.net.weight_layers, strict=True):
        assert np.array_equal(a.weight, b.weight)
    assert "torch == golden: True" in res.summary()


#: Per method, a few epochs per phase on the digits MLP: every code path, in about a second.
TINY = {
    "taylor": {"sparsity": 0.9, "prune_steps": 1, "finetune_epochs": 1, "qat_epochs": 1, "score_batches": 4},
    "squantizer": {"sparsity": 0.9, "epochs": 3, "ramp_epochs": 2, "weight_bits": 2, "act_bits": 4},
    "sequential": {"sparsity": 0.85, "prune_steps": 2, "finetune_epochs": 1, "qat_epochs": 1},
}


@pytest.mark.parametrize("method", sorted(TINY))
def test_same_seed_same_ir(method: str) -> None:
    from compress.methods import common

    a = run_method(method, "digits-mlp", TINY[method], seed=5).net
    common._FLOAT_CACHE.clear()  # the second run re-trains the float model from the seed too
    b = run_method(method, "digits-mlp", TINY[method], seed=5).net
    for la, lb in zip(a.weight_layers, b.weight_layers, strict=True):
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.bias, lb.bias)
        assert la.output == lb.output and np.array_equal(la.weight_frac, lb.weight_frac)


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(TINY))
def test_ir_on_verilator_bit_exact(method: str, tmp_path) -> None:
    """Each method's IR, generated into RTL, computes the golden integers on Verilator."""
    from hwgen.verilog import generate
    from sim.runner import simulate

    res = run_method(method, "digits-mlp", TINY[method], seed=0)
    design = generate(res.net, tmp_path / "rtl")
    r = simulate(design, res.net, res.test_x[:60], tmp_path / "sim")
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match) == (60, 60)
