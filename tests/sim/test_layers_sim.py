"""Models with Hardtanh, ReLU6, LeakyReLU(0.25) and a softmax classifier with the argmax head:
from the user's module (compress.trace.from_module) through the IR to Verilog, bit-exact on
Verilator in both engine styles."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compress.export import export_net
from compress.reference import reference_trace
from compress.trace import from_module
from hwgen.verilog import generate, load_design
from sim.runner import simulate
from zerogate import golden, ir
from zerogate.fixedpoint import ActKind


def _export(model: nn.Module, n_in: int, tmp_path: Path, **kw: int) -> tuple[ir.Network, np.ndarray]:
    """Trace, calibrate, export, save and load the IR; inputs: corners and uniform integers."""
    torch.manual_seed(0)
    x = torch.rand(128, n_in) * 4 - 2
    q = from_module(model.eval(), x, weight_bits=5, **kw).double()
    q.calibrate(x.double())
    ir.save(export_net(q, "layers"), tmp_path / "ir")
    net = ir.load(tmp_path / "ir")
    f = net.input
    rng = np.random.default_rng(0)
    xi = np.concatenate([np.full((1, n_in), f.min_int), np.full((1, n_in), f.max_int),
                         rng.integers(f.min_int, f.max_int + 1, (118, n_in))])
    assert all(np.array_equal(r, t.out) for r, t in zip(reference_trace(q, xi), golden.trace(net, xi),
                                                        strict=True))
    return net, xi


def _mlp() -> nn.Module:
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(6, 8), nn.Hardtanh(-0.75, 1.25), nn.Linear(8, 8), nn.ReLU6(),
                      nn.Linear(8, 6), nn.LeakyReLU(0.25), nn.Linear(6, 3))
    with torch.no_grad():
        m[2].weight.mul_(6)  # the ReLU6 layer's pre-activations pass 6, so its clamp stays in the IR
    return m


@pytest.mark.slow
@pytest.mark.parametrize("style", ["unrolled", "folded"])
def test_activation_mlp_bit_exact_on_verilator(style: str, tmp_path: Path) -> None:
    net, xi = _export(_mlp(), 6, tmp_path)
    kinds = [ly.activation.kind for ly in net.layers]
    assert kinds == [ActKind.CLAMP, ActKind.CLAMP, ActKind.LEAKY, ActKind.NONE]
    traces = golden.trace(net, xi)
    assert all(t.saturated > 0 for t in traces[:2])  # both clamps fire on these inputs
    assert (traces[2].acc < 0).any()  # LeakyReLU's negative branch is exercised
    design = generate(net, tmp_path / "rtl", style=style, lanes=2)
    r = simulate(design, net, xi, tmp_path / "sim", seed=1, gaps=True, backpressure=True)
    assert r.ok and (r.n_vectors, r.n_match) == (120, 120), r.summary()
    assert r.latency == design.latency and r.cycles_per_inference == design.ii


@pytest.mark.slow
@pytest.mark.parametrize("style", ["unrolled", "folded"])
def test_softmax_classifier_with_argmax_head_on_verilator(style: str, tmp_path: Path) -> None:
    """The softmax is dropped (noted in the IR); the RTL streams the class index, which must equal
    golden.predict on every vector, ties included (4-bit logits tie often)."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.Softmax(dim=1))
    net, xi = _export(model, 6, tmp_path, output_bits=4)
    assert "argmax is unchanged" in net.metadata["dropped_head"]
    logits = golden.run(net, xi)
    assert (np.sum(logits == logits.max(axis=1, keepdims=True), axis=1) > 1).sum() > 10  # ties
    design = generate(net, tmp_path / "rtl", style=style, lanes=2, out_lanes=2, head="argmax")
    assert (design.head, design.out_lanes, design.beats_out) == ("argmax", 1, 1)
    head = design.layers[-1]
    assert (head.name, head.out_features, head.out_bits, head.out_signed) == ("argmax", 1, 3, False)
    assert load_design(tmp_path / "rtl") == design
    r = simulate(design, net, xi, tmp_path / "sim", seed=2, gaps=True, backpressure=True)
    assert r.ok and (r.n_vectors, r.n_match) == (120, 120), r.summary()
    assert r.latency == design.latency and r.cycles_per_inference == design.ii
