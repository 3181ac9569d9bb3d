"""The fixed-point arithmetic, specified once.

Every number on the datapath is an integer ``q`` standing for ``q * 2**-frac``. A layer
accumulates exact integer products, then *requantizes* each output channel:

1. ``acc = sum(w * x) + bias`` — exact, in an accumulator wide enough by construction;
2. ``r = round(acc / 2**shift)`` with the layer's rounding rule:
   ``HALF_UP`` = ``(acc + 2**(shift-1)) >> shift`` (arithmetic shift, ties toward +inf),
   ``FLOOR`` = ``acc >> shift``;
3. ``y = clamp(r, lo, hi)`` — saturation to the output format; ReLU raises ``lo`` to 0.

The numpy golden model, the PyTorch reference and the generated RTL all implement exactly
these three steps; tests hold them equal on every integer.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

import numpy as np

from zerogate.errors import IRError

#: Widest integer the IR allows anywhere (weights, activations). Keeps every accumulator
#: comfortably inside int64 for the golden model and float64-exact for the PyTorch reference.
MAX_BITS = 16
#: Narrowest signed weight that still holds a nonzero of either sign.
MIN_WEIGHT_BITS = 2


class Rounding(enum.StrEnum):
    """How a right shift discards bits."""

    HALF_UP = "half_up"
    FLOOR = "floor"


class Activation(enum.StrEnum):
    NONE = "none"
    RELU = "relu"


class Overflow(enum.StrEnum):
    """What happens when a value leaves its format. Only saturation: wrapping is silent overflow."""

    SATURATE = "saturate"


@dataclass(frozen=True)
class FixedFormat:
    """A fixed-point format: ``bits`` wide, ``frac`` fractional bits, two's complement if signed."""

    bits: int
    frac: int
    signed: bool

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 1 <= self.bits <= MAX_BITS:
            raise IRError(f"fixed-point width {self.bits!r} is outside 1..{MAX_BITS} bits")
        if not isinstance(self.frac, int) or abs(self.frac) > 64:
            raise IRError(f"fixed-point fraction bits {self.frac!r} is not an integer in -64..64")
        if self.signed and self.bits < 2:
            raise IRError("a signed fixed-point format needs at least 2 bits")

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def scale(self) -> float:
        """Real value of one LSB."""
        return 2.0 ** -self.frac

    def to_dict(self) -> dict:
        return {"bits": self.bits, "frac": self.frac, "signed": self.signed}

    @classmethod
    def from_dict(cls, d: dict) -> FixedFormat:
        try:
            return cls(bits=int(d["bits"]), frac=int(d["frac"]), signed=bool(d["signed"]))
        except (KeyError, TypeError, ValueError) as e:
            raise IRError(f"bad fixed-point format {d!r}: needs integer bits, frac and a signed flag") from e

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}.{self.frac}"


def weight_range(bits: int) -> tuple[int, int]:
    """Signed range of a ``bits``-wide weight."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def shift_round(acc: np.ndarray, shift: np.ndarray, rounding: Rounding) -> np.ndarray:
    """Divide ``acc`` by ``2**shift`` (per element, ``shift >= 0``) with ``rounding``. Exact in int64."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), acc.shape)
    if rounding is Rounding.HALF_UP:
        half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
        return np.right_shift(acc + half, shift)
    return np.right_shift(acc, shift)


def saturate(v: np.ndarray, fmt: FixedFormat, relu: bool) -> np.ndarray:
    """Clamp to the format's range; ReLU is the clamp at zero, on the integer."""
    lo = max(fmt.min_int, 0) if relu else fmt.min_int
    return np.clip(v, lo, fmt.max_int)


def requantize(
    acc: np.ndarray,
    shift: np.ndarray,
    out: FixedFormat,
    rounding: Rounding,
    activation: Activation,
) -> np.ndarray:
    """Steps 2 and 3 of the spec: shift with rounding, then ReLU/saturate to ``out``."""
    return saturate(shift_round(acc, shift, rounding), out, activation is Activation.RELU)


def quantize_real(x: np.ndarray, fmt: FixedFormat, rounding: Rounding = Rounding.HALF_UP) -> np.ndarray:
    """Real numbers to integers of ``fmt``: ``clamp(round(x * 2**frac))``.

    Used for the network input. Exact when ``x * 2**frac`` is representable in float64.
    """
    v = np.asarray(x, dtype=np.float64) * (2.0 ** fmt.frac)
    r = np.floor(v + 0.5) if rounding is Rounding.HALF_UP else np.floor(v)
    if not np.all(np.isfinite(r)):
        raise IRError("input contains NaN or infinity; clean the data before quantizing")
    return saturate(r.astype(np.int64), fmt, relu=False)


def count_clipped(x: np.ndarray, fmt: FixedFormat) -> int:
    """How many values of ``x`` :func:`quantize_real` saturates (round half up lands outside ``fmt``)."""
    v = np.floor(np.asarray(x, dtype=np.float64) * (2.0 ** fmt.frac) + 0.5)
    return int(np.count_nonzero((v < fmt.min_int) | (v > fmt.max_int)))


def format_for(x: np.ndarray, bits: int = 8) -> FixedFormat:
    """The ``bits``-wide input format for data ``x``: unsigned unless ``x`` has a negative value,
    with the most fractional bits that still hold ``max|x|`` (so no value of ``x`` saturates)."""
    a = np.asarray(x, dtype=np.float64)
    signed = bool((a < 0).any())
    top = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    peak = float(np.abs(a).max()) if a.size else 0.0
    frac = math.floor(math.log2(top / peak)) if peak > 0 else 0
    return FixedFormat(bits=bits, frac=max(-64, min(64, frac)), signed=signed)


_FORMAT_TEXT = re.compile(r"([su])(\d+)\.(-?\d+)")


def parse_format(text: str) -> FixedFormat:
    """``"s8.4"`` / ``"u8.4"``: signed / unsigned, 8 bits in all, 4 of them fractional (a value is
    ``q · 2^-4``); the notation :class:`FixedFormat` prints."""
    m = _FORMAT_TEXT.fullmatch(text.strip())
    if m is None:
        raise IRError(f"input format {text!r} is not s<bits>.<frac> or u<bits>.<frac>, e.g. s8.4 "
                      "(signed, 8 bits, 4 fractional)")
    return FixedFormat(bits=int(m[2]), frac=int(m[3]), signed=m[1] == "s")


def signed_bits_for(lo: int, hi: int) -> int:
    """Fewest two's-complement bits that hold every integer in ``[lo, hi]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits
