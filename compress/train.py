"""Seeded, deterministic training: the epoch loop every method trains with, accuracy, distillation.

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

from compress.config import ProgressCallback, ProgressEvent


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


@dataclass(frozen=True, eq=False)
class Distill:
    """Knowledge distillation (Hinton et al., 2015) from a frozen ``teacher``.

    Why: on 1.3k training images the dense model's soft targets carry more information than
    the labels, which is what lets a pruned, quantized student keep the teacher's accuracy.
    """

    teacher: nn.Module
    weight: float = 0.7  # share of the distillation term in the loss
    temperature: float = 4.0

    def mix(self, hard_loss: torch.Tensor, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        with torch.no_grad():
            soft = torch.softmax(self.teacher(x) / t, dim=1)
        kd = nn.functional.cross_entropy(logits / t, soft) * t**2  # t**2 keeps gradient scale
        return (1.0 - self.weight) * hard_loss + self.weight * kd


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
    weight_decay: float = 0.0,
    distill: Distill | None = None,
) -> float:
    """AdamW + cross-entropy with a cosine learning-rate decay over ``epochs``; returns the
    last epoch's mean loss.

    ``after_step`` runs after every optimizer step (pruning uses it to re-zero masked weights).
    The cosine decay restarts at ``lr`` each call: after a prune step that is learning-rate
    rewinding (Renda et al., 2020), which recovers more accuracy than a small constant rate.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-data.x.shape[0] // data.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    mean = float("nan")
    if distill is not None:
        distill.teacher.eval()
    model.train()
    for ep in range(epochs):
        total, n = 0.0, 0
        for xb, yb in data.epoch(generator):
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            if distill is not None:
                loss = distill.mix(loss, logits, xb)
            loss.backward()
            opt.step()
            sched.step()
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
