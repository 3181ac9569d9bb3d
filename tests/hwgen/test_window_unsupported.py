"""Conv/pool nodes the generator cannot build are refused by check_buildable, before any file exists."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hwgen.layers import STYLES, check_buildable
from hwgen.verilog import generate
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat
from zerogate.ir import Layer, LayerKind, Network, Pool

FMT = FixedFormat(6, 2, True)


def _conv(in_shape: tuple[int, ...] = (2, 6, 6)) -> Layer:
    nd = len(in_shape) - 1
    kind = LayerKind.CONV2D if nd == 2 else LayerKind.CONV1D
    w = np.ones((3, in_shape[0], *(3,) * nd), dtype=np.int64)
    return Layer(name="conv", kind=kind, in_features=in_shape[0], out_features=3, weight=w,
                 bias=np.zeros(3, dtype=np.int64), weight_bits=np.full(3, 4), weight_frac=np.full(3, 4),
                 shift=np.full(3, 4), input=FMT, output=FMT, bias_bits=4, in_shape=in_shape,
                 kernel=(3,) * nd, stride=(1,) * nd, padding=(1,) * nd)


def _with(node: object, **extra: object) -> object:
    """``node`` carrying attributes the IR has no field for (as a newer IR or a hand-built node might)."""
    for k, v in extra.items():
        object.__setattr__(node, k, v)
    return node


def _pool(kind: LayerKind, kernel: tuple[int, ...], in_shape: tuple[int, ...] = (2, 6, 6)) -> Pool:
    return Pool(name="pool", kind=kind, in_shape=in_shape, kernel=kernel, stride=kernel, input=FMT)


@pytest.mark.parametrize(("node", "match"), [
    (_with(_conv(), dilation=(2, 2)),
     r"layer 0 \(conv\): dilation=\(2, 2\) is not supported.*use dilation 1"),
    (_with(_conv((2, 9)), groups=2), r"groups=2 is not supported.*use groups 1"),
    (_pool(LayerKind.AVGPOOL, (3, 3)), r"average pooling over 9 elements.*power|2/4/8"),
    (_pool(LayerKind.AVGPOOL, (3,), (2, 9)), r"average pooling over 3 elements"),
    (_with(_pool(LayerKind.MAXPOOL, (2, 2)), padding=(1, 1)), r"pooling with padding \(1, 1\)"),
    (_conv((2, 2, 3, 3)), r"input shape \(2, 2, 3, 3\) is not"),
    (_conv((8, 24, 24)), r"input map \(8, 24, 24\) has 4608 elements.*fewer channels"),
])
@pytest.mark.parametrize("style", STYLES)
def test_unbuildable_nodes_are_refused(node: object, match: str, style: str) -> None:
    with pytest.raises(UnsupportedError, match=match) as e:
        check_buildable(node, 0, style)
    assert "\n" not in str(e.value)


def test_generate_refuses_before_writing(tmp_path: Path) -> None:
    conv = _conv((2, 9))
    net = Network(name="n", input=FMT, in_features=18, in_shape=(2, 9), layers=(conv,))
    _with(net.layers[0], dilation=(2,))
    with pytest.raises(UnsupportedError, match="dilation"):
        generate(net, tmp_path / "rtl", style="folded", lanes=2)
    assert not (tmp_path / "rtl").exists()


def test_supported_geometry_passes() -> None:
    check_buildable(_conv(), 0, "folded")
    check_buildable(dataclasses.replace(_pool(LayerKind.AVGPOOL, (2, 2)), stride=(1, 1)), 1, "unrolled")
