from types import SimpleNamespace

import pytest


@pytest.fixture(autouse=True)
def _seeded_torch() -> None:
    """Every test starts from the same torch RNG state: under pytest-xdist the order (and so the
    global state a test inherits) changes from run to run, and an unseeded layer init once made a
    gradient assertion fail on a weight that happened to saturate."""
    import torch

    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_result() -> SimpleNamespace:
    """The digits MLP after a few epochs of method 1 (enough to exercise every code path, and the
    bit-exactness, which does not depend on how well it is trained): the trained QuantNet
    (``model``), its IR (``net``), the test split and the measured result."""
    from compress.methods.common import finish, float_model, load_data, to_qnet
    from compress.methods.taylor import TaylorParams, apply_taylor

    data = load_data("digits-mlp")
    m, acc, _ = float_model("digits-mlp", data, 0, epochs=4)
    params = TaylorParams(sparsity=0.85, prune_steps=2, finetune_epochs=2, qat_epochs=2, weight_bits=6)
    q = to_qnet(m, data, params.act_bits)
    meta = {"seed": 0, **apply_taylor(q, data, params, 0, m)}
    res = finish(q, "digits-mlp", "taylor", data, acc, 0.0, meta)
    return SimpleNamespace(net=res.net, model=q, test_x=res.test_x, test_y=res.test_y, result=res)
