"""Validation of IR nodes: every shape, width and value range, with a one-line error for each fault.

Runs on construction of every :class:`~zerogate.ir.types.Network`, so no code downstream of the
IR ever sees an inconsistent network.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zerogate.errors import IRError
from zerogate.fixedpoint import MAX_BITS, MIN_WEIGHT_BITS, Activation, ActKind, weight_range
from zerogate.ir.names import check_names
from zerogate.ir.types import POOL_KINDS, Layer, LayerKind, Network, Pool

#: Widest bias the IR allows (it lives at the accumulator's scale, so it is wider than weights).
MAX_BIAS_BITS = 40
#: Largest requantization shift; keeps ``2**shift`` exact in int64.
MAX_SHIFT = 48
_SPATIAL = {LayerKind.CONV1D: 1, LayerKind.CONV2D: 2}


def int_array(a: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` as a read-only int64 array, converted exactly or refused (never wrapped around)."""
    arr = np.asarray(a)
    if arr.shape != shape:
        raise IRError(f"{what} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise IRError(f"{what} contains NaN or infinity")
        if not np.all(arr == np.round(arr)):
            raise IRError(f"{what} holds non-integer values; the IR stores integers only")
        if arr.size and not (arr.min() >= -(2.0**63) and arr.max() < 2.0**63):
            raise IRError(f"{what} holds values beyond 64-bit integers")
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            raise IRError(f"{what} holds values beyond 64-bit signed integers")
    elif arr.dtype.kind not in "iub":
        raise IRError(f"{what} has dtype {arr.dtype}, expected integers")
    out = arr.astype(np.int64)
    out.setflags(write=False)
    return out


def _geometry(layer: Layer, where: str) -> tuple[int, ...]:
    """Check a convolution's geometry; return its kernel shape (``()`` for dense)."""
    if layer.kind is LayerKind.DENSE:
        return ()
    nd = _SPATIAL[layer.kind]
    for what, t in (("in_shape", layer.in_shape), ("kernel", layer.kernel), ("stride", layer.stride),
                    ("padding", layer.padding)):
        want = nd + 1 if what == "in_shape" else nd
        if len(t) != want or not all(isinstance(v, int | np.integer) for v in t):
            raise IRError(f"{where}: {what} {tuple(t)} must be {want} integers for {layer.kind.value}")
    if layer.in_shape[0] != layer.in_features:
        raise IRError(f"{where}: in_shape has {layer.in_shape[0]} channels, in_features says "
                      f"{layer.in_features}")
    if min(layer.kernel) < 1 or min(layer.stride) < 1 or min(layer.padding) < 0:
        raise IRError(f"{where}: kernel and stride must be ≥ 1 and padding ≥ 0")
    if any(p >= k for p, k in zip(layer.padding, layer.kernel, strict=True)):
        raise IRError(f"{where}: padding {layer.padding} must be smaller than the kernel {layer.kernel}")
    if min(layer.out_shape[1:]) < 1:
        raise IRError(f"{where}: kernel {layer.kernel} is larger than the padded input {layer.in_shape}")
    return tuple(int(k) for k in layer.kernel)


def validate_layer(layer: Layer, where: str) -> None:
    """Check one weight layer's shapes, widths and value ranges; raise on the first fault."""
    if layer.kind not in (LayerKind.DENSE, *_SPATIAL):
        raise IRError(f"{where}: {layer.kind!r} is not a weight layer kind")
    o, i = layer.out_features, layer.in_features
    if o < 1 or i < 1:
        raise IRError(f"{where}: needs at least one input and one output, got {i}→{o}")
    kernel = _geometry(layer, where)
    w = int_array(layer.weight, f"{where}.weight", (o, i, *kernel))
    b = int_array(layer.bias, f"{where}.bias", (o,))
    bits = int_array(layer.weight_bits, f"{where}.weight_bits", (o,))
    frac = int_array(layer.weight_frac, f"{where}.weight_frac", (o,))
    shift = int_array(layer.shift, f"{where}.shift", (o,))
    wm = w.reshape(o, -1)
    for c in range(o):
        bc = int(bits[c])
        if not MIN_WEIGHT_BITS <= bc <= MAX_BITS:
            raise IRError(
                f"{where}: channel {c} weight bit-width {bc} is outside "
                f"{MIN_WEIGHT_BITS}..{MAX_BITS}; re-export with a supported width"
            )
        lo, hi = weight_range(bc)
        bad = np.flatnonzero((wm[c] < lo) | (wm[c] > hi))
        if bad.size:
            j = int(bad[0])
            raise IRError(
                f"{where}: weight[{c},{j}] = {int(wm[c, j])} does not fit its declared "
                f"{bc}-bit width [{lo}, {hi}]; the weight file does not match its manifest"
            )
    if not 2 <= layer.bias_bits <= MAX_BIAS_BITS:
        raise IRError(f"{where}: bias width {layer.bias_bits} is outside 2..{MAX_BIAS_BITS}")
    blo, bhi = weight_range(layer.bias_bits)
    if np.any((b < blo) | (b > bhi)):
        raise IRError(f"{where}: a bias does not fit its declared {layer.bias_bits}-bit width")
    expect = layer.input.frac + frac - layer.output.frac
    if np.any(shift != expect):
        c = int(np.flatnonzero(shift != expect)[0])
        raise IRError(
            f"{where}: channel {c} shift {int(shift[c])} != input.frac + weight_frac - "
            f"output.frac = {int(expect[c])}; formats and shifts disagree"
        )
    if np.any(shift < 0) or np.any(shift > MAX_SHIFT):
        raise IRError(
            f"{where}: requantization shifts must lie in 0..{MAX_SHIFT} (output may not be "
            f"finer than the accumulator); got {shift.min()}..{shift.max()}"
        )
    if not isinstance(layer.activation, Activation):
        raise IRError(f"{where}: activation {layer.activation!r} is not an Activation")
    why = layer.activation.check(layer.output)
    if why:
        raise IRError(f"{where}: {why}; re-export the model with 'zerogate compress'")
    if layer.activation.kind is ActKind.LEAKY and int(shift.max()) + layer.activation.shift > MAX_SHIFT:
        raise IRError(f"{where}: LeakyReLU's negative side shifts by more than {MAX_SHIFT}; "
                      "use a larger slope")
    for name, arr in (("weight", w), ("bias", b), ("weight_bits", bits),
                      ("weight_frac", frac), ("shift", shift)):
        object.__setattr__(layer, name, arr)
    lo_acc, hi_acc = layer.acc_bounds()
    if max(abs(int(lo_acc.min())), abs(int(hi_acc.max()))) >= 1 << 62:
        raise IRError(f"{where}: accumulator would exceed 62 bits; use narrower weights or inputs")


def validate_pool(pool: Pool, where: str) -> None:
    if pool.kind not in POOL_KINDS:
        raise IRError(f"{where}: {pool.kind!r} is not a pooling kind")
    nd = len(pool.in_shape) - 1
    if nd not in (1, 2) or len(pool.kernel) != nd or len(pool.stride) != nd:
        raise IRError(f"{where}: pooling needs (channels, *spatial) input with 1 or 2 spatial axes "
                      f"and a kernel/stride per axis")
    if min(pool.kernel) < 1 or min(pool.stride) < 1 or min(pool.out_shape[1:]) < 1:
        raise IRError(f"{where}: kernel {pool.kernel} / stride {pool.stride} do not fit {pool.in_shape}")
    if pool.kind is LayerKind.AVGPOOL and pool.window & (pool.window - 1):
        raise IRError(f"{where}: average pooling needs a power-of-two window (got {pool.window}) so "
                      "that the mean is an exact shift; use max pooling or a 2/4/8/… window")


def validate(net: Network) -> None:
    """Check a whole network: every node, and that each feeds the next (shape and format)."""
    check_names(net)
    if not net.layers:
        raise IRError(f"network {net.name!r} has no layers")
    if net.in_features < 1 or math.prod(net.in_shape) != net.in_features:
        raise IRError(f"network input shape {net.in_shape} does not hold {net.in_features} features")
    prev_fmt, prev_shape = net.input, net.in_shape
    names = set()
    for k, node in enumerate(net.layers):
        where = f"layer {k} ({node.name})"
        if node.name in names:
            raise IRError(f"{where}: layer names must be unique")
        names.add(node.name)
        if node.input != prev_fmt:
            raise IRError(
                f"{where}: input format {node.input} differs from the previous stage's {prev_fmt}"
            )
        if isinstance(node, Layer) and node.kind is LayerKind.DENSE:
            n_prev = math.prod(prev_shape)
            if node.in_features != n_prev:
                raise IRError(
                    f"{where}: takes {node.in_features} inputs but the previous stage gives {n_prev}"
                )
        elif tuple(node.input_shape) != tuple(prev_shape):
            raise IRError(f"{where}: expects input shape {tuple(node.input_shape)} but the previous "
                          f"stage gives {tuple(prev_shape)}")
        if isinstance(node, Layer):
            validate_layer(node, where)
        elif isinstance(node, Pool):
            validate_pool(node, where)
        else:
            raise IRError(f"{where}: unknown node type {type(node).__name__}")
        prev_fmt, prev_shape = node.output, node.out_shape
