"""What a caller hands the compression pipeline: the config and the progress callback type.

Torch-free, so the CLI can validate options (and fail fast with a one-line error) before it pays
for importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from zerogate.errors import ConfigError
from zerogate.fixedpoint import MAX_BITS, MIN_WEIGHT_BITS

#: Widest weight the compression path emits: the accelerator's constant multipliers are sized
#: for at most 8-bit weights.
MAX_COMPRESS_WEIGHT_BITS = 8

PruneScope = Literal["layer", "global"]


@dataclass(frozen=True)
class ProgressEvent:
    """One finished epoch of one phase; ``completed``/``total`` count epochs within the phase."""

    phase: str
    completed: int
    total: int
    loss: float


ProgressCallback = Callable[[ProgressEvent], None]


def _int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name} = {value} is outside {rng}")


def _float(name: str, value: object, lo: float, hi: float, *, hi_open: bool = True) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    bad = not (lo <= value < hi) if hi_open else not (lo < value <= hi)
    if bad:
        rng = f"[{lo}, {hi})" if hi_open else f"({lo}, {hi}]"
        raise ConfigError(f"{name} = {value} is outside {rng}")


@dataclass(frozen=True)
class DigitsMLPConfig:
    """The embedded default: an MLP on scikit-learn's digits, pruned then quantization-aware trained.

    Defaults meet the project targets (quantized accuracy within 2 points of float, >= 80 %
    weight sparsity, <= 8-bit weights) in well under a minute on two cores.
    """

    hidden: tuple[int, ...] = (32,)
    target_sparsity: float = 0.85
    prune_scope: PruneScope = "layer"
    weight_bits: int = 6
    act_bits: int = 8
    output_bits: int = 16
    float_epochs: int = 60
    prune_steps: int = 4
    prune_epochs: int = 15
    qat_epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    qat_lr: float = 1e-3
    test_fraction: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ConfigError(f"hidden must be a non-empty tuple of layer sizes, got {self.hidden!r}")
        for k, h in enumerate(self.hidden):
            _int(f"hidden[{k}]", h, 1, 4096)
        _float("target_sparsity", self.target_sparsity, 0.0, 1.0)
        if self.prune_scope not in ("layer", "global"):
            raise ConfigError(f"prune_scope must be 'layer' or 'global', got {self.prune_scope!r}")
        _int("weight_bits", self.weight_bits, MIN_WEIGHT_BITS, MAX_COMPRESS_WEIGHT_BITS)
        _int("act_bits", self.act_bits, 2, MAX_BITS)
        _int("output_bits", self.output_bits, 2, MAX_BITS)
        _int("float_epochs", self.float_epochs, 1)
        _int("prune_steps", self.prune_steps, 1)
        _int("prune_epochs", self.prune_epochs, 1)
        _int("qat_epochs", self.qat_epochs, 1)
        _int("batch_size", self.batch_size, 1)
        _float("lr", self.lr, 0.0, 10.0, hi_open=False)
        _float("qat_lr", self.qat_lr, 0.0, 10.0, hi_open=False)
        _float("test_fraction", self.test_fraction, 0.05, 0.95, hi_open=False)
        _int("seed", self.seed, 0, 2**32 - 1)

    @property
    def method(self) -> str:
        """Name recorded in the IR metadata, so a report can say how the weights were made."""
        return "magnitude-prune+qat"
