"""Method 3: single-pass sparse + low-precision training (SQuantizer).

After Park, Xu, Brick, "SQuantizer: Simultaneous Learning for Both Sparse and Low-precision
Neural Networks" (arXiv 1812.08301; only the abstract was available to us). One training pass in
which every step first sparsifies, then quantizes, the weights, with activations quantized too.

Our reading (*choices*, each because the paper's details are not public):

- Threshold: per layer ``l``, keep ``|w| >= mean|W_l| + σ·std|W_l|`` (the statistic-based
  threshold of a third-party reimplementation), with ONE ``σ`` shared by all layers and chosen
  every step so the overall sparsity equals the current target exactly. (Ranking the per-layer
  z-scores ``(|w| - mean|W_l|) / std|W_l|`` globally is the same rule.) Layers whose weights are
  all alike (a small first conv) thus keep more than the average, as with a fixed σ.
- The target ramps cubically (:func:`compress.prune.cubic_schedule`) from 0 to ``sparsity``
  over the first ``ramp_epochs`` epochs, then holds; the mask is recomputed from the dense
  weights after every optimizer step, and pruned weights are NOT zeroed (their gradient is 0
  through the mask, the straight-through estimator stops below τ), so a weight can come back
  when the threshold moves.
- Quantization from the first step: survivors to ``weight_bits`` per output channel
  (power-of-two scale, as the hardware shifts), activations to ``act_bits`` (this project's
  calibrated power-of-two range, not a learned PACT clip), re-calibrated at every epoch start.
  The order is sparsify-then-quantize (the quantizer sees the masked weights).
- The float model is pre-trained first (shared with every method); ``epochs`` counts the single
  compression pass only. Plain cross-entropy, AdamW with cosine decay from ``lr``.
- Defaults: 4-bit weights, 8-bit activations (the other methods' width, so the benchmark
  compares weight memory at equal activations), 300 epochs (the other methods' budget). 4-bit
  activations cost accuracy on digits-cnn at 90 % sparsity: 78.67 % vs 83.33 % with 8-bit
  (150 epochs, lr 1e-2, seed 0); lr 2e-3 was worse still (72.44 %).

Measured on digits-cnn, seed 0, defaults (float 97.78 %): sparsity 0.7 -> 97.56 % with 6630
bits, 0.8 -> 96.44 % / 4672, 0.9 -> 87.56 % / 2667, 0.95 -> 72.00 % / 1683. At equal memory it is
below the sequential baseline (97.56 / 97.11 / 93.11 / 78.22 % at 6565 / 4598 / 2592 / 1640 bits):
the single pass does not match pruning with rewound fine-tuning on this small model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from compress.config import ProgressCallback
from compress.methods.common import Data, MethodParams, global_masks
from compress.prune import cubic_schedule
from compress.qnet import QuantNet
from compress.train import Batches, deterministic, train_epochs
from zerogate.errors import ConfigError

__all__ = ["SQuantizerParams", "apply_squantizer", "squantize"]


@dataclass(frozen=True)
class SQuantizerParams(MethodParams):
    """Method 3's knobs (a ``[method]`` table via :meth:`from_dict`); 300 epochs by default, the
    budget of method 1 and the sequential baseline."""

    METHOD: ClassVar[str] = "squantizer"
    sparsity: float = 0.8
    weight_bits: int = 4
    act_bits: int = 8
    epochs: int = 300
    ramp_epochs: int = 200
    lr: float = 1e-2
    batch_size: int = 64

    def check(self) -> None:
        if self.ramp_epochs > self.epochs:
            raise ConfigError(f"ramp_epochs = {self.ramp_epochs} exceeds epochs = {self.epochs}; "
                              "the sparsity must reach its target within the pass")


def zscores(qnet: QuantNet) -> list[torch.Tensor]:
    """Per layer ``(|w| - mean|W_l|) / std|W_l|``: ranking these globally is one shared σ."""
    out = []
    for ly in qnet.weight_layers():
        a = ly.weight.detach().abs()
        out.append((a - a.mean()) / a.std().clamp(min=1e-12))
    return out


def squantize(qnet: QuantNet, data: Batches, params: SQuantizerParams, generator: torch.Generator,
              progress: ProgressCallback | None = None) -> None:
    """The single pass on ``qnet`` (float, traced) in place; leaves it calibrated, quantization off."""
    layers = qnet.weight_layers()
    for ly in layers:
        ly.set_bits(params.weight_bits)
    for st in qnet.weight_stages()[:-1]:
        st.act.bits = params.act_bits
    per_epoch = -(-data.x.shape[0] // data.batch_size)
    ramp = cubic_schedule(params.sparsity, params.ramp_epochs * per_epoch)
    step = 0

    def sparsify_and_recalibrate() -> None:
        nonlocal step
        global_masks(layers, zscores(qnet), ramp[min(step, len(ramp) - 1)], zero_pruned=False)
        step += 1
        if step % per_epoch == 0:
            qnet.calibrate(data.x)

    global_masks(layers, zscores(qnet), 0.0, zero_pruned=False)
    qnet.calibrate(data.x)
    qnet.set_quant(True)
    train_epochs(qnet, data, params.epochs, params.lr, generator=generator, phase="sparse+quant",
                 progress=progress, after_step=sparsify_and_recalibrate)
    qnet.set_quant(False)


def apply_squantizer(qnet: QuantNet, data: Data, params: SQuantizerParams, seed: int, teacher: nn.Module,
                     progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Method 3 on ``qnet`` (float, traced) in place, seeded; returns what the IR metadata records."""
    with deterministic(seed):
        squantize(qnet, data.batches(params.batch_size), params, torch.Generator().manual_seed(seed),
                  progress)
    return {"sparsity_target": params.sparsity, "weight_bits": params.weight_bits,
            "act_bits": params.act_bits}
