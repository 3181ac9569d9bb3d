"""Seeded, deterministic training loops: float training, prune + fine-tune, and QAT.

Determinism is what lets a test demand identical IR weights for the same seed, so every loop
runs single-threaded with deterministic algorithms and its own RNG state (the caller's global
torch RNG and thread settings are restored afterwards). Nothing here prints: callers pass a
:data:`~compress.config.ProgressCallback`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from compress.config import ProgressCallback, ProgressEvent, PruneScope
from compress.prune import apply_masks, cubic_schedule, update_masks
from compress.quant import QuantLinear, QuantMLP


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch, one thread, deterministic kernels; restore all of it on exit."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(det)
            torch.set_num_threads(threads)


@dataclass(frozen=True)
class Batches:
    """Training tensors plus the knobs for shuffled minibatches."""

    x: torch.Tensor
    y: torch.Tensor
    batch_size: int

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(self.x.shape[0], generator=generator)
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i : i + self.batch_size]
            yield self.x[idx], self.y[idx]


def _linears(model: nn.Module) -> list[QuantLinear]:
    return [m for m in model.modules() if isinstance(m, QuantLinear)]


def train_epochs(
    model: nn.Module,
    data: Batches,
    epochs: int,
    lr: float,
    *,
    generator: torch.Generator,
    phase: str,
    progress: ProgressCallback | None = None,
    after_step: Callable[[], None] | None = None,
) -> float:
    """Adam + cross-entropy for ``epochs``; returns the last epoch's mean loss.

    ``after_step`` runs after every optimizer step (pruning uses it to re-zero masked weights).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    mean = float("nan")
    model.train()
    for ep in range(epochs):
        total, n = 0.0, 0
        for xb, yb in data.epoch(generator):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(yb)
            n += len(yb)
        mean = total / n
        if progress is not None:
            progress(ProgressEvent(phase=phase, completed=ep + 1, total=epochs, loss=mean))
    model.eval()
    return mean


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in eval mode (first argmax, the same tie rule as the golden model)."""
    model.eval()
    return float((model(x).argmax(dim=1) == y).double().mean())


def train_float(
    model: QuantMLP, data: Batches, epochs: int, lr: float, *,
    generator: torch.Generator, progress: ProgressCallback | None = None,
) -> float:
    """Dense float training (quantizers off)."""
    model.set_quant(False)
    return train_epochs(model, data, epochs, lr, generator=generator, phase="float", progress=progress)


def prune_finetune(
    model: QuantMLP, data: Batches, *, target: float, steps: int, epochs_per_step: int, lr: float,
    scope: PruneScope = "layer", generator: torch.Generator, progress: ProgressCallback | None = None,
) -> float:
    """Iterative magnitude pruning along :func:`~compress.prune.cubic_schedule`, fine-tuning
    ``epochs_per_step`` after each step; the final masks hit ``target`` exactly.
    """
    model.set_quant(False)
    layers = _linears(model)
    loss = float("nan")
    for k, s in enumerate(cubic_schedule(target, steps)):
        update_masks(layers, s, scope)
        loss = train_epochs(
            model, data, epochs_per_step, lr, generator=generator,
            phase=f"prune {k + 1}/{steps}", progress=progress, after_step=lambda: apply_masks(layers),
        )
    return loss


def train_qat(
    model: QuantMLP, data: Batches, epochs: int, lr: float, *,
    generator: torch.Generator, progress: ProgressCallback | None = None,
) -> float:
    """Calibrate activation formats on the training inputs, then quantization-aware training
    with the masks frozen (masked weights get zero gradient and are re-zeroed every step).
    """
    model.set_quant(False)
    model.calibrate(data.x)
    model.set_quant(True)
    layers = _linears(model)
    return train_epochs(
        model, data, epochs, lr, generator=generator, phase="qat", progress=progress,
        after_step=lambda: apply_masks(layers),
    )
