"""The sequential baseline every method is compared with: prune, then quantize, separately.

Stage 1: global magnitude pruning (``|w|`` ranked over all weight layers together, the weights
of :func:`compress.prune.update_masks`' global scope) along a cubic ramp to ``sparsity`` in
``prune_steps`` steps, fine-tuning ``finetune_epochs`` in float after each (learning rate
rewound each step). Stage 2: every surviving weight set to ``weight_bits``, activations to
``act_bits``, quantization-aware training for ``qat_epochs`` with the masks frozen. Plain
cross-entropy throughout (no distillation): it is the textbook recipe, not a tuned one.

The default epoch budget, 8 steps x 30 + 60 = 300 epochs after the shared float pre-training,
is method 1's and method 3's too, so they are compared at equal budgets. (Shorter schedules
lose much more: on digits-cnn at 90 % sparsity, 4 x 5 + 30 epochs gave 59 % accuracy against
91 % for 6 x 20 + 40, seed 0.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from compress.config import MAX_COMPRESS_WEIGHT_BITS, ProgressCallback, _float, _int
from compress.methods.common import (
    MethodResult,
    check_epochs,
    check_sparsity,
    finish,
    params_from_dict,
    prune_finetune,
    qat,
    start,
)
from compress.prune import cubic_schedule
from compress.qnet import QuantNet
from compress.train import Batches, deterministic
from zerogate.fixedpoint import MAX_BITS, MIN_WEIGHT_BITS

__all__ = ["SequentialParams", "compress_sequential", "run_sequential"]


@dataclass(frozen=True)
class SequentialParams:
    """The baseline's knobs (a ``[method]`` table via :meth:`from_dict`)."""

    sparsity: float = 0.8
    prune_steps: int = 8
    finetune_epochs: int = 30  # per prune step
    qat_epochs: int = 60
    weight_bits: int = 4
    act_bits: int = 8
    lr: float = 1e-2
    qat_lr: float = 1e-3
    batch_size: int = 64

    def __post_init__(self) -> None:
        check_sparsity("sparsity", self.sparsity)
        _int("prune_steps", self.prune_steps, 1)
        check_epochs("finetune_epochs", self.finetune_epochs)
        check_epochs("qat_epochs", self.qat_epochs)
        _int("weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_COMPRESS_WEIGHT_BITS)
        _int("act_bits", self.act_bits, 2, MAX_BITS)
        _float("lr", self.lr, 0.0, 10.0, "(]")
        _float("qat_lr", self.qat_lr, 0.0, 10.0, "(]")
        _int("batch_size", self.batch_size, 1)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SequentialParams:
        return params_from_dict(cls, "sequential", d)


def compress_sequential(qnet: QuantNet, data: Batches, params: SequentialParams, generator: torch.Generator,
                        progress: ProgressCallback | None = None) -> None:
    """Prune with fine-tuning, then QAT, on ``qnet`` (float, traced) in place; leaves it
    calibrated, quantization off."""
    prune_finetune(qnet, data, cubic_schedule(params.sparsity, params.prune_steps),
                   lambda: [(ly.weight * ly.mask).abs() for ly in qnet.weight_layers()],
                   epochs=params.finetune_epochs, lr=params.lr, generator=generator, progress=progress)
    qat(qnet, data, params.weight_bits, params.qat_epochs, params.qat_lr, generator=generator,
        progress=progress)


def run_sequential(model: str, params: SequentialParams, seed: int = 0,
                   progress: ProgressCallback | None = None) -> MethodResult:
    """The baseline on a bundled model, end to end (float pre-training, prune, QAT, export, checks)."""
    s = start(model, seed, params.act_bits, progress)
    with deterministic(seed):
        gen = torch.Generator().manual_seed(seed)
        compress_sequential(s.qnet, s.data.batches(params.batch_size), params, gen, progress)
    return finish(s.qnet, model, "sequential", s.data, s.float_accuracy, s.t0,
                  {"seed": seed, "sparsity_target": params.sparsity, "weight_bits": params.weight_bits,
                   "act_bits": params.act_bits})
