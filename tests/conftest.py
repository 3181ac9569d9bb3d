import numpy as np
import pytest

from zerogate.fixedpoint import Activation, FixedFormat
from zerogate.ir import Layer, LayerKind, Network


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
