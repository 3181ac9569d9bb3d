import numpy as np
import pytest

from zerogate.fixedpoint import Activation, FixedFormat
from zerogate.ir import Layer, LayerKind, Network


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run real tools (marked ``slow``, up to ~2 min each) first: pytest-xdist then
    fills the end of the run with short tests instead of leaving one worker idle behind a long one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def make_layer(name: str, n_in: int, n_out: int, inp: FixedFormat, out: FixedFormat, *, bits: int = 4,
               relu: bool = True, seed: int = 0) -> Layer:
    rng = np.random.default_rng(seed)
    w = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (n_out, n_in))
    w[rng.random(w.shape) < 0.7] = 0
    frac = np.full(n_out, 3)
    return Layer(
        name=name, kind=LayerKind.DENSE, in_features=n_in, out_features=n_out, weight=w,
        bias=rng.integers(-20, 20, n_out), weight_bits=np.full(n_out, bits), weight_frac=frac,
        shift=inp.frac + frac - out.frac, input=inp, output=out, bias_bits=8,
        activation=Activation.RELU if relu else Activation.NONE,
    )


@pytest.fixture
def small_net() -> Network:
    fin, fh, fo = FixedFormat(5, 4, False), FixedFormat(8, 4, False), FixedFormat(12, 4, True)
    return Network(
        name="small", input=fin, in_features=12,
        layers=(make_layer("fc0", 12, 6, fin, fh), make_layer("fc1", 6, 3, fh, fo, relu=False, seed=1)),
        metadata={"origin": "test"},
    )


def make_conv(name: str, kind: LayerKind, in_shape: tuple, n_out: int, kernel: tuple, stride: tuple,
              padding: tuple, inp: FixedFormat, out: FixedFormat, *, bits: int = 4, relu: bool = True,
              seed: int = 0) -> Layer:
    rng = np.random.default_rng(seed)
    w = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (n_out, in_shape[0], *kernel))
    w[rng.random(w.shape) < 0.6] = 0
    frac = rng.integers(2, 5, n_out)
    return Layer(
        name=name, kind=kind, in_features=in_shape[0], out_features=n_out, weight=w,
        bias=rng.integers(-30, 30, n_out), weight_bits=np.full(n_out, bits), weight_frac=frac,
        shift=inp.frac + frac - out.frac, input=inp, output=out, bias_bits=8,
        activation=Activation.RELU if relu else Activation.NONE,
        in_shape=in_shape, kernel=kernel, stride=stride, padding=padding,
    )


@pytest.fixture
def cnn_net() -> Network:
    """conv2d → maxpool → conv2d → avgpool → flatten → dense: every node kind once."""
    from zerogate.ir import Pool

    fin, fh, fo = FixedFormat(5, 4, False), FixedFormat(8, 3, False), FixedFormat(12, 3, True)
    c0 = make_conv("conv0", LayerKind.CONV2D, (1, 8, 8), 4, (3, 3), (1, 1), (1, 1), fin, fh)
    p0 = Pool("pool0", LayerKind.MAXPOOL, c0.out_shape, (2, 2), (2, 2), fh)
    c1 = make_conv("conv1", LayerKind.CONV2D, p0.out_shape, 6, (3, 3), (1, 1), (0, 0), fh, fh, seed=1)
    p1 = Pool("pool1", LayerKind.AVGPOOL, c1.out_shape, (2, 2), (1, 1), fh)
    d = make_layer("fc", int(np.prod(p1.out_shape)), 5, fh, fo, relu=False, seed=2)
    return Network("cnn", fin, 64, (c0, p0, c1, p1, d), in_shape=(1, 8, 8))
