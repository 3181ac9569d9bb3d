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


def _float(name: str, value: object, lo: float, hi: float, bounds: str = "[)") -> None:
    """Check ``value`` lies in the interval ``lo, hi`` with ``bounds`` brackets, e.g. ``"(]"``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    ok_lo = value >= lo if bounds[0] == "[" else value > lo
    ok_hi = value <= hi if bounds[1] == "]" else value < hi
    if not (ok_lo and ok_hi):
        raise ConfigError(f"{name} = {value} is outside {bounds[0]}{lo}, {hi}{bounds[1]}")


@dataclass(frozen=True)
class DigitsMLPConfig:
    """The embedded default: an MLP on scikit-learn's digits, pruned then quantization-aware trained.

    Defaults meet the project targets (quantized accuracy within 2 points of float, >= 80 %
    weight sparsity, <= 8-bit weights) in well under a minute on two cores.
    """

    hidden: tuple[int, ...] = (32,)
    target_sparsity: float = 0.85
    prune_scope: PruneScope = "global"
    weight_bits: int = 6
    act_bits: int = 8
    output_bits: int = 16
    float_epochs: int = 60
    prune_steps: int = 4
    prune_epochs: int = 30
    qat_epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-2
    prune_lr: float = 1e-2
    qat_lr: float = 1e-3
    distill: float = 0.7
    temperature: float = 4.0
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
        for name in ("lr", "prune_lr", "qat_lr"):
            _float(name, getattr(self, name), 0.0, 10.0, "(]")
        _float("distill", self.distill, 0.0, 1.0, "[]")
        _float("temperature", self.temperature, 0.0, 100.0, "(]")
        _float("test_fraction", self.test_fraction, 0.05, 0.95, "[]")
        _int("seed", self.seed, 0, 2**32 - 1)

    @property
    def method(self) -> str:
        """Name recorded in the IR metadata, so a report can say how the weights were made."""
        return "magnitude-prune+kd+qat" if self.distill else "magnitude-prune+qat"
