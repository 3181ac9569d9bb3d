"""Random small IR networks for hardware tests (torch-free, deterministic from a seed).

They exercise what the generator must get right: random sparsity including all-zero channels,
2..8-bit weights mixed per channel, zero and nonzero biases, ReLU or none (or a given clamp or
LeakyReLU activation), both roundings, and requantization shifts chosen so that some outputs saturate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zerogate.fixedpoint import Activation, FixedFormat, Rounding, signed_bits_for, weight_range
from zerogate.ir import Layer, LayerKind, Network


def random_layer(rng: np.random.Generator, name: str, n_in: int, n_out: int, inp: FixedFormat, *,
                 sparsity: float = 0.7, relu: bool | None = None, rounding: Rounding | None = None,
                 out_bits: int | None = None, max_weight_bits: int = 8,
                 activation: Activation | None = None) -> Layer:
    """A dense layer whose shifts put the accumulator range slightly past the output range.

    ``activation`` (clamp bounds inside the output format, or leaky) overrides ``relu``.
    """
    if activation is not None:  # the output format is unsigned for a clamp at or above 0
        relu = activation.lo is not None and activation.lo >= 0
    relu = bool(rng.integers(2)) if relu is None else relu
    rounding = Rounding(rng.choice([r.value for r in Rounding])) if rounding is None else rounding
    bits = rng.integers(2, max_weight_bits + 1, n_out)
    w = np.zeros((n_out, n_in), dtype=np.int64)
    for c in range(n_out):
        lo, hi = weight_range(int(bits[c]))
        w[c] = rng.integers(lo, hi + 1, n_in)
    w[rng.random(w.shape) < sparsity] = 0
    if n_out > 1:
        w[rng.integers(n_out)] = 0  # at least one all-zero channel: it must become a constant
    out_bits = int(rng.integers(4, 9)) if out_bits is None else out_bits
    out = FixedFormat(out_bits, int(rng.integers(0, 5)), signed=not relu)
    lo_x, hi_x = inp.min_int, inp.max_int
    span = np.maximum(np.abs(w) * max(abs(lo_x), abs(hi_x)), 1).sum(axis=1)
    bias = np.array([0 if rng.random() < 0.25 else int(rng.integers(-s, s + 1) // 2) for s in span])
    bias_bits = max(signed_bits_for(int(bias.min()), int(bias.max())), 2)
    # shift so that the accumulator range, once shifted, overshoots the output range a little
    acc_bits = np.array([signed_bits_for(-int(s) - abs(int(b)), int(s) + abs(int(b)))
                         for s, b in zip(span, bias, strict=True)])
    shift = np.maximum(acc_bits - out_bits + rng.integers(-2, 2, n_out), 0)
    wfrac = shift + out.frac - inp.frac
    return Layer(
        name=name, kind=LayerKind.DENSE, in_features=n_in, out_features=n_out, weight=w, bias=bias,
        weight_bits=bits, weight_frac=wfrac, shift=inp.frac + wfrac - out.frac, input=inp, output=out,
        bias_bits=bias_bits, rounding=rounding,
        activation=activation or (Activation.RELU if relu else Activation.NONE),
    )


def random_network(seed: int, sizes: Sequence[int] = (16, 8, 4), *, sparsity: float = 0.7,
                   in_format: FixedFormat | None = None, max_weight_bits: int = 8,
                   name: str = "rand") -> Network:
    """A chain of dense layers ``sizes[0] -> sizes[1] -> ...`` with random formats."""
    rng = np.random.default_rng(seed)
    if in_format is None:
        signed = bool(rng.integers(2))
        in_format = FixedFormat(int(rng.integers(4, 9)), int(rng.integers(0, 6)), signed)
    layers, fmt = [], in_format
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = k == len(sizes) - 2
        ly = random_layer(rng, f"fc{k}", n_in, n_out, fmt, sparsity=sparsity,
                          relu=False if last else None, max_weight_bits=max_weight_bits)
        layers.append(ly)
        fmt = ly.output
    return Network(name=name, input=in_format, in_features=sizes[0], layers=tuple(layers))


def random_inputs(rng: np.random.Generator, net: Network, n: int) -> np.ndarray:
    """``n`` input vectors: the all-min and all-max corners, alternating extremes, then uniform."""
    lo, hi = net.input.min_int, net.input.max_int
    k = net.in_features
    fixed = [np.full(k, lo), np.full(k, hi), np.where(np.arange(k) % 2, lo, hi),
             np.where(np.arange(k) % 2, hi, lo), np.zeros(k, dtype=np.int64)]
    rand = rng.integers(lo, hi + 1, (max(n - len(fixed), 0), k))
    extremes = rng.random(rand.shape) < 0.3  # many elements at the ends of their range
    rand = np.where(extremes, np.where(rng.random(rand.shape) < 0.5, lo, hi), rand)
    return np.concatenate([np.array(fixed[:n], dtype=np.int64).reshape(-1, k), rand]).astype(np.int64)
