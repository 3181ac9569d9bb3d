"""Convolution and pooling in the golden model against PyTorch's own ops (exact in float64)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import make_conv
from zerogate import golden, ir
from zerogate.errors import IRError
from zerogate.fixedpoint import FixedFormat
from zerogate.ir import LayerKind, Network, Pool

FIN, FH = FixedFormat(5, 4, False), FixedFormat(8, 3, False)


@pytest.mark.parametrize(("kind", "shape", "kernel", "stride", "pad"), [
    (LayerKind.CONV1D, (3, 20), (5,), (1,), (2,)),
    (LayerKind.CONV1D, (2, 17), (3,), (2,), (0,)),
    (LayerKind.CONV2D, (1, 8, 8), (3, 3), (1, 1), (1, 1)),
    (LayerKind.CONV2D, (3, 9, 7), (3, 2), (2, 1), (1, 0)),
])
def test_conv_accumulators_equal_torch(kind, shape, kernel, stride, pad) -> None:
    layer = make_conv("c", kind, shape, 4, kernel, stride, pad, FIN, FH)
    x = np.random.default_rng(1).integers(0, 32, (7, *shape))
    conv = F.conv1d if kind is LayerKind.CONV1D else F.conv2d
    want = conv(torch.from_numpy(x).double(), torch.from_numpy(layer.weight).double(),
                torch.from_numpy(layer.bias).double(), stride=stride, padding=pad)
    got = golden.run_layer(layer, x)
    assert got.acc.shape == (7, *layer.out_shape)
    assert np.array_equal(got.acc, want.numpy().astype(np.int64))


@pytest.mark.parametrize("kind", [LayerKind.MAXPOOL, LayerKind.AVGPOOL])
@pytest.mark.parametrize(("shape", "kernel", "stride"), [((3, 8, 6), (2, 2), (2, 2)), ((2, 9), (4,), (2,))])
def test_pool_equals_torch(kind, shape, kernel, stride) -> None:
    pool = Pool("p", kind, shape, kernel, stride, FH)
    x = np.random.default_rng(2).integers(0, 256, (5, *shape))
    t = torch.from_numpy(x).double()
    nd = len(kernel)
    if kind is LayerKind.MAXPOOL:
        want = (F.max_pool1d if nd == 1 else F.max_pool2d)(t, kernel, stride)
    else:
        want = torch.floor((F.avg_pool1d if nd == 1 else F.avg_pool2d)(t, kernel, stride) + 0.5)
    assert np.array_equal(golden.run_pool(pool, x).out, want.numpy().astype(np.int64))


def test_cnn_round_trip(cnn_net: Network, tmp_path: Path) -> None:
    ir.save(cnn_net, tmp_path / "m")
    back = ir.load(tmp_path / "m")
    assert [n.kind for n in back.layers] == [n.kind for n in cnn_net.layers]
    assert back.in_shape == (1, 8, 8)
    x = np.random.default_rng(0).integers(0, 17, (20, 64))
    assert golden.run(back, x).shape == (20, 5)
    assert np.array_equal(golden.run(back, x), golden.run(cnn_net, x))


def test_avgpool_needs_power_of_two_window() -> None:
    with pytest.raises(IRError, match="power-of-two window"):
        Network("n", FH, 27, (Pool("p", LayerKind.AVGPOOL, (3, 9), (3,), (3,), FH),), in_shape=(3, 9))


def test_conv_shape_chain_is_checked() -> None:
    c = make_conv("c", LayerKind.CONV1D, (3, 20), 4, (5,), (1,), (2,), FIN, FH)
    with pytest.raises(IRError, match="expects input shape"):
        Network("n", FIN, 60, (c,), in_shape=(4, 15))
