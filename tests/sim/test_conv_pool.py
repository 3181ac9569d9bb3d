"""Convolution and pooling hardware on Verilator, every integer checked against the golden model.

Each case is a small conv/pool network (conv -> pool -> flatten -> dense chains and a few
variations), generated in one engine style and streamed with random input gaps and output
back-pressure after a clean warm-up. Weights have per-channel widths 2..8 mixed, random
sparsity and at least one all-zero (pruned) output channel per conv layer; requantization
shifts are pushed so that some outputs saturate. Every layer's output is compared with
:func:`zerogate.golden.trace`, and the measured latency and cycles per inference with the
generator's exact cycle model (``design.latency`` / ``design.ii``).

Coverage (style x layer kind; pooling has no weights, so every style builds the same pool engine,
but it still runs inside a design of that style):

=================  ======  ======  =======  =======
style              conv1d  conv2d  maxpool  avgpool
=================  ======  ======  =======  =======
unrolled           c1u     c2u,    c1u,     c2u1,
                           c2u1,   c2u,     cc2
                           cc2     pc2
folded:1           c1f1    c2f1    c2f1     c1f1
folded:3           c1f3,   c2f3,   z1f3     c2f3,
                   z1f3    cc2,             c1f3
                           pc2
dense-unrolled     c1d     c2d     c1d      c2d
dense-folded:2     c1df    c2df    c2df     c1df
=================  ======  ======  =======  =======

Geometries covered: kernels 1, 2, 3; strides 1, 2; padding 0, 1; pooling windows 1x2, 2, 2x2,
3x3 stride 2, 4 (1-D); a pool before any conv (``pc2``), conv -> conv (``cc2``, per-layer
styles), and a conv layer whose weights are all zero (``z1f3``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hwgen.verilog import GeneratedDesign, generate
from sim.runner import SimResult, simulate
from zerogate import golden
from zerogate.fixedpoint import Activation, FixedFormat, Rounding, signed_bits_for, weight_range
from zerogate.ir import Layer, LayerKind, Network, Pool

Shape = tuple[int, ...]


def conv_layer(rng: np.random.Generator, name: str, in_shape: Shape, inp: FixedFormat, n_out: int,
               kernel: Shape, stride: Shape, padding: Shape, *, sparsity: float = 0.6,
               zero_weights: bool = False, relu: bool = True) -> Layer:
    """A conv1d/conv2d layer with mixed per-channel widths, an all-zero channel, saturating shifts."""
    kind = LayerKind.CONV1D if len(in_shape) == 2 else LayerKind.CONV2D
    fan_in = in_shape[0] * math.prod(kernel)
    bits = rng.integers(2, 9, n_out)
    w = np.zeros((n_out, fan_in), dtype=np.int64)
    for c in range(n_out):
        lo, hi = weight_range(int(bits[c]))
        vals = rng.integers(lo, hi + 1, fan_in)
        w[c] = np.where(rng.random(fan_in) < 0.3, np.where(rng.random(fan_in) < 0.5, lo, hi), vals)
    w[rng.random(w.shape) < sparsity] = 0
    w[rng.integers(n_out)] = 0  # a pruned output channel: a constant, no hardware
    if zero_weights:
        w[:] = 0
    out = FixedFormat(int(rng.integers(4, 9)), int(rng.integers(0, 4)), signed=not relu)
    span = np.maximum((np.abs(w) * max(abs(inp.min_int), abs(inp.max_int))).sum(axis=1), 1)
    bias = np.array([0 if rng.random() < 0.25 else int(rng.integers(-s, s + 1)) // 2 for s in span])
    acc_bits = np.array([signed_bits_for(-int(s) - abs(int(b)), int(s) + abs(int(b)))
                         for s, b in zip(span, bias, strict=True)])
    shift = np.maximum(acc_bits - out.bits + rng.integers(-2, 2, n_out), 0)
    return Layer(
        name=name, kind=kind, in_features=in_shape[0], out_features=n_out,
        weight=w.reshape(n_out, in_shape[0], *kernel), bias=bias, weight_bits=bits,
        weight_frac=shift + out.frac - inp.frac, shift=shift, input=inp, output=out,
        bias_bits=max(signed_bits_for(int(bias.min()), int(bias.max())), 2),
        rounding=Rounding(rng.choice([r.value for r in Rounding])),
        activation=Activation.RELU if relu else Activation.NONE,
        in_shape=tuple(in_shape), kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
    )


def dense_layer(rng: np.random.Generator, name: str, n_in: int, inp: FixedFormat, n_out: int) -> Layer:
    """The flatten -> dense head (signed output, no ReLU), through :func:`conv_layer`'s recipe."""
    conv = conv_layer(rng, name, (n_in, 1), inp, n_out, (1,), (1,), (0,), relu=False)
    return Layer(**{**{f: getattr(conv, f) for f in Layer.__dataclass_fields__},
                    "kind": LayerKind.DENSE, "weight": conv.weight.reshape(n_out, n_in),
                    "in_shape": (), "kernel": (), "stride": (), "padding": ()})


@dataclass(frozen=True)
class Case:
    """One network, as a list of node specs, and how to build and stream it."""

    in_shape: Shape
    nodes: tuple[tuple, ...]  # ("conv", out, kernel, stride, padding[, "zero"]) / ("max"|"avg", k, s)
    style: str
    layer_styles: tuple[tuple[int, str], ...] = ()
    in_lanes: int = 4
    out_lanes: int = 2
    seed: int = 0


def build_net(case: Case) -> Network:
    rng = np.random.default_rng(case.seed)
    inp = FixedFormat(int(rng.integers(3, 8)), 2, signed=bool(rng.integers(2)))
    layers: list[Layer | Pool] = []
    fmt, shape = inp, case.in_shape
    for k, spec in enumerate(case.nodes):
        if spec[0] == "conv":
            _, n_out, kern, stride, pad, *flags = spec
            node: Layer | Pool = conv_layer(rng, f"conv{k}", shape, fmt, n_out, kern, stride, pad,
                                            zero_weights="zero" in flags)
        elif spec[0] in ("max", "avg"):
            kind = LayerKind.MAXPOOL if spec[0] == "max" else LayerKind.AVGPOOL
            node = Pool(name=f"{spec[0]}pool{k}", kind=kind, in_shape=shape, kernel=spec[1], stride=spec[2],
                        input=fmt, rounding=Rounding(rng.choice([r.value for r in Rounding])))
        else:
            node = dense_layer(rng, f"fc{k}", math.prod(shape), fmt, spec[1])
        layers.append(node)
        fmt, shape = node.output, tuple(node.out_shape)
    return Network(name="convpool", input=inp, in_features=math.prod(case.in_shape), layers=tuple(layers),
                   in_shape=case.in_shape)


def stimulus(net: Network, seed: int, n: int) -> np.ndarray:
    """All-min, all-max, zero and alternating maps, then random ones with many extreme elements."""
    rng = np.random.default_rng(seed + 1000)
    lo, hi, k = net.input.min_int, net.input.max_int, net.in_features
    alt = np.arange(k) % 2 == 1
    fixed = [np.full(k, lo), np.full(k, hi), np.zeros(k, dtype=np.int64), np.where(alt, lo, hi)]
    rand = rng.integers(lo, hi + 1, (n - len(fixed), k))
    rand = np.where(rng.random(rand.shape) < 0.35, np.where(rng.random(rand.shape) < 0.5, lo, hi), rand)
    return np.concatenate([np.array(fixed, dtype=np.int64), rand]).astype(np.int64)


C2 = (2, 5, 5)  # a small 2-D map: 2 channels, 5 x 5
C1 = (2, 9)  # a small 1-D map: 2 channels, length 9
CASES = {
    "c2u": Case(C2, (("conv", 3, (3, 3), (1, 1), (1, 1)), ("max", (2, 2), (2, 2)), ("fc", 4)), "unrolled"),
    "c2u1": Case((3, 4, 4), (("conv", 2, (1, 1), (1, 1), (0, 0)), ("avg", (1, 2), (1, 2)), ("fc", 3)),
                 "unrolled", seed=1),
    "c2f1": Case(C2, (("conv", 2, (3, 3), (2, 2), (1, 1)), ("max", (2, 2), (1, 1)), ("fc", 3)), "folded:1",
                 seed=2),
    "c2f3": Case((2, 4, 4), (("conv", 3, (2, 2), (2, 2), (0, 0)), ("avg", (2, 2), (2, 2)), ("fc", 3)),
                 "folded:3", seed=3),
    "c2d": Case(C2, (("conv", 3, (3, 3), (2, 2), (1, 1)), ("avg", (2, 2), (1, 1)), ("fc", 3)),
                "dense-unrolled", seed=4),
    "c2df": Case(C2, (("conv", 2, (2, 2), (1, 1), (1, 1)), ("max", (3, 3), (2, 2)), ("fc", 3)),
                 "dense-folded:2", seed=5),
    "c1u": Case(C1, (("conv", 3, (3,), (1,), (1,)), ("max", (2,), (2,)), ("fc", 4)), "unrolled", seed=6),
    "c1f1": Case(C1, (("conv", 3, (2,), (2,), (1,)), ("avg", (2,), (2,)), ("fc", 3)), "folded:1", seed=7),
    "c1f3": Case(C1, (("conv", 4, (3,), (2,), (0,)), ("avg", (4,), (4,)), ("fc", 3)), "folded:3", seed=8),
    "c1d": Case(C1, (("conv", 3, (1,), (1,), (0,)), ("max", (3,), (2,)), ("fc", 3)), "dense-unrolled",
                seed=9),
    "c1df": Case(C1, (("conv", 3, (3,), (1,), (1,)), ("avg", (2,), (2,)), ("fc", 3)), "dense-folded:2",
                 seed=10),
    "z1f3": Case(C1, (("conv", 3, (3,), (1,), (1,), "zero"), ("max", (2,), (2,)), ("fc", 3)), "folded:3",
                 seed=11),
    "pc2": Case(C2, (("max", (3, 3), (2, 2)), ("conv", 3, (2, 2), (1, 1), (1, 1)), ("fc", 3)), "unrolled",
                layer_styles=((1, "folded:3"),), seed=12),
    "cc2": Case(C2, (("conv", 3, (3, 3), (1, 1), (1, 1)), ("conv", 2, (3, 3), (2, 2), (0, 0)),
                     ("avg", (2, 2), (2, 2)), ("fc", 3)), "unrolled", layer_styles=((1, "folded:3"),),
                in_lanes=8, seed=13),
}


@pytest.fixture(scope="module")
def obj_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Verilator's runtime objects, built once for all the cases of this module."""
    return tmp_path_factory.mktemp("objcache")


def simulate_case(case: Case, tmp_path: Path, obj_cache: Path, n: int) -> tuple[Network, GeneratedDesign,
                                                                                 np.ndarray, SimResult]:
    """Generate ``case`` and stream ``n`` stimulus vectors through Verilator with gaps and back-pressure."""
    net = build_net(case)
    style, _, lanes = case.style.partition(":")
    design = generate(net, tmp_path / "rtl", in_lanes=case.in_lanes, out_lanes=case.out_lanes, style=style,
                      lanes=int(lanes or 1), layer_styles=dict(case.layer_styles))
    x = stimulus(net, case.seed, n)
    r = simulate(design, net, x, tmp_path / "sim", seed=case.seed, gaps=True, backpressure=True,
                 obj_cache=obj_cache)
    return net, design, x, r


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_conv_pool_bit_exact(name: str, tmp_path: Path, obj_cache: Path) -> None:
    net, design, x, r = simulate_case(CASES[name], tmp_path, obj_cache, 48)
    assert sum(t.saturated for t in golden.trace(net, x)) > 0 or name == "z1f3"  # clamps exercised
    assert r.ok, r.summary()
    assert (r.n_vectors, r.n_match) == (len(x), len(x))
    # the generator's cycle model is exact: Verilator measures the same numbers
    assert (r.latency, r.cycles_per_inference) == (design.latency, design.ii)
