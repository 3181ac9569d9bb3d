"""Fake-quantized layers whose eval forward in float64 IS the fixed-point spec.

Every quantized value is ``q * 2**-f`` with integer ``q`` and power-of-two scale, so in float64
the products ``x * w`` and their sums are exact, and ``floor(v * 2**f_out + 0.5)`` followed by
a clamp reproduces ``(acc + 2**(s-1)) >> s`` and saturation bit for bit
(:mod:`zerogate.fixedpoint`). Training uses the same forward with straight-through gradients.

Weight scale, per output channel ``c`` (``b`` = its bit-width, weights of the channel flattened)::

    g_c = b - 1 - ceil(log2(max_i |w_ci|))          then  g_c = max(g_c, min_frac)

so ``max|w_c| * 2**g_c`` lies in ``(2**(b-2), 2**(b-1)]``: the top code is used (a channel
whose maximum is exactly a power of two saturates that one weight to ``2**(b-1) - 1``).
``min_frac`` (= ``out.frac - in.frac``, set by calibration) keeps the requantization shift
``in.frac + g_c - out.frac`` non-negative, as the IR demands; a channel that would need a
coarser scale clips its largest weights instead.

Pruning lives in two buffers of every :class:`QuantWeightLayer`: ``mask`` (weight-shaped, 1 =
kept) and ``bits`` (int64 per output channel). A channel with ``bits == 0`` is pruned whole: its
weights and bias are zero, so it outputs exactly 0. A channel whose mask row is all zero keeps
its bias, so it outputs a constant (pruning weights must not silently change the function); the
export removes both kinds from the IR, folding a constant into the next layer's bias where that
is exact (see :mod:`compress.export`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from zerogate.fixedpoint import FixedFormat


def round_half_up(v: torch.Tensor) -> torch.Tensor:
    """The spec's rounding (ties toward +inf), not torch.round's ties-to-even."""
    return torch.floor(v + 0.5)


def ste(real: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """Forward ``quantized``, backward identity to ``real`` (straight-through estimator)."""
    return real + (quantized - real).detach()


def channel_exponent(w: torch.Tensor, bits: torch.Tensor, min_frac: int | None) -> torch.Tensor:
    """Per-output-channel ``g_c`` (see module doc) of ``w[out, ...]``, exact via frexp.

    An all-zero row gets ``min_frac`` (shift 0: its bias lands straight on the output grid),
    or ``b - 1`` before calibration.
    """
    amax = w.detach().flatten(1).abs().amax(dim=1).to(torch.float64)
    mant, exp = torch.frexp(amax)  # amax = mant * 2**exp, mant in [0.5, 1)
    ceil_log2 = torch.where(mant == 0.5, exp - 1, exp).to(torch.int64)
    g = bits.to(torch.int64) - 1 - ceil_log2
    zero = amax == 0
    if min_frac is not None:
        g = torch.where(zero, min_frac, torch.clamp(g, min=min_frac))
    else:
        g = torch.where(zero, bits.to(torch.int64) - 1, g)
    return g


def _per_channel(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``v[out]`` shaped to broadcast against ``like[out, ...]``."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def fake_quant_weight(
    w: torch.Tensor, bits: torch.Tensor, min_frac: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize ``w[out, ...]`` per output channel to ``bits[out]``-bit power-of-two-scaled integers.

    Returns (integer codes as a float tensor, real quantized weights with STE gradient, ``g``).
    A zero weight stays exactly 0. Shared by the layers and by compression methods that mix
    several candidate precisions of one tensor.
    """
    b = bits.to(torch.int64).clamp(min=1)  # a 0-bit (dead) channel is all zeros anyway
    g = channel_exponent(w, b, min_frac)
    scale = _per_channel(torch.pow(2.0, g.to(w.dtype)), w)
    hi = _per_channel(torch.pow(2.0, (b - 1).to(w.dtype)), w)
    wc = torch.clamp(w * scale, -hi, hi - 1)
    q = round_half_up(wc)
    return q.detach(), ste(wc, q) / scale, g


class ActQuant(nn.Module):
    """Round half up and saturate activations to a fixed-point format (identity until enabled).

    An unsigned format's clamp at 0 is the ReLU of the spec, applied on the integer.
    """

    def __init__(self, bits: int, frac: int = 0, signed: bool = False) -> None:
        super().__init__()
        self.bits, self.frac, self.signed = bits, frac, signed
        self.enabled = False

    @property
    def fmt(self) -> FixedFormat:
        return FixedFormat(bits=self.bits, frac=self.frac, signed=self.signed)

    def frac_for_range(self, max_abs: float) -> int:
        """Finest ``frac`` whose range still holds ``max_abs`` (why: use all codes, rarely clip)."""
        top = self.fmt.max_int
        if max_abs <= 0:
            return 0
        return math.floor(math.log2(top / max_abs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        f = self.fmt
        scale = 2.0**f.frac
        lo, hi = f.min_int / scale, f.max_int / scale
        xc = torch.clamp(x, lo, hi)  # exact: lo, hi are on the grid; zero grad outside range
        return ste(xc, round_half_up(xc * scale) / scale)

    def extra_repr(self) -> str:
        return f"{self.fmt}, enabled={self.enabled}"


class QuantWeightLayer(nn.Module):
    """What every quantized weight layer shares (a mixin in front of ``nn.Linear``/``nn.ConvNd``).

    Buffers ``mask`` (weight-shaped, 1 = kept) and ``bits`` (int64 per output channel, 0 =
    pruned channel); attributes ``in_frac`` (input format's fractional bits: the bias lives at
    ``2**-(in_frac+g_c)``) and ``min_frac``, both set by calibration before quantization is
    enabled; ``quant_enabled`` switches between the masked float layer and the fake-quantized one.
    Subclasses only say how to apply a weight: :meth:`apply_weight`.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None
    mask: torch.Tensor
    bits: torch.Tensor

    def _init_quant(self, weight_bits: int) -> None:
        self.register_buffer("mask", torch.ones_like(self.weight, requires_grad=False))
        self.register_buffer("bits", torch.full((self.weight.shape[0],), int(weight_bits), dtype=torch.int64))
        self.in_frac: int | None = None
        self.min_frac: int | None = None
        self.quant_enabled = False

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def weight_bits(self) -> torch.Tensor:
        """Alias of ``bits`` (the IR's name for it)."""
        return self.bits

    def set_bits(self, bits: int | torch.Tensor) -> None:
        """Set every channel's width (an int) or each one (a tensor of ``n_out`` ints; 0 prunes)."""
        with torch.no_grad():
            self.bits.copy_(torch.as_tensor(bits, dtype=torch.int64).expand_as(self.bits))

    def alive(self) -> torch.Tensor:
        """Bool per output channel: has bits and at least one kept weight (its output depends on
        the input; a dead channel's output is a constant)."""
        return (self.bits > 0) & (self.mask.flatten(1) != 0).any(dim=1)

    def masked_weight(self) -> torch.Tensor:
        """The weight with pruned weights and dead channels at exactly 0."""
        return self.weight * self.mask * _per_channel(self.alive().to(self.weight.dtype), self.weight)

    def masked_bias(self) -> torch.Tensor | None:
        """The bias with ``bits == 0`` channels at 0, so a pruned channel outputs exactly 0."""
        if self.bias is None:
            return None
        return self.bias * (self.bits > 0).to(self.bias.dtype)

    def exponent(self) -> torch.Tensor:
        """``g_c`` per output channel (int64); the IR's ``weight_frac``."""
        return channel_exponent(self.masked_weight(), self.bits.clamp(min=1), self.min_frac)

    def quant_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(integer weights as float tensor, real quantized weights with STE gradient)."""
        q, w, _ = fake_quant_weight(self.masked_weight(), self.bits, self.min_frac)
        return q, w

    def quant_bias(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(integer bias at the accumulator scale ``2**-(in_frac+g_c)``, real value with STE)."""
        bias = self.masked_bias()
        if bias is None:
            return None
        if self.in_frac is None:
            raise RuntimeError(
                f"{type(self).__name__}.in_frac is unset; calibrate before enabling quantization"
            )
        e = (self.exponent() + self.in_frac).to(bias.dtype)
        scale = torch.pow(torch.full_like(e, 2.0), e)
        v = bias * scale
        q = round_half_up(v)
        return q.detach(), ste(v, q) / scale

    def apply_weight(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.quant_enabled:
            return self.apply_weight(x, self.masked_weight(), self.masked_bias())
        _, w = self.quant_weight()
        qb = self.quant_bias()
        return self.apply_weight(x, w, None if qb is None else qb[1])

    def quant_repr(self) -> str:
        return f"quant={self.quant_enabled}, in_frac={self.in_frac}"


class QuantLinear(QuantWeightLayer, nn.Linear):
    """``nn.Linear`` with a pruning mask, per-channel power-of-two weight quantization and an
    accumulator-scale bias (drop-in: with quantization off it is a masked float Linear).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_bits: int = 8,
                 **kw: Any) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias, **kw)
        self._init_quant(weight_bits)

    def apply_weight(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return nn.functional.linear(x, w, b)

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self.quant_repr()}"


class _QuantConv(QuantWeightLayer):
    """Shared by the convolutions: ``nn.ConvNd._conv_forward`` applies the (quantized) weight."""

    def apply_weight(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return self._conv_forward(x, w, b)  # type: ignore[attr-defined]

    def extra_repr(self) -> str:
        return f"{nn.modules.conv._ConvNd.extra_repr(self)}, {self.quant_repr()}"  # type: ignore[arg-type]


class QuantConv1d(_QuantConv, nn.Conv1d):
    """``nn.Conv1d`` with the same mask, per-channel bits and quantization as :class:`QuantLinear`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, *args: Any, weight_bits: int = 8, **kw: Any) -> None:
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, *args, **kw)
        self._init_quant(weight_bits)


class QuantConv2d(_QuantConv, nn.Conv2d):
    """``nn.Conv2d`` with the same mask, per-channel bits and quantization as :class:`QuantLinear`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, *args: Any, weight_bits: int = 8, **kw: Any) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, *args, **kw)
        self._init_quant(weight_bits)


_QUANT_OF: dict[type[nn.Module], type[QuantWeightLayer]] = {
    nn.Linear: QuantLinear, nn.Conv1d: QuantConv1d, nn.Conv2d: QuantConv2d,
}


@torch.no_grad()
def quantized_copy(m: nn.Module, weight_bits: int = 8) -> QuantWeightLayer:
    """A quantized layer with ``m``'s geometry, weights and bias (``m`` a Linear/Conv1d/Conv2d)."""
    if isinstance(m, QuantWeightLayer):
        return m
    cls = next((q for f, q in _QUANT_OF.items() if type(m) is f), None)
    if cls is None:
        raise TypeError(f"no quantized layer for {type(m).__name__}")
    has_bias = m.bias is not None
    if isinstance(m, nn.Linear):
        q: QuantWeightLayer = QuantLinear(
            m.in_features, m.out_features, bias=has_bias, weight_bits=weight_bits
        )
    else:
        conv: Any = m
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                conv.dilation, conv.groups, bias=has_bias, padding_mode=conv.padding_mode,
                weight_bits=weight_bits)
    q = q.to(m.weight.dtype)  # before copying: no rounding through float32
    q.weight.copy_(m.weight)
    if has_bias:
        q.bias.copy_(m.bias)  # type: ignore[union-attr]
    return q
