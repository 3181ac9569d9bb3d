"""Fold an eval-mode BatchNorm into the Linear/Conv that feeds it, before quantization.

``bn(conv(x)) = gamma * (W x + b - mean) / sqrt(var + eps) + beta`` is the affine map
``W' x + b'`` with ``W' = W * s`` (per output channel) and ``b' = (b - mean) * s + beta``,
``s = gamma / sqrt(var + eps)``. Folding first means the quantizer sees the weights the
hardware will hold: there is no BatchNorm in the IR or the accelerator.
"""

from __future__ import annotations

import torch
from torch import nn

from zerogate.errors import UnsupportedError


@torch.no_grad()
def fold_bn(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm, where: str = "") -> None:
    """Fold ``bn`` (running statistics) into ``layer``'s weight and bias in place (computed in
    float64); a layer without a bias gets one.
    """
    at = f" at '{where}'" if where else ""
    if bn.running_mean is None or bn.running_var is None:
        raise UnsupportedError(f"BatchNorm{at} has track_running_stats=False: it normalises with batch "
                               "statistics, which no fixed network can reproduce; train with running stats")
    weight: torch.Tensor = layer.weight  # type: ignore[assignment]
    n_out = weight.shape[0]
    if bn.num_features != n_out:
        raise UnsupportedError(f"BatchNorm{at} normalises {bn.num_features} channels but the layer "
                               f"before it has {n_out} outputs")
    var = bn.running_var.to(torch.float64)
    mean = bn.running_mean.to(torch.float64)
    gamma = bn.weight.to(torch.float64) if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.to(torch.float64) if bn.bias is not None else torch.zeros_like(var)
    s = gamma / torch.sqrt(var + bn.eps)
    old_bias = layer.bias
    b = old_bias.to(torch.float64) if old_bias is not None else torch.zeros_like(var)
    w = weight.to(torch.float64) * s.reshape(-1, *([1] * (weight.dim() - 1)))
    weight.copy_(w.to(weight.dtype))
    new_bias = ((b - mean) * s + beta).to(weight.dtype)
    if old_bias is None:
        layer.bias = nn.Parameter(new_bias)
    else:
        old_bias.copy_(new_bias)
