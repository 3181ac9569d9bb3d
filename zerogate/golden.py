"""The golden model: a numpy executor of the IR that *defines* the arithmetic bit-exactly.

Everything is int64 and exact; see :mod:`zerogate.fixedpoint` for the three steps. The RTL and
the PyTorch reference are correct exactly when they agree with this module on every integer.
Activations travel as ``[n, *shape]`` arrays (``[n, features]`` for dense layers); a dense layer
after a convolution reads its input flattened channel-major, like ``torch.flatten``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from zerogate.errors import IRError
from zerogate.fixedpoint import activate_round, shift_round
from zerogate.ir import Layer, LayerKind, Network, Node, Pool


@dataclass(frozen=True)
class LayerTrace:
    """What one layer computed for a batch: the raw accumulators and the requantized outputs."""

    acc: np.ndarray  # [n, *out_shape] before requantization (pool: the window sums or maxima)
    out: np.ndarray  # [n, *out_shape]
    saturated: int  # how many outputs step 3 clamped (format saturation, ReLU or clamp bounds)


def windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
            padding: tuple[int, ...]) -> np.ndarray:
    """``x[n, C, *sp]`` → ``[n, *out_sp, C, *kernel]`` patches (zero padding), the conv/pool view."""
    nd = len(kernel)
    if any(padding):
        x = np.pad(x, [(0, 0), (0, 0), *((p, p) for p in padding)])
    v = sliding_window_view(x, kernel, axis=tuple(range(2, 2 + nd)))  # [n, C, *full_sp, *kernel]
    v = v[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    return v.transpose(order)


def _accumulate(layer: Layer, x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    w = layer.weight_matrix()
    if layer.kind is LayerKind.DENSE:
        return x.reshape(n, -1) @ w.T + layer.bias
    p = windows(x, layer.kernel, layer.stride, layer.padding)  # [n, *out_sp, C, *k]
    out_sp = p.shape[1:1 + len(layer.kernel)]
    acc = p.reshape(n, math.prod(out_sp), -1) @ w.T + layer.bias  # [n, positions, O]
    return acc.transpose(0, 2, 1).reshape(n, layer.out_features, *out_sp)


def run_layer(layer: Layer, x: np.ndarray) -> LayerTrace:
    """Execute one weight layer on a batch of integers in ``layer.input``."""
    acc = _accumulate(layer, x.astype(np.int64))
    shift = layer.shift.reshape((-1,) + (1,) * (acc.ndim - 2))
    rounded = activate_round(acc, shift, layer.rounding, layer.activation)
    lo, hi = layer.activation.bounds(layer.output)
    out = np.clip(rounded, lo, hi)
    sat = int(np.count_nonzero(out != rounded))
    return LayerTrace(acc=acc, out=out, saturated=sat)


def run_pool(pool: Pool, x: np.ndarray) -> LayerTrace:
    """Max pooling passes integers through; average pooling is an exact rounded shift."""
    nd = len(pool.kernel)
    p = windows(x.astype(np.int64), pool.kernel, pool.stride, (0,) * nd)  # [n, *out_sp, C, *k]
    axes = tuple(range(p.ndim - nd, p.ndim))
    if pool.kind is LayerKind.MAXPOOL:
        acc = p.max(axis=axes)
        out = acc
    else:
        acc = p.sum(axis=axes)
        out = shift_round(acc, np.int64(pool.shift), pool.rounding)
    back = (0, nd + 1, *range(1, nd + 1))  # [n, *out_sp, C] → [n, C, *out_sp]
    return LayerTrace(acc=acc.transpose(back), out=out.transpose(back), saturated=0)


def run_node(node: Node, x: np.ndarray) -> LayerTrace:
    return run_pool(node, x) if isinstance(node, Pool) else run_layer(node, x)


def check_input(net: Network, x: np.ndarray) -> np.ndarray:
    """Refuse inputs that are not integers of the network's input format; shape to ``[n, *in_shape]``."""
    x = np.asarray(x)
    if x.ndim < 2 or math.prod(x.shape[1:]) != net.in_features:
        raise IRError(f"input has shape {x.shape}, expected (n, {net.in_features}) or (n, *{net.in_shape})")
    if x.dtype.kind not in "iu":
        raise IRError(f"input dtype {x.dtype} is not integer; quantize it with the input format")
    if x.size and (x.min() < net.input.min_int or x.max() > net.input.max_int):
        raise IRError(f"input integers leave the input format {net.input}")
    return x.astype(np.int64).reshape(x.shape[0], *net.in_shape)


def trace(net: Network, x: np.ndarray) -> list[LayerTrace]:
    """Run the network on ``x``; one :class:`LayerTrace` per layer."""
    h = check_input(net, x)
    out = []
    for node in net.layers:
        t = run_node(node, h)
        out.append(t)
        h = t.out
    return out


def run(net: Network, x: np.ndarray) -> np.ndarray:
    """Output integers of the last layer, flattened to ``[n, out_features]``."""
    out = trace(net, x)[-1].out
    return out.reshape(out.shape[0], -1)


def predict(net: Network, x: np.ndarray) -> np.ndarray:
    """Class index = first argmax of the output integers (the RTL uses the same tie rule)."""
    return np.argmax(run(net, x), axis=1)
