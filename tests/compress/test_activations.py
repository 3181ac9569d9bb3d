"""Clamp-type activations, LeakyReLU(2^-k) and a final softmax, from the user's module to the IR:
the PyTorch reference equals the golden model on every input integer, clamp bounds land where the
spec says, and every unsupported combination is one line naming the op, its path and the fix."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compress.export import export_net
from compress.reference import reference_trace
from compress.trace import from_module
from zerogate import golden
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import ActKind, FixedFormat


class _Net(nn.Module):
    """Linear(3, 5) with large weights (pre-activations well past every bound), ``act``, Linear(5, 2)."""

    def __init__(self, act) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 5)
        self.act = act
        self.out = nn.Linear(5, 2)
        with torch.no_grad():
            self.fc.weight.mul_(8)
            self.fc.bias.copy_(torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.fc(x)))


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


#: name -> (activation module, IR kind, real clamp bounds or LeakyReLU's k)
CASES = {
    "Hardtanh": (nn.Hardtanh(-0.7, 1.3), ActKind.CLAMP, (-0.7, 1.3)),
    "ReLU6": (nn.ReLU6(), ActKind.CLAMP, (0.0, 6.0)),
    "F.hardtanh": (_Fn(lambda x: F.hardtanh(x, -1.5, 0.25)), ActKind.CLAMP, (-1.5, 0.25)),
    "F.relu6": (_Fn(F.relu6), ActKind.CLAMP, (0.0, 6.0)),
    "torch.clamp": (_Fn(lambda x: torch.clamp(x, -1.1, 2.05)), ActKind.CLAMP, (-1.1, 2.05)),
    "clamp_min": (_Fn(lambda x: torch.clamp_min(x, -0.3)), ActKind.CLAMP, (-0.3, math.inf)),
    "x.clamp_max": (_Fn(lambda x: x.clamp_max(0.9)), ActKind.CLAMP, (-math.inf, 0.9)),
    "x.clamp(min=0)": (_Fn(lambda x: x.clamp(min=0)), ActKind.RELU, None),
    "ReLU then ReLU6": (nn.Sequential(nn.ReLU(), nn.ReLU6()), ActKind.CLAMP, (0.0, 6.0)),
    "LeakyReLU(0.5)": (nn.LeakyReLU(0.5), ActKind.LEAKY, 1),
    "LeakyReLU(0.25)": (nn.LeakyReLU(0.25), ActKind.LEAKY, 2),
    "F.leaky_relu 1/8": (_Fn(lambda x: F.leaky_relu(x, 0.125)), ActKind.LEAKY, 3),
}


@pytest.mark.parametrize("name", CASES)
def test_activation_reference_equals_golden_on_every_integer(name: str) -> None:
    act, kind, param = CASES[name]
    torch.manual_seed(0)
    model = _Net(act).eval()
    fmt = FixedFormat(4, 2, True)
    x_all = np.array(np.meshgrid(*[np.arange(fmt.min_int, fmt.max_int + 1)] * 3)).reshape(3, -1).T  # 4096
    x_real = torch.from_numpy(x_all * fmt.scale).double()
    q = from_module(model, x_real.float(), input_format=fmt, weight_bits=6, act_bits=7).double()
    q.calibrate(x_real)
    net = export_net(q, name)
    hidden = net.layers[0]
    assert hidden.activation.kind is kind
    lo_i, hi_i = hidden.activation.bounds(hidden.output)
    if kind is ActKind.CLAMP:  # bounds rounded half up onto the output grid, clipped to the format
        lo, hi = param
        grid = [math.floor(v * 2**hidden.output.frac + 0.5) if math.isfinite(v) else None for v in (lo, hi)]
        assert lo_i == max(hidden.output.min_int, grid[0] if grid[0] is not None else -10**9)
        assert hi_i == min(hidden.output.max_int, grid[1] if grid[1] is not None else 10**9)
    if kind is ActKind.LEAKY:
        assert hidden.activation.shift == param and hidden.output.signed
    gold = golden.trace(net, x_all)
    ref = reference_trace(q, x_all)
    assert all(np.array_equal(r, t.out) for r, t in zip(ref, gold, strict=True))
    out = gold[0].out
    if kind is ActKind.CLAMP:  # every finite bound is reached (pre-activations go well past them)
        assert (out.min() == lo_i or math.isinf(param[0])) and (out.max() == hi_i or math.isinf(param[1]))
    if kind is ActKind.LEAKY:
        assert out.min() < 0 and gold[0].acc.min() < 0


def test_final_softmax_is_dropped_with_a_note() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU6(), nn.Linear(6, 3), nn.Softmax(dim=1)).eval()
    x = torch.rand(64, 4) * 2 - 1
    q = from_module(model, x)
    assert q.dropped_head == "Softmax at '3' dropped: argmax is unchanged"
    q.double().calibrate(x.double())
    net = export_net(q, "clf", {"origin": "test"})
    assert net.metadata == {"origin": "test", "dropped_head": "Softmax at '3' dropped: argmax is unchanged"}
    assert net.out_features == 3
    f = q.input_format
    xi = np.random.default_rng(0).integers(f.min_int, f.max_int + 1, (300, 4))
    with torch.no_grad():  # argmax of the quantized logits == argmax of the softmax of them
        probs = torch.softmax(torch.from_numpy(reference_trace(q, xi)[-1]).double(), 1)
    assert np.array_equal(golden.predict(net, xi), probs.argmax(1).numpy())


@pytest.mark.parametrize("fn", [F.log_softmax, lambda x: x.softmax(-1)])
def test_functional_softmax_heads(fn) -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return fn(self.fc(x), 1) if fn is F.log_softmax else fn(self.fc(x))

    q = from_module(M(), torch.rand(8, 4))
    assert "dropped: argmax is unchanged" in q.dropped_head


def _seq(*mods: nn.Module) -> nn.Module:
    return nn.Sequential(*mods)


class _Lin(nn.Module):
    """Linear(4, 4) then ``fn`` in the top-level forward (functional spellings)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fc, self.fn = nn.Linear(4, 4), fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.fc(x))


REFUSED = {
    "LeakyReLU(0.2)": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU(0.2)),
                       "LeakyReLU at '1': negative_slope=0.2 is not a power of two 2^-k (k = 1..16), which "
                       "the hardware needs (an exact shift); use negative_slope=0.25 (2^-2)"),
    "LeakyReLU default": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU()),
                          "use negative_slope=0.0078125 (2^-7)"),
    "LeakyReLU(0.1)": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU(0.1)), "use negative_slope=0.125 (2^-3)"),
    "LeakyReLU(1)": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU(1.0)), "use negative_slope=0.5 (2^-1)"),
    "LeakyReLU(-0.5)": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU(-0.5)), "negative_slope=-0.5 is not"),
    "F.leaky_relu(0.3)": (lambda: _Lin(lambda x: F.leaky_relu(x, 0.3)),
                          "leaky_relu at the top-level forward: negative_slope=0.3"),
    "clamp min > max": (lambda: _Lin(lambda x: torch.clamp(x, 2.0, 1.0)),
                        "clamp at the top-level forward: min 2.0 is not below max 1.0, so the output would "
                        "be a constant; use min < max"),
    "x.clip min == max": (lambda: _Lin(lambda x: x.clip(0.5, 0.5)), "clip at the top-level forward: min 0.5"),
    "leaky then hardtanh": (lambda: _seq(nn.Linear(4, 4), nn.LeakyReLU(0.5), nn.Hardtanh()),
                            "a second activation on one layer (leaky then clamp); keep one activation per"),
    "disjoint clamps": (lambda: _seq(nn.Linear(4, 4), nn.ReLU(), nn.Hardtanh(-3.0, -1.0)),
                        "clamps [0.0, inf] then [-3.0, -1.0] leave a constant output; remove one"),
    "clamp after avgpool": (lambda: _seq(nn.Conv1d(1, 2, 3), nn.AvgPool1d(2), nn.ReLU6()),
                            "follows average pooling, so it cannot become a layer's output format"),
    "hardtanh on input": (lambda: _seq(nn.Hardtanh(), nn.Linear(4, 2)), "follows the network input"),
    "softmax not last": (lambda: _seq(nn.Linear(4, 4), nn.Softmax(dim=1), nn.Linear(4, 2)),
                         "Softmax at '1' is not the model's last op; a softmax is only supported as the "
                         "output head (it is dropped: argmax is unchanged), so move it to the end or remove "
                         "it"),
    "softmax wrong dim": (lambda: _seq(nn.Linear(4, 4), nn.Softmax(dim=0)),
                          "Softmax at '1': dim=0 over an input of shape (n, 4); only a softmax over the"),
    "softmax over a feature map": (lambda: _seq(nn.Conv1d(1, 2, 3), nn.Softmax(dim=1)), "shape (n, 2, 8)"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_unsupported_activation_combinations_are_one_line_with_the_fix(name: str) -> None:
    make, match = REFUSED[name]
    shape = (2, 1, 10) if "avgpool" in name or "feature map" in name else (2, 4)
    with pytest.raises(UnsupportedError) as e:
        from_module(make(), torch.rand(shape))
    msg = str(e.value)
    assert match in msg and "\n" not in msg
