"""Magnitude pruning: masks, the sparsity ramp, and sparsity accounting.

Scope ``"global"`` (the default) ranks all weights of all layers together; ``"layer"`` prunes
every layer to the same sparsity. Global wins on digits (measured: 0.2-1.6 points lost at 85 %
vs. 1-2.4 per layer, seeds 0-6) because a uniform rate strips the 10-wide classifier to ~5
weights per class, while the first layer has many never-lit border pixels whose weights cost
nothing to drop. Its risk, a layer whose weights are all small being emptied, is visible in
the exported IR (a channel with no nonzero weight) rather than silent.

Masks live in each :class:`~compress.quant.QuantLinear`'s ``mask`` buffer, so they travel
with ``state_dict`` and the quantized forward sees exact zeros.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from compress.config import PruneScope
from compress.quant import QuantLinear


def cubic_schedule(target: float, steps: int) -> list[float]:
    """Sparsity after each of ``steps`` prune steps: ``s_t = target * (1 - (1 - t/steps)**3)``.

    The cubic ramp (Zhu & Gupta, 2017) prunes hard while many redundant weights remain and
    gently near the target, so fine-tuning can recover between steps.
    """
    return [target * (1.0 - (1.0 - t / steps) ** 3) for t in range(1, steps + 1)]


def _keep_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the ``round((1-sparsity)*n)`` largest scores; ties broken by index (deterministic)."""
    flat = scores.flatten()
    n_keep = int(round((1.0 - sparsity) * flat.numel()))
    keep = torch.zeros_like(flat)
    if n_keep > 0:
        order = torch.argsort(flat, descending=True, stable=True)
        keep[order[:n_keep]] = 1.0
    return keep.view_as(scores)


@torch.no_grad()
def update_masks(layers: Iterable[QuantLinear], sparsity: float, scope: PruneScope = "layer") -> None:
    """Set masks so ``sparsity`` of the weights (per layer or overall) are zero, by |w|.

    Already-pruned weights score 0 and stay pruned: masks only grow along a ramp.
    """
    layers = list(layers)
    scores = [(ly.weight * ly.mask).abs() for ly in layers]
    if scope == "layer":
        for ly, s in zip(layers, scores, strict=True):
            ly.mask.copy_(_keep_mask(s, sparsity))
    elif scope == "global":
        flat = torch.cat([s.flatten() for s in scores])
        keep = _keep_mask(flat, sparsity)
        start = 0
        for ly, s in zip(layers, scores, strict=True):
            ly.mask.copy_(keep[start : start + s.numel()].view_as(s))
            start += s.numel()
    else:
        raise ValueError(f"unknown prune scope {scope!r}")
    apply_masks(layers)


@torch.no_grad()
def apply_masks(layers: Iterable[QuantLinear]) -> None:
    """Zero the stored weights under the mask (why: optimizer momentum would revive them)."""
    for ly in layers:
        ly.weight.mul_(ly.mask)


def sparsity(layers: Iterable[QuantLinear]) -> float:
    """Fraction of masked-out weights over all layers."""
    layers = list(layers)
    total = sum(ly.mask.numel() for ly in layers)
    kept = sum(int(ly.mask.sum()) for ly in layers)
    return 1.0 - kept / total
