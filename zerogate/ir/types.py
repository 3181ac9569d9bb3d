"""IR node types. Each is a frozen dataclass holding numpy integer arrays; no torch anywhere."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zerogate.fixedpoint import Activation, FixedFormat, Overflow, Rounding, signed_bits_for


class LayerKind(enum.StrEnum):
    DENSE = "dense"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"


#: Spatial rank of each convolution/pooling kind's input, channels excluded.
WEIGHT_KINDS = (LayerKind.DENSE, LayerKind.CONV1D, LayerKind.CONV2D)
POOL_KINDS = (LayerKind.MAXPOOL, LayerKind.AVGPOOL)


def conv_out_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output length of a convolution or pooling window along one axis (floor, like PyTorch)."""
    return (size + 2 * pad - k) // stride + 1


@dataclass(frozen=True, eq=False)
class Layer:
    """A weight layer (dense or convolution) followed by its requantization and activation.

    ``weight[c, ...]`` (``[out, in]`` for dense, ``[out, in, *kernel]`` for convolutions) is a
    signed integer of ``weight_bits[c]`` bits standing for ``weight * 2**-weight_frac[c]``.
    ``bias[c]`` sits at the accumulator's scale ``2**-(input.frac + weight_frac[c])``. Output
    channel ``c`` is requantized by ``shift[c] = input.frac + weight_frac[c] - output.frac``.

    For convolutions ``in_features``/``out_features`` count channels and ``in_shape`` is
    ``(channels, *spatial)``; zero padding, no dilation, no groups. A dense layer that follows
    a convolution or pooling layer reads its input flattened channel-major, like ``torch.flatten``.
    """

    name: str
    kind: LayerKind
    in_features: int
    out_features: int
    weight: np.ndarray
    bias: np.ndarray
    weight_bits: np.ndarray
    weight_frac: np.ndarray
    shift: np.ndarray
    input: FixedFormat
    output: FixedFormat
    bias_bits: int
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SATURATE
    activation: Activation = Activation.NONE
    in_shape: tuple[int, ...] = ()  # convolutions: (channels, *spatial); dense: () = (in_features,)
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()

    @property
    def is_conv(self) -> bool:
        return self.kind is not LayerKind.DENSE

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.in_shape) if self.is_conv else (self.in_features,)

    @property
    def out_shape(self) -> tuple[int, ...]:
        if not self.is_conv:
            return (self.out_features,)
        sp = self.in_shape[1:]
        return (self.out_features, *(conv_out_size(n, k, s, p) for n, k, s, p in
                                     zip(sp, self.kernel, self.stride, self.padding, strict=True)))

    @property
    def positions(self) -> int:
        """Output positions per channel (1 for dense): MACs = nnz · positions."""
        return math.prod(self.out_shape[1:]) if self.is_conv else 1

    @property
    def fan_in(self) -> int:
        """Weight slots per output channel."""
        return int(self.weight.size // self.out_features)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.weight))

    @property
    def n_weights(self) -> int:
        return int(self.weight.size)

    def weight_matrix(self) -> np.ndarray:
        """``weight`` as ``[out, fan_in]`` (kernel taps flattened channel-major)."""
        return self.weight.reshape(self.out_features, -1)

    def acc_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-channel [min, max] of the accumulator over every legal input.

        Uses the actual nonzero weights, not their declared width, so a sparse or small-valued
        channel gets a narrow adder. Zero padding stays inside the bounds because 0 is a legal
        value of every input format.
        """
        lo_x, hi_x = self.input.min_int, self.input.max_int
        w = self.weight_matrix().astype(np.int64)
        hi = np.where(w > 0, w * hi_x, w * lo_x).sum(axis=1) + self.bias
        lo = np.where(w > 0, w * lo_x, w * hi_x).sum(axis=1) + self.bias
        return lo.astype(np.int64), hi.astype(np.int64)

    def acc_bits(self) -> np.ndarray:
        """Per-channel accumulator width from :meth:`acc_bounds` (two's complement)."""
        lo, hi = self.acc_bounds()
        return np.array([signed_bits_for(int(a), int(b)) for a, b in zip(lo, hi, strict=True)])


#: A name for the weight layer that says what it is.
WeightLayer = Layer


@dataclass(frozen=True, eq=False)
class Pool:
    """Max or average pooling over ``kernel`` windows, per channel, with no padding.

    Max pooling passes integers through unchanged. Average pooling needs a power-of-two window
    so that the mean is an exact shift: ``(sum + 2**(s-1)) >> s`` with the layer's rounding,
    ``s = log2(prod(kernel))``; the result always fits the input format, so no saturation.
    """

    name: str
    kind: LayerKind
    in_shape: tuple[int, ...]  # (channels, *spatial)
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    input: FixedFormat
    rounding: Rounding = Rounding.HALF_UP

    @property
    def output(self) -> FixedFormat:
        return self.input

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.in_shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        sp = self.in_shape[1:]
        return (self.in_shape[0], *(conv_out_size(n, k, s, 0) for n, k, s in
                                    zip(sp, self.kernel, self.stride, strict=True)))

    @property
    def window(self) -> int:
        return math.prod(self.kernel)

    @property
    def shift(self) -> int:
        return int(math.log2(self.window)) if self.kind is LayerKind.AVGPOOL else 0

    @property
    def out_features(self) -> int:
        return math.prod(self.out_shape)

    @property
    def nnz(self) -> int:
        return 0

    @property
    def n_weights(self) -> int:
        return 0


Node = Layer | Pool


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward chain of layers with one quantized input of shape ``in_shape``."""

    name: str
    input: FixedFormat
    in_features: int
    layers: tuple[Node, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    in_shape: tuple[int, ...] = ()  # () = (in_features,)

    def __post_init__(self) -> None:
        from zerogate.ir.validate import validate

        if not self.in_shape:
            object.__setattr__(self, "in_shape", (self.in_features,))
        object.__setattr__(self, "in_shape", tuple(int(n) for n in self.in_shape))
        validate(self)

    @property
    def output(self) -> FixedFormat:
        return self.layers[-1].output

    @property
    def out_features(self) -> int:
        return math.prod(self.layers[-1].out_shape)

    @property
    def weight_layers(self) -> tuple[Layer, ...]:
        return tuple(ly for ly in self.layers if isinstance(ly, Layer))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.layers)
