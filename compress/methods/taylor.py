"""Method 1: two-stage compression, unstructured pruning by a first-order Taylor score, then
quantization of the survivors.

After Yu, Wu, Klopp, Chen, Chien, "Towards extreme sparsity for quantized networks" (arXiv
2010.01892; only the abstract was available to us). Stage 1 prunes iteratively to a very high
sparsity with fine-tuning between steps; stage 2 fine-tunes the surviving weights at fixed
point with the mask frozen.

- Importance (*our choice*, the paper's exact score is not public): the first-order Taylor
  score ``S(w) = Σ_b |w · ∂L_b/∂w|`` summed over ``score_batches`` training minibatches (the
  Molchanov et al. estimate of the loss change when ``w`` is removed), ranked globally over all
  weight layers together. ``importance = "magnitude"`` ranks by ``|w|`` instead, for comparison.
- Schedule: the cubic ramp of :func:`compress.prune.cubic_schedule` to ``sparsity`` in
  ``prune_steps`` steps, ``finetune_epochs`` of float fine-tuning after each (learning rate
  rewound to ``lr`` every step). Pruned weights score 0, so masks only grow.
- Stage 2, the "fine-tuning mode" (*our choice*; the paper's is not public): every survivor set
  to ``weight_bits`` (power-of-two per-channel scale, as the hardware needs), activations to
  ``act_bits``, quantization-aware training for ``qat_epochs`` at ``qat_lr`` (cosine decay) with
  the mask frozen and the activation formats calibrated once before it. Knowledge distillation
  from the dense float model (share ``distill`` of the loss, in both stages) is available but off
  by default: on digits-cnn it lost 2 points at 90 % sparsity (92.67 % vs 94.67 %, 6 x 20 + 40
  epochs) and 0.2 at 80 % (96.89 % vs 97.11 %), seed 0.
- Each layer keeps at least its best weight (an emptied layer would make the output constant).
  Scores are ranked raw (not normalised per layer): an L2-normalised variant measured worse on
  digits-cnn (90.89 % vs 94.00 % at 90 %, 96.67 % vs 97.11 % at 80 %).

Measured on digits-cnn, seed 0, the defaults (sparsity 0.8, 4-bit, 8 x 30 + 60 epochs;
``examples/cnn_taylor.toml``): float 97.78 % -> IR 97.11 % (0.67 points lost), 4544 weight-memory
bits, 92.4 % less than float32 (13.1x), 15 s. The >= 98.5 % reduction (<= 895 bits for this
model's 1864 weights) is out of reach at <= 1 point loss here: the per-channel fields alone
(bias, shift, width of 34 channels) take ~590 bits, and at 95 % sparsity (1588 bits, 97.3 %
less) accuracy fell to 82 %. Taylor vs magnitude ranking (same schedule): 96.00 vs 97.56 % at
70 % sparsity, 97.11 vs 97.11 % at 80 %, 94.00 vs 93.11 % at 90 %, 82.22 vs 78.22 % at 95 %: the
Taylor score helps only at the extreme sparsities it was designed for. Reproduce:
``zerogate compress --config examples/cnn_taylor.toml --out build/cnn-taylor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from compress.config import ProgressCallback
from compress.methods.common import Data, MethodParams, prune_finetune, qat
from compress.prune import cubic_schedule
from compress.qnet import QuantNet
from compress.train import Batches, Distill, deterministic
from zerogate.errors import ConfigError

__all__ = ["TaylorParams", "apply_taylor", "compress_taylor", "taylor_scores"]

Importance = Literal["taylor", "magnitude"]


@dataclass(frozen=True)
class TaylorParams(MethodParams):
    """Method 1's knobs (a ``[method]`` table via :meth:`from_dict`); by default 8 x 30 + 60 = 300
    epochs after the float pre-training (the same budget as the sequential baseline)."""

    METHOD: ClassVar[str] = "taylor"
    sparsity: float = 0.8
    prune_steps: int = 8
    importance: Importance = "taylor"
    score_batches: int = 16
    finetune_epochs: int = 30  # per prune step
    qat_epochs: int = 60
    weight_bits: int = 4
    act_bits: int = 8
    lr: float = 1e-2
    qat_lr: float = 1e-3
    distill: float = 0.0
    temperature: float = 4.0
    batch_size: int = 64

    def check(self) -> None:
        if self.importance not in ("taylor", "magnitude"):
            raise ConfigError(f"importance must be 'taylor' or 'magnitude', got {self.importance!r}")


def taylor_scores(qnet: QuantNet, data: Batches, n_batches: int,
                  generator: torch.Generator) -> list[torch.Tensor]:
    """Per weight layer, ``Σ_b |w · ∂L_b/∂w|`` over ``n_batches`` shuffled minibatches (float
    forward with the masks; pruned weights score exactly 0)."""
    layers = qnet.weight_layers()
    scores = [torch.zeros_like(ly.weight) for ly in layers]
    loss_fn = nn.CrossEntropyLoss()
    qnet.eval()
    for k, (xb, yb) in enumerate(data.epoch(generator)):
        if k == n_batches:
            break
        qnet.zero_grad(set_to_none=True)
        loss_fn(qnet(xb), yb).backward()
        with torch.no_grad():
            for s, ly in zip(scores, layers, strict=True):
                s += (ly.weight * ly.weight.grad).abs() * ly.mask
    qnet.zero_grad(set_to_none=True)
    return scores


def compress_taylor(qnet: QuantNet, data: Batches, params: TaylorParams, generator: torch.Generator,
                    teacher: nn.Module | None = None, progress: ProgressCallback | None = None) -> None:
    """Both stages on ``qnet`` (float, traced) in place; ``teacher`` is the float model to distil
    from (None: no distillation). Leaves it calibrated, quantization off."""
    use_kd = teacher is not None and params.distill > 0
    kd = Distill(teacher, params.distill, params.temperature) if use_kd else None

    def score() -> list[torch.Tensor]:
        if params.importance == "taylor":
            return taylor_scores(qnet, data, params.score_batches, generator)
        return [(ly.weight * ly.mask).abs() for ly in qnet.weight_layers()]

    prune_finetune(qnet, data, cubic_schedule(params.sparsity, params.prune_steps), score,
                   epochs=params.finetune_epochs, lr=params.lr, generator=generator, progress=progress,
                   distill=kd)
    qat(qnet, data, params.weight_bits, params.qat_epochs, params.qat_lr, generator=generator,
        progress=progress, distill=kd)


def apply_taylor(qnet: QuantNet, data: Data, params: TaylorParams, seed: int, teacher: nn.Module,
                 progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Method 1 on ``qnet`` (float, traced) in place, seeded; returns what the IR metadata records."""
    with deterministic(seed):
        compress_taylor(qnet, data.batches(params.batch_size), params, torch.Generator().manual_seed(seed),
                        teacher, progress)
    return {"sparsity_target": params.sparsity, "importance": params.importance,
            "weight_bits": params.weight_bits, "act_bits": params.act_bits}
