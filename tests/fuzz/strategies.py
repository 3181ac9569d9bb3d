"""Hypothesis strategies for whole random networks and their fuzz cases.

Structure (sizes, formats, bit-widths, sparsity pattern, rounding, activation, how hard the
requantization is pushed into saturation, stream settings) is drawn by hypothesis; the bulk
integers inside a layer come from a numpy generator seeded by hypothesis, so a case stays cheap
to draw and still reproducible from hypothesis's own seed.

Layer kinds and generator options are parameters: the hardware generator builds dense layers,
so ``kinds=("dense",)`` is what the tests draw today.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from sim.fuzz import FuzzCase, worst_case_inputs
from zerogate.fixedpoint import Activation, FixedFormat, Rounding, signed_bits_for, weight_range
from zerogate.ir import Layer, LayerKind, Network

#: How a layer's weights are thinned: the corners (no weight at all, a single one) are drawn as
#: often as the random densities, because that is where generators break.
SPARSITY_PATTERNS = ("random", "dense", "pruned-rows", "pruned-cols", "single", "all-zero")
MAX_FEATURES = 6


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
def dense_layers(draw: st.DrawFn, name: str, n_in: int, inp: FixedFormat, *,
                 n_out: int | None = None) -> Layer:
    """A dense layer: per-channel weight widths 2..8 mixed, weights often at their extremes, a
    bias that may be zero or large, and a shift that puts the accumulator range somewhere between
    well inside and well past the output format (so some outputs saturate)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_out = draw(st.integers(1, MAX_FEATURES)) if n_out is None else n_out
    bits = np.array(draw(st.lists(st.integers(2, 8), min_size=n_out, max_size=n_out)))
    w = np.zeros((n_out, n_in), dtype=np.int64)
    for c in range(n_out):
        lo, hi = weight_range(int(bits[c]))
        vals = rng.integers(lo, hi + 1, n_in)
        ends = rng.random(n_in) < 0.4  # the most negative and most positive weights are the risky ones
        w[c] = np.where(ends, np.where(rng.random(n_in) < 0.5, lo, hi), vals)
    w[~_mask(draw, rng, w.shape)] = 0
    relu = draw(st.booleans())
    out = draw(formats(signed=False if relu else None, min_bits=1, max_bits=12))
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
        name=name, kind=LayerKind.DENSE, in_features=n_in, out_features=n_out, weight=w, bias=bias,
        weight_bits=bits, weight_frac=wfrac, shift=shift, input=inp, output=out, bias_bits=bias_bits,
        rounding=draw(st.sampled_from(list(Rounding))),
        activation=Activation.RELU if relu else Activation.NONE,
    )


#: Layer strategies by IR kind; a kind joins the fuzz when the hardware generator builds it.
LAYER_STRATEGIES = {"dense": dense_layers}


@st.composite
def networks(draw: st.DrawFn, *, kinds: Sequence[str] = ("dense",), max_layers: int = 3) -> Network:
    """A chain of 1..``max_layers`` small layers (1..6 features each) of the given kinds."""
    inp = draw(formats())
    n_in = draw(st.integers(1, MAX_FEATURES))
    layers, fmt, n = [], inp, n_in
    for k in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(list(kinds)))
        ly = draw(LAYER_STRATEGIES[kind](f"{kind}{k}", n, fmt))
        layers.append(ly)
        fmt, n = ly.output, ly.out_features
    return Network(name="fuzz", input=inp, in_features=n_in, layers=tuple(layers))


def stimulus(rng: np.random.Generator, net: Network, n_random: int) -> np.ndarray:
    """The worst-case corners of :func:`sim.fuzz.worst_case_inputs`, then random vectors with
    many elements at the ends of the input range."""
    lo, hi, k = net.input.min_int, net.input.max_int, net.in_features
    rand = rng.integers(lo, hi + 1, (n_random, k))
    ends = rng.random(rand.shape) < 0.35
    rand = np.where(ends, np.where(rng.random(rand.shape) < 0.5, lo, hi), rand)
    return np.concatenate([worst_case_inputs(net), rand]).astype(np.int64)


@st.composite
def fuzz_cases(draw: st.DrawFn, name: str = "case", *, kinds: Sequence[str] = ("dense",),
               options: Sequence[Mapping[str, Any]] = ({},)) -> FuzzCase:
    """A network, its stimulus and stream settings: lanes from 1 to one more than the vector
    length, random input gaps and output back-pressure, each on or off."""
    net = draw(networks(kinds=kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = stimulus(rng, net, draw(st.integers(4, 24)))
    return FuzzCase(
        name=name, net=net, x=x, seed=draw(st.integers(0, 2**16)), gaps=draw(st.booleans()),
        backpressure=draw(st.booleans()), in_lanes=draw(st.integers(1, net.in_features + 1)),
        out_lanes=draw(st.integers(1, net.out_features + 1)), options=draw(st.sampled_from(list(options))),
    )


def _signature(case: FuzzCase) -> tuple:
    """Coarse on purpose: two cases alike in shape, lanes and input width add little."""
    net = case.net
    return (net.in_features, net.input.bits, case.in_lanes, case.out_lanes,
            tuple(ly.out_features for ly in net.layers))


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
