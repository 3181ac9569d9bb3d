"""A generic quantized feed-forward network: an ordered chain of stages that maps 1:1 onto the IR.

Stages, in order:

- :class:`WeightStage` — a :class:`~compress.quant.QuantWeightLayer` (dense or convolution),
  an optional activation (:class:`~compress.activation.StageAct`: ReLU, a clamp, LeakyReLU 2^-k)
  and the :class:`~compress.quant.ActQuant` of its output format (unsigned when the activation
  has no negative values: the clamp at zero is the spec's ReLU). One IR :class:`~zerogate.ir.Layer`.
- :class:`PoolStage` — max or average pooling (no padding). One IR :class:`~zerogate.ir.Pool`;
  an average pool rounds half up onto its input grid, as the golden model's shift does.
- ``nn.Flatten`` — no IR node: a dense layer reads its input flattened channel-major anyway.

:meth:`QuantNet.forward_trace` returns one tensor per IR node, which is what the float64
reference (:mod:`compress.reference`) compares with :func:`zerogate.golden.trace`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from compress.activation import StageAct
from compress.quant import ActQuant, QuantLinear, QuantWeightLayer, round_half_up, ste
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat

__all__ = ["PoolStage", "QuantNet", "WeightStage"]


class WeightStage(nn.Module):
    """``layer -> (activation) -> act``; a dense layer flattens a multi-dimensional input first.

    ``activation`` is a :class:`StageAct`, or a bool for plain ReLU (True) or none (False).
    """

    def __init__(self, layer: QuantWeightLayer, act: ActQuant, activation: StageAct | bool = False) -> None:
        super().__init__()
        if isinstance(activation, bool):
            activation = StageAct("relu") if activation else StageAct()
        if act.signed and not activation.signed:
            raise ValueError(f"a {activation} stage needs an unsigned output format")
        self.layer, self.act, self.activation = layer, act, activation

    @property
    def relu(self) -> bool:
        """Whether the activation is plain ReLU."""
        return self.activation.kind == "relu"

    @property
    def is_dense(self) -> bool:
        return isinstance(self.layer, QuantLinear)

    def pre_act(self, x: torch.Tensor) -> torch.Tensor:
        """The layer output before requantization (after the ReLU)."""
        if self.is_dense and x.dim() > 2:
            x = x.flatten(1)
        return self.activation(self.layer(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.pre_act(x))

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


class PoolStage(nn.Module):
    """Max or average pooling over ``kernel`` windows (1-D or 2-D, no padding).

    With quantization on, an average is rounded half up to the input grid (``frac``, set by
    calibration): exactly ``(sum + 2**(s-1)) >> s`` because the window is a power of two.
    """

    def __init__(self, kind: str, kernel: Sequence[int], stride: Sequence[int] | None = None) -> None:
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind = kind
        self.kernel = tuple(int(k) for k in kernel)
        self.stride = tuple(int(s) for s in (stride if stride is not None else kernel))
        if len(self.kernel) not in (1, 2) or len(self.stride) != len(self.kernel):
            raise ValueError(f"pooling needs 1 or 2 spatial axes, got kernel {kernel} stride {stride}")
        window = math.prod(self.kernel)
        if kind == "avg" and window & (window - 1):
            raise UnsupportedError(
                f"average pooling window {self.kernel} has {window} elements; the hardware needs a "
                "power-of-two window (an exact shift): use 2, 4, 8, ... or max pooling"
            )
        self.frac: int | None = None
        self.enabled = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = len(self.kernel)
        fn = {("max", 1): nn.functional.max_pool1d, ("max", 2): nn.functional.max_pool2d,
              ("avg", 1): nn.functional.avg_pool1d, ("avg", 2): nn.functional.avg_pool2d}[(self.kind, nd)]
        y = fn(x, self.kernel, self.stride)
        if self.kind == "avg" and self.enabled:
            if self.frac is None:
                raise RuntimeError("PoolStage.frac is unset; calibrate before enabling quantization")
            s = 2.0**self.frac
            y = ste(y, round_half_up(y * s) / s)
        return y

    def extra_repr(self) -> str:
        return f"{self.kind}, kernel={self.kernel}, stride={self.stride}"


class QuantNet(nn.Module):
    """Input quantizer, then ``stages``; every WeightStage/PoolStage is one IR node.

    ``in_shape`` is one sample's shape, channels first (``(features,)`` for an MLP).
    """

    def __init__(
        self, input_format: FixedFormat, in_shape: Sequence[int], stages: Sequence[nn.Module]
    ) -> None:
        super().__init__()
        self.input_quant = ActQuant(input_format.bits, input_format.frac, input_format.signed)
        self.in_shape = tuple(int(n) for n in in_shape)
        self.stages = nn.ModuleList(stages)
        #: A note when tracing dropped the model's final softmax (export records it in the IR).
        self.dropped_head = ""
        for k, st in enumerate(self.stages):
            if not isinstance(st, WeightStage | PoolStage | nn.Flatten):
                raise TypeError(
                    f"stage {k} is a {type(st).__name__}; expected WeightStage, PoolStage or Flatten"
                )
        if not self.weight_layers():
            raise UnsupportedError("the network has no Linear or Conv layer; nothing to build")

    @property
    def input_format(self) -> FixedFormat:
        return self.input_quant.fmt

    def ir_stages(self) -> list[WeightStage | PoolStage]:
        """The stages that become IR nodes, in order."""
        return [st for st in self.stages if isinstance(st, WeightStage | PoolStage)]

    def weight_stages(self) -> list[WeightStage]:
        return [st for st in self.stages if isinstance(st, WeightStage)]

    def weight_layers(self) -> list[QuantWeightLayer]:
        return [st.layer for st in self.weight_stages()]

    def forward_trace(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every IR node's output (requantized when quantization is on); the last is the output."""
        h = self.input_quant(x)
        outs = []
        for st in self.stages:
            h = st(h)
            if not isinstance(st, nn.Flatten):
                outs.append(h)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output flattened to ``[n, features]`` (the logits of a classifier)."""
        h = self.input_quant(x)
        for st in self.stages:
            h = st(h)
        return h.flatten(1)

    def formats(self) -> list[FixedFormat]:
        """Input format, then each IR node's output format (a pool keeps its input's)."""
        fmts = [self.input_format]
        for st in self.ir_stages():
            fmts.append(st.act.fmt if isinstance(st, WeightStage) else fmts[-1])
        return fmts

    def set_quant(self, enabled: bool) -> None:
        """Switch every quantizer at once (float training <-> QAT/eval of the integer network)."""
        self.input_quant.enabled = enabled
        for st in self.ir_stages():
            if isinstance(st, WeightStage):
                st.act.enabled = enabled
                st.layer.quant_enabled = enabled
            else:
                st.enabled = enabled

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Choose each activation format's ``frac`` from the float ranges on ``x``, then the
        layers' ``in_frac``/``min_frac`` so every shift is >= 0 (the IR cannot shift left).

        Each output frac is the finer of the range-derived frac and ``in_frac + min_c g_c``
        (over live channels): finer than that would need a negative shift on some channel.
        The last weight layer keeps 4x headroom, so logits rarely saturate.
        """
        was = self.input_quant.enabled
        self.set_quant(False)
        last = self.weight_stages()[-1]
        h = x
        frac = self.input_quant.frac
        for st in self.stages:
            if isinstance(st, WeightStage):
                lin = st.layer
                lin.in_frac, lin.min_frac = frac, None
                h = st.pre_act(h)
                peak = float(h.abs().max()) if h.numel() else 0.0
                out_frac = st.act.frac_for_range(peak * (4.0 if st is last else 1.0))
                alive = lin.alive()
                if bool(alive.any()):
                    out_frac = min(out_frac, frac + int(lin.exponent()[alive].min()))
                st.act.frac = out_frac
                lin.min_frac = out_frac - frac
                frac = out_frac
            else:
                if isinstance(st, PoolStage):
                    st.frac = frac
                h = st(h)
        self.set_quant(was)

    def kept_channels(self) -> list[torch.Tensor]:
        """Per IR node, the output channels that exist in the IR (int64 indices).

        A weight layer's dead channels output a constant (0 when ``bits == 0``). They are dropped
        when a later weight layer reads them and the constant can be folded into that layer's
        bias exactly: always for 0, and for a dense layer or an unpadded convolution otherwise (a
        padded convolution sees zeros, not the constant, at the border). The last weight layer
        keeps every channel (they are the outputs). A pool keeps its input's channels.
        """
        stages = self.ir_stages()
        wst = self.weight_stages()
        out: list[torch.Tensor] = []
        keep = torch.arange(self.in_shape[0])
        for k, st in enumerate(stages):
            if isinstance(st, WeightStage):
                lyr = st.layer
                nxt = wst[wst.index(st) + 1] if st is not wst[-1] else None
                if nxt is None:
                    keep = torch.arange(lyr.n_out)
                else:
                    zero_out = (lyr.bits == 0) | (lyr.bias is None)
                    foldable = nxt.is_dense or not any(getattr(nxt.layer, "padding", (0,)))
                    drop = ~lyr.alive() & (zero_out | foldable)
                    if bool(drop.all()):
                        raise UnsupportedError(
                            f"IR node {k}: every output channel of this {type(lyr).__name__} is pruned, "
                            "so the network's output no longer depends on its input; prune less"
                        )
                    keep = torch.nonzero(~drop).flatten()
            out.append(keep)
        return out
