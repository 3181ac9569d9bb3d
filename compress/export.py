"""Export a trained :class:`~compress.quant.QuantMLP` to a :class:`zerogate.ir.Network`.

The integers come from the same float64 quantizer methods the reference forward uses, so the
IR, the PyTorch reference and the golden model cannot drift apart.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from compress.quant import QuantLinear, QuantMLP
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import Activation, FixedFormat, Overflow, Rounding, signed_bits_for
from zerogate.ir import MAX_BIAS_BITS, Layer, LayerKind, Network


def _ints(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.int64).numpy().copy()


@torch.no_grad()
def export_layer(
    lin: QuantLinear, name: str, inp: FixedFormat, out: FixedFormat, relu: bool
) -> Layer:
    """One IR layer from a float64 ``QuantLinear`` whose ``in_frac`` is ``inp.frac``."""
    if lin.in_frac != inp.frac:
        raise UnsupportedError(
            f"{name}: layer calibrated for input frac {lin.in_frac}, but its input format is {inp}; "
            "re-run calibration before exporting"
        )
    w_int, _ = lin.quant_weight()
    g = _ints(lin.exponent())
    shift = inp.frac + g - out.frac
    if np.any(shift < 0):
        c = int(np.argmin(shift))
        raise UnsupportedError(
            f"{name}: channel {c} needs a left shift ({int(shift[c])}): output format {out} is finer "
            f"than its accumulator (input frac {inp.frac} + weight frac {int(g[c])}); "
            "calibrate so out.frac <= in.frac + min weight frac"
        )
    qb = lin.quant_bias()
    bias = _ints(qb[0]) if qb is not None else np.zeros(lin.out_features, dtype=np.int64)
    bias_bits = max(2, signed_bits_for(int(bias.min()), int(bias.max())))
    if bias_bits > MAX_BIAS_BITS:
        raise UnsupportedError(
            f"{name}: a bias needs {bias_bits} bits (> {MAX_BIAS_BITS}); the training diverged"
        )
    return Layer(
        name=name,
        kind=LayerKind.DENSE,
        in_features=lin.in_features,
        out_features=lin.out_features,
        weight=_ints(w_int),
        bias=bias,
        weight_bits=_ints(lin.weight_bits),
        weight_frac=g,
        shift=shift,
        input=inp,
        output=out,
        bias_bits=bias_bits,
        rounding=Rounding.HALF_UP,
        overflow=Overflow.SATURATE,
        activation=Activation.RELU if relu else Activation.NONE,
    )


def export_network(model: QuantMLP, name: str, metadata: Mapping[str, Any] | None = None) -> Network:
    """The IR of ``model`` (calibrated; quantizers need not be enabled): layers ``fc0``, ``fc1``, ...

    ReLU on hidden layers, none on the last; formats are the model's activation formats.
    """
    ref = copy.deepcopy(model).double().eval()
    fmts = ref.formats()
    n = ref.n_layers
    layers = tuple(
        export_layer(lin, f"fc{k}", fmts[k], fmts[k + 1], relu=k < n - 1)
        for k, lin in enumerate(ref.linears)
    )
    return Network(
        name=name,
        input=fmts[0],
        in_features=ref.linears[0].in_features,
        layers=layers,
        metadata=dict(metadata or {}),
    )
