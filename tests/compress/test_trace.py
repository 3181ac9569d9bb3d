"""from_module: torch.fx tracing of user modules into QuantNets, BatchNorm folding, and one clear
UnsupportedError (op name + module path) for everything the IR cannot hold."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compress.bn import fold_bn
from compress.export import export_net
from compress.qnet import PoolStage, WeightStage
from compress.reference import reference_trace
from compress.trace import SUPPORTED, from_module, infer_input_format
from zerogate import golden
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat


def _random_bn(m: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters (a fresh BN is nearly the identity)."""
    g = torch.Generator().manual_seed(seed)
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            bn.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            if bn.affine:
                bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                bn.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return m.eval()


class Functional(nn.Module):
    """Functional ReLU/pool/flatten spellings, a nested block, a bias-free conv, Dropout, Identity."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same", bias=False), nn.BatchNorm2d(4))
        self.drop = nn.Dropout(0.3)
        self.conv = nn.Conv2d(4, 6, 3)
        self.idt = nn.Identity()
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.block(x))
        x = F.max_pool2d(x, 2)
        x = self.drop(x)
        x = torch.relu(self.conv(x))
        x = F.avg_pool2d(x, kernel_size=(2, 2))
        x = self.idt(x.view(x.size(0), -1))
        return self.fc(x)


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv1d(2, 3, 5, stride=2, padding=2)
        self.bn = nn.BatchNorm1d(3, affine=False)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(3, 4, bias=False)
        self.bn2 = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.bn(self.c(x)).relu())
        return self.bn2(self.fc(torch.flatten(x, 1)))


TRACEABLE = {
    "sequential-mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(),
                                             nn.Linear(8, 3)), (8, 4, 4), 2),
    "functional-cnn": (Functional, (8, 1, 8, 8), 5),
    "conv1d-global-pool": (Conv1dNet, (8, 2, 32), 3),
    "relu-after-maxpool": (lambda: nn.Sequential(nn.Conv1d(1, 3, 3), nn.MaxPool1d(2), nn.ReLU(inplace=True),
                                                 nn.Flatten(), nn.Linear(3 * 7, 2)), (8, 1, 16), 3),
}


@pytest.mark.parametrize("name", TRACEABLE)
def test_traced_net_computes_the_model_and_exports_bit_exact(name: str) -> None:
    make, shape, n_nodes = TRACEABLE[name]
    torch.manual_seed(0)
    model = _random_bn(make())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(shape) * 2 - 0.5
    q = from_module(model, x, weight_bits=6)
    assert len(q.ir_stages()) == n_nodes and q.in_shape == shape[1:]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert q.weight_layers()[0].weight.dtype == torch.float32  # the model's dtype, ready for training
    with torch.no_grad():  # BatchNorm folded (from_module checks 1e-9 in float64, before float32)
        want = model.double()(x.double()).flatten(1)
        got = q.double()(x.double())
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    q.calibrate(x.double())
    net = export_net(q, name)
    f = q.input_format
    xi = np.random.default_rng(0).integers(f.min_int, f.max_int + 1, (200, *shape[1:]))
    gold = golden.trace(net, xi.reshape(200, -1))
    assert all(np.array_equal(r, t.out) for r, t in zip(reference_trace(q, xi), gold, strict=True))


def test_relu_placement_and_formats() -> None:
    q = from_module(TRACEABLE["relu-after-maxpool"][0](), torch.rand(4, 1, 16), act_bits=6, output_bits=12)
    conv, pool, fc = q.ir_stages()
    assert isinstance(conv, WeightStage) and conv.relu and conv.act.fmt.bits == 6 and not conv.act.signed
    assert isinstance(pool, PoolStage) and pool.kind == "max"
    assert not fc.relu and fc.act.signed and fc.act.bits == 12


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_bn_folding_is_exact_in_float64(affine: bool, bias: bool) -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, bias=bias).double()
    bn = _random_bn(nn.BatchNorm2d(5, affine=affine)).double()
    x = torch.randn(4, 3, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        want = bn(conv(x))
        fold_bn(conv, bn)
        got = conv(x)
    assert conv.bias is not None and torch.allclose(got, want, rtol=1e-12, atol=1e-12)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + x


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(x) * 1 if self.a is None else self.b(self.a(x)) - self.a(x)


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) if x.sum() > 0 else x


def _seq(*mods: nn.Module) -> nn.Module:
    return nn.Sequential(*mods)


UNSUPPORTED = {
    "gelu-module": (lambda: _seq(_seq(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.GELU())), (2, 4),
                    "unsupported op 'GELU' at '0.3': use ReLU"),
    "unknown-module": (lambda: _seq(nn.Linear(4, 4), nn.Hardshrink()), (2, 4),
                       "op 'Hardshrink' at '1': supported are " + SUPPORTED),
    "layernorm": (lambda: _seq(nn.Linear(4, 4), nn.LayerNorm(4)), (2, 4), "use BatchNorm right after"),
    "unbatched": (lambda: _seq(nn.Linear(4, 2)), (4,), "needs a batch [n, *sample_shape]"),
    "sigmoid-module": (lambda: _seq(nn.Linear(4, 4), nn.Sigmoid()), (2, 4), "op 'Sigmoid' at '1'"),
    "tanh-function": (lambda: _Fn(lambda x: torch.tanh(x)), (2, 1), "op 'tanh' at the top-level forward"),
    "residual-add": (Residual, (2, 4), "op 'add' at the top-level forward: write forward as one chain"),
    "branches": (Branchy, (2, 4), "not a single chain"),
    "data-dependent": (DataDependent, (2, 4), "cannot trace DataDependent"),
    "groups": (lambda: _seq(nn.Conv1d(2, 2, 3, groups=2)), (2, 2, 8), "Conv1d at '0': groups=2; only dense "
               "convolutions are supported: use groups=1"),
    "dilation": (lambda: _seq(nn.Conv2d(1, 2, 3, dilation=2)), (2, 1, 8, 8), "dilation=(2, 2)"),
    "padding-mode": (lambda: _seq(nn.Conv1d(1, 2, 3, padding=1, padding_mode="reflect")), (2, 1, 8),
                     "padding_mode='reflect'"),
    "same-even-kernel": (lambda: _seq(nn.Conv1d(1, 2, 4, padding="same")), (2, 1, 8), "even kernel"),
    "avgpool-3": (lambda: _seq(nn.Conv1d(1, 2, 3), nn.AvgPool1d(3)), (2, 1, 9), "power-of-two window"),
    "avgpool-3x2-functional": (lambda: _Fn(lambda x: F.avg_pool2d(x, (3, 2))), (2, 1, 6, 6), "6 elements"),
    "pool-padding": (lambda: _seq(nn.Conv1d(1, 2, 3), nn.MaxPool1d(2, padding=1)), (2, 1, 9), "padding=1"),
    "bn-after-relu": (lambda: _seq(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4)), (2, 4),
                      "BatchNorm at '2' does not directly follow"),
    "bn-batch-stats": (lambda: _seq(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)), (2, 4),
                       "track_running_stats=False"),
    "relu-after-avgpool": (lambda: _seq(nn.Conv1d(1, 2, 3), nn.AvgPool1d(2), nn.ReLU()), (2, 1, 10),
                           "follows average pooling"),
    "relu-on-input": (lambda: _seq(nn.ReLU(), nn.Linear(4, 2)), (2, 4), "follows the network input"),
    "view-reshape": (lambda: _Fn(lambda x: x.view(-1, 2, 2)), (2, 4), "only flattening"),
    "no-weights": (lambda: _seq(nn.ReLU()), (2, 4), "follows the network input"),
    "only-pool": (lambda: _seq(nn.MaxPool1d(2)), (2, 1, 4), "no Linear or Conv"),
}


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.lin = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_ops_name_the_op_and_path(name: str) -> None:
    make, shape, match = UNSUPPORTED[name]
    with pytest.raises(UnsupportedError) as e:
        from_module(make(), torch.rand(shape))
    msg = str(e.value)
    assert match in msg and "\n" not in msg


def test_input_format_inference() -> None:
    assert infer_input_format(torch.tensor([0.0, 1.0, 3.9])) == FixedFormat(8, 6, False)
    assert infer_input_format(torch.tensor([-1.0, 0.5])) == FixedFormat(8, 6, True)
    q = from_module(nn.Sequential(nn.Linear(4, 2)), torch.rand(3, 4), input_format=FixedFormat(5, 4, False))
    assert q.input_format == FixedFormat(5, 4, False)
