"""Method 2 (joint channel pruning + channel-wise mixed precision) on a tiny MLP and CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from compress.data import load_digits_flat, load_digits_images
from compress.export import export_net
from compress.methods.mixed import ChannelChoice, MixedParams, compress_mixed, search_costs
from compress.models import digits_cnn, digits_mlp
from compress.reference import reference_trace
from compress.trace import from_module
from compress.train import Batches, deterministic, train_epochs
from zerogate import golden, ir
from zerogate.errors import ConfigError
from zerogate.ir import Network

TINY = MixedParams(lam=5.0, search_epochs=4, finetune_epochs=2, alpha_lr=0.2)


def _float_net(build, ds, epochs: int = 4):
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    with deterministic(0):
        m = build()
        gen = torch.Generator().manual_seed(0)
        train_epochs(m, Batches(x, y, 64), epochs, 1e-2, generator=gen, phase="float")
    return from_module(m, x[:128], input_format=ds.input_format), x, y


def _compress(build, ds, params: MixedParams = TINY, seed: int = 0):
    q, x, y = _float_net(build, ds)
    info = compress_mixed(q, x, y, params, seed)
    return q, export_net(q, "tiny", {"method": "mixed"}), info


def _mismatches(q, net: Network, x_int: np.ndarray) -> int:
    ref, gold = reference_trace(q, x_int), golden.trace(net, x_int)
    return sum(int(np.count_nonzero(r != t.out)) for r, t in zip(ref, gold, strict=True))


@pytest.fixture(scope="module")
def mlp():
    ds = load_digits_flat(0)
    q, net, info = _compress(lambda: digits_mlp(12), ds)
    return ds, q, net, info


def test_mlp_ir_valid_bit_exact_and_pruned(mlp, tmp_path: Path) -> None:
    ds, q, net, info = mlp
    bits = np.array(info["channel_bits"][0])
    assert (bits == 0).any() and (bits > 0).any(), bits  # λ = 5 prunes some hidden channels
    fc0, fc1 = net.weight_layers
    assert fc0.out_features == int((bits > 0).sum())  # pruned channels are gone ...
    assert fc1.in_features == fc0.out_features  # ... and so are the next layer's inputs
    assert fc0.weight_bits.tolist() == bits[bits > 0].tolist()  # per-channel widths exported
    assert set(fc0.weight_bits.tolist()) <= {2, 4, 8}
    assert fc1.out_features == 10 and 0 not in info["channel_bits"][1]  # logits are never pruned
    assert _mismatches(q, net, ds.test_int) == 0
    back = ir.load(ir.save(net, tmp_path / "ir"))
    pairs = zip(back.weight_layers, net.weight_layers, strict=True)
    for a, b in pairs:
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.weight_bits, b.weight_bits)


def test_cnn_pruned_conv_channels_bit_exact() -> None:
    ds = load_digits_images(0)
    q, net, info = _compress(lambda: digits_cnn(4, 6), ds, MixedParams(lam=20.0, search_epochs=3,
                                                                          finetune_epochs=1, alpha_lr=0.2))
    kept = [int(np.count_nonzero(b)) for b in info["channel_bits"]]
    convs = [ly for ly in net.weight_layers if ly.kind != "dense"]
    assert [c.out_features for c in convs] == kept[:2]
    assert sum(kept[:2]) < 10  # something was pruned
    assert _mismatches(q, net, ds.test_int[:200]) == 0


def test_sequential_schedule_keeps_stage_one_pruning() -> None:
    """Prune search, then a precision search on the survivors: pruned channels stay out."""
    ds = load_digits_flat(0)
    params = MixedParams(lam=5.0, search_epochs=3, finetune_epochs=1, alpha_lr=0.2, schedule="sequential")
    events: list = []
    q, x, y = _float_net(lambda: digits_mlp(12), ds)
    info = compress_mixed(q, x, y, params, 0, events.append)
    assert [e.phase for e in events if e.completed == 1] == ["prune search", "search", "fine-tune"]
    bits = np.array(info["channel_bits"][0])
    assert (bits == 0).any() and set(bits[bits > 0].tolist()) <= {2, 4, 8}
    net = export_net(q, "seq")
    assert net.weight_layers[0].out_features == int((bits > 0).sum())
    assert _mismatches(q, net, ds.test_int) == 0


def test_same_seed_same_ir() -> None:
    ds = load_digits_flat(0)
    a = _compress(lambda: digits_mlp(8), ds, MixedParams(search_epochs=2, finetune_epochs=1), seed=3)[1]
    b = _compress(lambda: digits_mlp(8), ds, MixedParams(search_epochs=2, finetune_epochs=1), seed=3)[1]
    for la, lb in zip(a.weight_layers, b.weight_layers, strict=True):
        assert np.array_equal(la.weight, lb.weight) and np.array_equal(la.weight_bits, lb.weight_bits)


def test_costs_follow_the_choice() -> None:
    """All mass on 8 bits costs more than all on 2 bits; all on 0 bits costs (almost) nothing."""
    from compress.methods.mixed import _LayerGeom

    geom = [_LayerGeom(fan_in=64, n_out=4, positions=1), _LayerGeom(fan_in=4, n_out=3, positions=1)]
    chs = [ChannelChoice(4, (0, 2, 4, 8), torch.float64), ChannelChoice(3, (2, 4, 8), torch.float64)]

    def cost(k0: int) -> dict[str, float]:
        with torch.no_grad():
            chs[0].alpha.zero_()
            chs[0].alpha[:, k0] = 100.0
        return {k: float(v.detach()) for k, v in search_costs(chs, geom, lanes=4).items()}

    c0, c2, c8 = cost(0), cost(1), cost(3)
    assert c0["size"] < c2["size"] < c8["size"]
    assert c0["latency"] < c2["latency"] == pytest.approx(c8["latency"])  # the folded engine: bits are free


@pytest.mark.parametrize(("d", "msg"), [
    ({"precisions": [0, 1, 8]}, "1 bits is out of range"),
    ({"precisions": [0, 16]}, "16 bits is out of range"),
    ({"precisions": [0]}, "at least one nonzero"),
    ({"lambda": -0.5}, "λ must be >= 0"),
    ({"cost": "energy"}, "cost must be"),
    ({"search_epochs": 2.5}, "must be an integer"),
    ({"tau_end": 10.0}, "tau_end"),
    ({"epochs": 3}, "unknown key 'epochs'"),
    ({"schedule": "random"}, "schedule must be"),
])
def test_bad_params(d: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        MixedParams.from_dict(d)


@pytest.mark.slow
def test_mixed_ir_on_verilator_bit_exact(mlp, tmp_path: Path) -> None:
    from hwgen.verilog import generate
    from sim.runner import simulate

    ds, _, net, _ = mlp
    design = generate(net, tmp_path / "rtl")
    r = simulate(design, net, ds.test_int[:60], tmp_path / "sim")
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match) == (60, 60)
