"""Pruning building blocks: the cubic sparsity ramp, top-k masks and re-applying them.

Masks live in each :class:`~compress.quant.QuantWeightLayer`'s ``mask`` buffer, so they travel
with ``state_dict`` and the quantized forward sees exact zeros. The methods rank weights with
their own scores (:func:`compress.methods.common.global_masks`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from compress.quant import QuantWeightLayer


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
def apply_masks(layers: Iterable[QuantWeightLayer]) -> None:
    """Zero the stored weights under the mask (why: optimizer momentum would revive them)."""
    for ly in layers:
        ly.weight.mul_(ly.mask)
