"""What the compression methods share before torch loads: the progress callback type and the
range checks of their parameters.

Torch-free, so the CLI can validate options (and fail fast with a one-line error) before it pays
for importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from zerogate.errors import ConfigError

#: Widest weight the compression path emits: the accelerator's constant multipliers are sized
#: for at most 8-bit weights.
MAX_COMPRESS_WEIGHT_BITS = 8

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
