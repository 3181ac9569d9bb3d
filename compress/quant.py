"""Fake-quantized layers whose eval forward in float64 IS the fixed-point spec.

Every quantized value is ``q * 2**-f`` with integer ``q`` and power-of-two scale, so in float64
the products ``x * w`` and their sums are exact, and ``floor(v * 2**f_out + 0.5)`` followed by
a clamp reproduces ``(acc + 2**(s-1)) >> s`` and saturation bit for bit
(:mod:`zerogate.fixedpoint`). Training uses the same forward with straight-through gradients.

Weight scale, per output channel ``c`` (``b`` = its bit-width)::

    g_c = b - 1 - ceil(log2(max_i |w_ci|))          then  g_c = max(g_c, min_frac)

so ``max|w_c| * 2**g_c`` lies in ``(2**(b-2), 2**(b-1)]``: the top code is used (a channel
whose maximum is exactly a power of two saturates that one weight to ``2**(b-1) - 1``).
``min_frac`` (= ``out.frac - in.frac``, set by calibration) keeps the requantization shift
``in.frac + g_c - out.frac`` non-negative, as the IR demands; a channel that would need a
coarser scale clips its largest weights instead.
"""

from __future__ import annotations

import math

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
    """Per-row ``g_c`` (see module doc), exact via frexp.

    An all-zero row gets ``min_frac`` (shift 0: its bias lands straight on the output grid),
    or ``b - 1`` before calibration.
    """
    amax = w.detach().abs().amax(dim=1).to(torch.float64)
    mant, exp = torch.frexp(amax)  # amax = mant * 2**exp, mant in [0.5, 1)
    ceil_log2 = torch.where(mant == 0.5, exp - 1, exp).to(torch.int64)
    g = bits.to(torch.int64) - 1 - ceil_log2
    zero = amax == 0
    if min_frac is not None:
        g = torch.where(zero, min_frac, torch.clamp(g, min=min_frac))
    else:
        g = torch.where(zero, bits.to(torch.int64) - 1, g)
    return g


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


class QuantLinear(nn.Linear):
    """``nn.Linear`` with a pruning mask, per-channel power-of-two weight quantization and an
    accumulator-scale bias (drop-in: with quantization off it is a masked float Linear).

    ``in_frac`` is the input format's fractional bits (the bias lives at ``2**-(in_frac+g_c)``);
    it and ``min_frac`` are set by calibration before quantization is enabled.
    """

    mask: torch.Tensor
    weight_bits: torch.Tensor

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_bits: int = 8) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))
        self.register_buffer("weight_bits", torch.full((out_features,), weight_bits, dtype=torch.int64))
        self.in_frac: int | None = None
        self.min_frac: int | None = None
        self.quant_enabled = False

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def exponent(self) -> torch.Tensor:
        """``g_c`` per output channel (int64); the IR's ``weight_frac``."""
        return channel_exponent(self.masked_weight(), self.weight_bits, self.min_frac)

    def quant_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(integer weights as float tensor, real quantized weights with STE gradient).

        A pruned weight is exactly 0 before rounding, so it stays exactly 0.
        """
        w = self.masked_weight()
        g = self.exponent().to(w.dtype)
        scale = torch.pow(torch.full_like(g, 2.0), g).unsqueeze(1)
        lo = -torch.pow(2.0, (self.weight_bits - 1).to(w.dtype)).unsqueeze(1)
        hi = -lo - 1
        wc = torch.clamp(w * scale, lo, hi)
        q = round_half_up(wc)
        return q.detach(), ste(wc, q) / scale

    def quant_bias(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(integer bias at the accumulator scale ``2**-(in_frac+g_c)``, real value with STE)."""
        if self.bias is None:
            return None
        if self.in_frac is None:
            raise RuntimeError("QuantLinear.in_frac is unset; calibrate before enabling quantization")
        e = (self.exponent() + self.in_frac).to(self.bias.dtype)
        scale = torch.pow(torch.full_like(e, 2.0), e)
        v = self.bias * scale
        q = round_half_up(v)
        return q.detach(), ste(v, q) / scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.quant_enabled:
            return nn.functional.linear(x, self.masked_weight(), self.bias)
        _, w = self.quant_weight()
        qb = self.quant_bias()
        return nn.functional.linear(x, w, None if qb is None else qb[1])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, quant={self.quant_enabled}, in_frac={self.in_frac}"


class QuantMLP(nn.Module):
    """Input quantizer, then ``QuantLinear -> ReLU -> unsigned ActQuant`` per hidden layer, and a
    last ``QuantLinear -> signed ActQuant`` (wide, so logits rarely saturate).
    """

    def __init__(
        self,
        in_features: int,
        hidden: tuple[int, ...],
        out_features: int,
        *,
        input_format: FixedFormat,
        weight_bits: int = 8,
        act_bits: int = 8,
        output_bits: int = 16,
    ) -> None:
        super().__init__()
        sizes = (in_features, *hidden, out_features)
        self.input_quant = ActQuant(input_format.bits, input_format.frac, input_format.signed)
        self.linears = nn.ModuleList(
            QuantLinear(a, b, weight_bits=weight_bits) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.acts = nn.ModuleList(
            [*(ActQuant(act_bits, 0, signed=False) for _ in hidden), ActQuant(output_bits, 0, signed=True)]
        )

    @property
    def n_layers(self) -> int:
        return len(self.linears)

    def forward_trace(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's (requantized, when enabled) output; the last is the logits."""
        h = self.input_quant(x)
        outs = []
        for k, (lin, act) in enumerate(zip(self.linears, self.acts, strict=True)):
            h = lin(h)
            if k < self.n_layers - 1:
                h = torch.relu(h)
            h = act(h)
            outs.append(h)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_trace(x)[-1]

    def formats(self) -> list[FixedFormat]:
        """Input format, then each layer's output format."""
        return [self.input_quant.fmt, *(a.fmt for a in self.acts)]

    def set_quant(self, enabled: bool) -> None:
        """Switch every quantizer at once (float training <-> QAT/eval of the integer network)."""
        for q in (self.input_quant, *self.acts):
            q.enabled = enabled
        for lin in self.linears:
            lin.quant_enabled = enabled

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Choose each activation format's ``frac`` from the float ranges on ``x``, then the
        layers' ``in_frac``/``min_frac`` so every shift is >= 0 (the IR cannot shift left).

        Each output frac is the finer of the range-derived frac and ``in_frac + min_c g_c``:
        finer than that would need a negative shift on some channel.
        """
        was = self.input_quant.enabled
        self.set_quant(False)
        h = x
        in_frac = self.input_quant.frac
        for k, (lin, act) in enumerate(zip(self.linears, self.acts, strict=True)):
            lin.in_frac, lin.min_frac = in_frac, None
            h = lin(h)
            if k < self.n_layers - 1:
                h = torch.relu(h)
            peak = float(h.abs().max()) if h.numel() else 0.0
            headroom = 1.0 if k < self.n_layers - 1 else 4.0  # logits: spare range, never clip
            frac = act.frac_for_range(peak * headroom)
            frac = min(frac, in_frac + int(lin.exponent().min()))
            act.frac = frac
            lin.min_frac = frac - in_frac
            in_frac = frac
        self.set_quant(was)
