"""Hypothesis strategies for whole random networks and their fuzz cases.

Structure (sizes, formats, bit-widths, sparsity pattern, rounding, activation, how hard the
requantization is pushed into saturation, stream settings) is drawn by hypothesis; the bulk
integers inside a layer come from a numpy generator seeded by hypothesis, so a case stays cheap
to draw and still reproducible from hypothesis's own seed.

Layer kinds and engine styles are parameters: the sweep draws every kind the hardware generator
builds (dense, conv1d/conv2d, max/avg pooling) and every style (unrolled, folded with 1..4 lanes,
the dense baselines), globally or mixed per layer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from hwgen.layers import STYLES
from sim.fuzz import FuzzCase, worst_case_inputs
from zerogate.fixedpoint import Activation, ActKind, FixedFormat, Rounding, signed_bits_for, weight_range
from zerogate.ir import Layer, LayerKind, Network, Pool

#: How a layer's weights are thinned: the corners (no weight at all, a single one) are drawn as
#: often as the random densities, because that is where generators break.
SPARSITY_PATTERNS = ("random", "dense", "pruned-rows", "pruned-cols", "single", "all-zero")
MAX_FEATURES = 6
MAX_CHANNELS = 3
#: Longest side of a drawn feature map, by spatial rank.
MAX_SIDE = {1: 8, 2: 5}


@st.composite
def formats(draw: st.DrawFn, *, signed: bool | None = None, min_bits: int = 1,
            max_bits: int = 8) -> FixedFormat:
    """An activation format; 1-bit unsigned formats included."""
    signed = draw(st.booleans()) if signed is None else signed
    bits = draw(st.integers(max(min_bits, 2 if signed else 1), max_bits))
    return FixedFormat(bits, draw(st.integers(0, 5)), signed)


def _mask(draw: st.DrawFn, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    pattern = draw(st.sampled_from(SPARSITY_PATTERNS))
    if pattern == "all-zero":
        return np.zeros(shape, dtype=bool)
    if pattern == "single":
        m = np.zeros(shape, dtype=bool)
        m[rng.integers(shape[0]), rng.integers(shape[1])] = True
        return m
    if pattern == "dense":
        return np.ones(shape, dtype=bool)
    density = draw(st.sampled_from([0.1, 0.3, 0.5, 0.8]))
    m = rng.random(shape) < density
    if pattern == "pruned-rows":  # whole output channels pruned
        m[rng.random(shape[0]) < 0.5] = False
    elif pattern == "pruned-cols":  # whole input channels unused
        m[:, rng.random(shape[1]) < 0.5] = False
    return m


@st.composite
def weight_layers(draw: st.DrawFn, name: str, kind: LayerKind, in_shape: tuple[int, ...], inp: FixedFormat,
                  *, n_out: int | None = None) -> Layer:
    """A dense or convolution layer: per-channel weight widths 2..8 mixed, weights often at their
    extremes, a bias that may be zero or large, and a shift that puts the accumulator range
    somewhere between well inside and well past the output format (so some outputs saturate).

    ``in_shape`` is ``(features,)`` for dense and ``(channels, *spatial)`` for convolutions; a
    convolution draws its kernel (up to 3 per axis, never past the input), stride 1..2 and
    zero padding below the kernel.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    conv = kind is not LayerKind.DENSE
    n_in = in_shape[0] if conv else math.prod(in_shape)
    n_out = draw(st.integers(1, MAX_CHANNELS if conv else MAX_FEATURES)) if n_out is None else n_out
    geometry: dict[str, Any] = {}
    kernel: tuple[int, ...] = ()
    if conv:
        kernel = tuple(draw(st.integers(1, min(3, n))) for n in in_shape[1:])
        geometry = {"in_shape": tuple(in_shape), "kernel": kernel,
                    "stride": tuple(draw(st.integers(1, 2)) for _ in kernel),
                    "padding": tuple(draw(st.integers(0, k - 1)) for k in kernel)}
    bits = np.array(draw(st.lists(st.integers(2, 8), min_size=n_out, max_size=n_out)))
    w = np.zeros((n_out, n_in * math.prod(kernel)), dtype=np.int64)
    for c in range(n_out):
        lo, hi = weight_range(int(bits[c]))
        vals = rng.integers(lo, hi + 1, w.shape[1])
        ends = rng.random(w.shape[1]) < 0.4  # the most negative and most positive weights are the risky ones
        w[c] = np.where(ends, np.where(rng.random(w.shape[1]) < 0.5, lo, hi), vals)
    w[~_mask(draw, rng, w.shape)] = 0
    act_kind = draw(st.sampled_from(ACT_KINDS))
    signed = {ActKind.RELU: False, ActKind.LEAKY: True}.get(act_kind)
    out = draw(formats(signed=signed, min_bits=2 if act_kind is ActKind.LEAKY else 1, max_bits=12))
    activation = draw(activations(act_kind, out))
    span = (np.abs(w) * max(abs(inp.min_int), abs(inp.max_int))).sum(axis=1)
    bias_kind = draw(st.sampled_from(["zero", "small", "large"]))
    if bias_kind == "zero":
        bias = np.zeros(n_out, dtype=np.int64)
    else:
        reach = np.maximum(span if bias_kind == "small" else 4 * span + 8, 1)
        bias = np.array([int(rng.integers(-r, r + 1)) for r in reach], dtype=np.int64)
    bias_bits = max(signed_bits_for(int(bias.min()), int(bias.max())), 2)
    acc_bits = np.array([signed_bits_for(-int(s) - abs(int(b)), int(s) + abs(int(b)))
                         for s, b in zip(span, bias, strict=True)])
    push = draw(st.integers(-3, 3))  # > 0: the shifted accumulator overshoots the output format
    shift = np.clip(acc_bits - out.bits - push + rng.integers(-1, 2, n_out), 0, 40)
    wfrac = shift + out.frac - inp.frac
    return Layer(
        name=name, kind=kind, in_features=n_in, out_features=n_out, weight=w.reshape(n_out, n_in, *kernel),
        bias=bias, weight_bits=bits, weight_frac=wfrac, shift=shift, input=inp, output=out,
        bias_bits=bias_bits, rounding=draw(st.sampled_from(list(Rounding))),
        activation=activation, **geometry,
    )


#: Every activation kind the IR holds, drawn equally often.
ACT_KINDS = tuple(ActKind)


@st.composite
def activations(draw: st.DrawFn, kind: ActKind, out: FixedFormat) -> Activation:
    """An activation of ``kind`` for output format ``out``: a clamp's bounds anywhere inside the
    format (often at its ends, where a clamp and saturation meet), LeakyReLU slopes 2^-1..2^-4."""
    if kind is ActKind.CLAMP:
        ends = st.sampled_from([out.min_int, out.max_int])
        a = draw(st.one_of(ends, st.integers(out.min_int, out.max_int)))
        b = draw(st.one_of(ends, st.integers(out.min_int, out.max_int)).filter(lambda v: v != a))
        return Activation.clamp(min(a, b), max(a, b))
    if kind is ActKind.LEAKY:
        return Activation.leaky(draw(st.integers(1, 4)))
    return Activation(kind)


def dense_layers(name: str, n_in: int, inp: FixedFormat, *,
                 n_out: int | None = None) -> st.SearchStrategy[Layer]:
    """A dense layer of :func:`weight_layers` reading ``n_in`` features."""
    return weight_layers(name, LayerKind.DENSE, (n_in,), inp, n_out=n_out)


@st.composite
def pool_layers(draw: st.DrawFn, name: str, kind: LayerKind, in_shape: tuple[int, ...],
                inp: FixedFormat) -> Pool:
    """Max or average pooling (no padding): max windows up to 3 per axis, average windows of 1, 2
    or 4 elements (a power of two, as the IR requires), stride 1..3 (so also past the window)."""
    if kind is LayerKind.MAXPOOL:
        kernel = tuple(draw(st.integers(1, min(3, n))) for n in in_shape[1:])
    else:
        choices = [k for k in itertools.product(*[[1, 2, 4] for _ in in_shape[1:]])
                   if math.prod(k) in (1, 2, 4) and all(a <= n for a, n in zip(k, in_shape[1:], strict=True))]
        kernel = draw(st.sampled_from(choices))
    stride = tuple(draw(st.integers(1, 3)) for _ in kernel)
    return Pool(name=name, kind=kind, in_shape=tuple(in_shape), kernel=kernel, stride=stride, input=inp,
                rounding=draw(st.sampled_from(list(Rounding))))


#: Every IR node kind the hardware generator builds, and the spatial rank each needs (None: any).
ALL_KINDS = ("dense", "conv1d", "conv2d", "maxpool", "avgpool")
_RANK = {"dense": None, "conv1d": 1, "conv2d": 2, "maxpool": None, "avgpool": None}


def _input_shape(draw: st.DrawFn, kinds: Sequence[str]) -> tuple[int, ...]:
    """A flat vector, a (channels, length) or a (channels, height, width) map, as ``kinds`` allow."""
    ranks = [0] if "dense" in kinds else []
    spatial = [k for k in kinds if k != "dense"]
    ranks += [r for r in (1, 2) if any(_RANK[k] in (r, None) for k in spatial)]
    rank = draw(st.sampled_from(ranks))
    if rank == 0:
        return (draw(st.integers(1, MAX_FEATURES)),)
    return (draw(st.integers(1, MAX_CHANNELS)), *(draw(st.integers(1, MAX_SIDE[rank])) for _ in range(rank)))


@st.composite
def networks(draw: st.DrawFn, *, kinds: Sequence[str] = ("dense",), max_layers: int = 3) -> Network:
    """A chain of 1..``max_layers`` small nodes of the given kinds. A spatial map may meet a
    convolution of its rank, a pooling layer or a dense layer (which flattens it); a flat vector
    only a dense one, so the chain ends when ``kinds`` has nothing left for it."""
    inp = draw(formats())
    in_shape = _input_shape(draw, kinds)
    layers: list[Layer | Pool] = []
    fmt, shape = inp, in_shape
    for k in range(draw(st.integers(1, max_layers))):
        rank = len(shape) - 1
        fits = [kd for kd in kinds if kd == "dense" or (rank > 0 and _RANK[kd] in (rank, None))]
        if not fits:
            break
        convs = [kd for kd in fits if _RANK[kd] == rank]  # drawn as often as the others together
        kind = draw(st.sampled_from(fits + convs * 2))
        name = f"{kind}{k}"
        if kind in ("maxpool", "avgpool"):
            node: Layer | Pool = draw(pool_layers(name, LayerKind(kind), shape, fmt))
        else:
            node = draw(weight_layers(name, LayerKind(kind), shape, fmt))
        layers.append(node)
        fmt, shape = node.output, tuple(node.out_shape)
    return Network(name="fuzz", input=inp, in_features=math.prod(in_shape), layers=tuple(layers),
                   in_shape=in_shape)


def stimulus(rng: np.random.Generator, net: Network, n_random: int) -> np.ndarray:
    """The worst-case corners of :func:`sim.fuzz.worst_case_inputs`, then random vectors with
    many elements at the ends of the input range."""
    lo, hi, k = net.input.min_int, net.input.max_int, net.in_features
    rand = rng.integers(lo, hi + 1, (n_random, k))
    ends = rng.random(rand.shape) < 0.35
    rand = np.where(ends, np.where(rng.random(rand.shape) < 0.5, lo, hi), rand)
    return np.concatenate([worst_case_inputs(net), rand]).astype(np.int64)


@st.composite
def engine_options(draw: st.DrawFn, n_layers: int, styles: Sequence[str] = STYLES) -> dict[str, Any]:
    """Keywords for :func:`hwgen.verilog.generate`: one style for every layer (folded ones with
    1..4 lanes), and in a third of the cases a different style for some layers."""
    opts: dict[str, Any] = {"style": draw(st.sampled_from(list(styles))), "lanes": draw(st.integers(1, 4))}
    if n_layers > 1 and draw(st.integers(0, 2)) == 0:
        picked = draw(st.lists(st.integers(0, n_layers - 1), min_size=1, unique=True))
        opts["layer_styles"] = {str(k): f"{draw(st.sampled_from(list(styles)))}:{draw(st.integers(1, 4))}"
                                for k in sorted(picked)}
    return opts


@st.composite
def fuzz_cases(draw: st.DrawFn, name: str = "case", *, kinds: Sequence[str] = ALL_KINDS,
               styles: Sequence[str] = STYLES) -> FuzzCase:
    """A network, its stimulus, its engine styles and stream settings: lanes from 1 to one more
    than the vector length (at most 9), random input gaps and output back-pressure, each on or off."""
    net = draw(networks(kinds=kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = stimulus(rng, net, draw(st.integers(4, 24)))
    return FuzzCase(
        name=name, net=net, x=x, seed=draw(st.integers(0, 2**16)), gaps=draw(st.booleans()),
        backpressure=draw(st.booleans()), in_lanes=draw(st.integers(1, min(net.in_features + 1, 9))),
        out_lanes=draw(st.integers(1, min(net.out_features + 1, 9))),
        options=draw(engine_options(len(net.layers), styles)),
    )


def _signature(case: FuzzCase) -> tuple:
    """Coarse on purpose: two cases alike in kinds, shapes, lanes, input width and styles add little."""
    net = case.net
    return (net.in_shape, net.input.bits, case.in_lanes, case.out_lanes,
            tuple((str(ly.kind), ly.out_shape) for ly in net.layers), repr(sorted(case.options.items())))


def draw_cases(n: int, seed: int, **kw: Any) -> list[FuzzCase]:
    """``n`` distinct cases from hypothesis, named ``fz0000``, ``fz0001``, ..., reproducible from ``seed``.

    Hypothesis only draws here (the body never fails), so the cases can then be simulated in
    parallel; a failing one is kept as a replayable folder instead of being shrunk.
    """
    out: list[FuzzCase] = []
    seen: set[tuple] = set()

    def collect_with(s: int) -> None:
        @hypothesis_seed(s)
        @settings(max_examples=2 * (n - len(out)) + 10, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def collect(data: st.DataObject) -> None:
            case = data.draw(fuzz_cases(f"fz{len(out):04d}", **kw))
            if len(out) < n and _signature(case) not in seen:  # hypothesis starts with many minima
                seen.add(_signature(case))
                out.append(case)

        collect()

    for s in range(seed, seed + 20):  # hypothesis may stop early if it believes the space is exhausted
        if len(out) >= n:
            break
        collect_with(s)
    return out
