"""The bundled float models, each paired with its data set (no downloads).

Builders return plain ``nn.Module``s (what a user would write); :func:`compress.trace.from_module`
turns any of them into a quantizable :class:`~compress.qnet.QuantNet`. Sizes are chosen so the
fully unrolled hardware stays modest: a few thousand weights each before pruning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from compress.data import (
    KWS_CHANNELS,
    KWS_CLASSES,
    N_CLASSES,
    N_FEATURES,
    Dataset,
    load_digits_flat,
    load_digits_images,
    make_kws,
)

__all__ = ["MODELS", "ModelSpec", "digits_cnn", "digits_cnn_wide", "digits_mlp", "kws1d"]


def digits_mlp(hidden: int = 32) -> nn.Module:
    """64 pixels -> ``hidden`` ReLU units -> 10 logits (the embedded default's shape)."""
    return nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def digits_cnn(c1: int = 8, c2: int = 16) -> nn.Module:
    """1x8x8 digits: conv3x3 -> BN -> ReLU -> maxpool2 -> conv3x3 -> BN -> ReLU -> avgpool2 ->
    flatten -> linear 10 (``c2 * 2 * 2`` features)."""
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 2 * 2, N_CLASSES),
    )


def digits_cnn_wide() -> nn.Module:
    """:func:`digits_cnn` at 32/64 channels (21 280 weights, ~11x the default). Extreme-sparsity
    pruning needs an over-parameterised model: the 1 864-weight default cannot lose 98.5 % of its
    memory, since its per-channel parameters and CSR indices alone are close to that budget."""
    return digits_cnn(32, 64)


def kws1d(c1: int = 8, c2: int = 12, c3: int = 16) -> nn.Module:
    """2x64 clips: three conv1d -> BN -> ReLU -> pool blocks (length 64 -> 32 -> 16 -> 4), then
    flatten -> linear over the keyword classes."""
    return nn.Sequential(
        nn.Conv1d(KWS_CHANNELS, c1, 5, padding=2), nn.BatchNorm1d(c1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(c1, c2, 5, padding=2), nn.BatchNorm1d(c2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(c2, c3, 3, padding=1), nn.BatchNorm1d(c3), nn.ReLU(), nn.AvgPool1d(4),
        nn.Flatten(), nn.Linear(c3 * 4, len(KWS_CLASSES)),
    )


@dataclass(frozen=True)
class ModelSpec:
    """A named float model and the data set it is trained on (``load(seed)``)."""

    name: str
    build: Callable[[], nn.Module]
    load: Callable[[int], Dataset]
    description: str


MODELS: dict[str, ModelSpec] = {
    "digits-mlp": ModelSpec("digits-mlp", digits_mlp, load_digits_flat,
                            "MLP 64-32-10 on scikit-learn's 8x8 digits"),
    "digits-cnn": ModelSpec("digits-cnn", digits_cnn, load_digits_images,
                            "2-conv CNN with BatchNorm on the 1x8x8 digits images"),
    "digits-cnn-wide": ModelSpec("digits-cnn-wide", digits_cnn_wide, load_digits_images,
                                 "the digits CNN at 32/64 channels, for extreme-sparsity pruning"),
    "kws1d": ModelSpec("kws1d", kws1d, make_kws,
                       "3-conv 1-D CNN on a generated keyword-spotting-like set (2 channels x 64)"),
}
