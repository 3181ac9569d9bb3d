"""The golden model: a numpy executor of the IR that *defines* the arithmetic bit-exactly.

Everything is int64 and exact; see :mod:`zerogate.fixedpoint` for the three steps. The RTL and
the PyTorch reference are correct exactly when they agree with this module on every integer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerogate.errors import IRError
from zerogate.fixedpoint import Activation, saturate, shift_round
from zerogate.ir import Layer, Network


@dataclass(frozen=True)
class LayerTrace:
    """What one layer computed for a batch: the raw accumulators and the requantized outputs."""

    acc: np.ndarray
    out: np.ndarray
    saturated: int  # how many outputs were clamped (ReLU at zero not counted)


def run_layer(layer: Layer, x: np.ndarray) -> LayerTrace:
    """Execute one layer on a batch ``x[n, in_features]`` of integers in ``layer.input``."""
    acc = x.astype(np.int64) @ layer.weight.T + layer.bias
    rounded = shift_round(acc, layer.shift, layer.rounding)
    out = saturate(rounded, layer.output, relu=layer.activation is Activation.RELU)
    sat = int(np.count_nonzero((rounded > layer.output.max_int) | (rounded < layer.output.min_int)))
    return LayerTrace(acc=acc, out=out, saturated=sat)


def check_input(net: Network, x: np.ndarray) -> np.ndarray:
    """Refuse inputs that are not integers of the network's input format."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.in_features:
        raise IRError(f"input has shape {x.shape}, expected (n, {net.in_features})")
    if x.dtype.kind not in "iu":
        raise IRError(f"input dtype {x.dtype} is not integer; quantize it with the input format")
    if x.size and (x.min() < net.input.min_int or x.max() > net.input.max_int):
        raise IRError(f"input integers leave the input format {net.input}")
    return x.astype(np.int64)


def trace(net: Network, x: np.ndarray) -> list[LayerTrace]:
    """Run the network on ``x[n, in_features]``; one :class:`LayerTrace` per layer."""
    h = check_input(net, x)
    out = []
    for layer in net.layers:
        t = run_layer(layer, h)
        out.append(t)
        h = t.out
    return out


def run(net: Network, x: np.ndarray) -> np.ndarray:
    """Output integers ``[n, out_features]`` of the last layer."""
    return trace(net, x)[-1].out


def predict(net: Network, x: np.ndarray) -> np.ndarray:
    """Class index = first argmax of the output integers (the RTL uses the same tie rule)."""
    return np.argmax(run(net, x), axis=1)
