"""The fixed-point arithmetic, specified once.

Every number on the datapath is an integer ``q`` standing for ``q * 2**-frac``. A layer
accumulates exact integer products, then *requantizes* each output channel:

1. ``acc = sum(w * x) + bias`` — exact, in an accumulator wide enough by construction;
2. ``r = round(acc / 2**shift)`` with the layer's rounding rule:
   ``HALF_UP`` = ``(acc + 2**(shift-1)) >> shift`` (arithmetic shift, ties toward +inf),
   ``FLOOR`` = ``acc >> shift``;
3. ``y = clamp(r, lo, hi)`` — saturation to the output format, narrowed by the activation.

Activations (one per weight layer, :class:`Activation`) act on the integer:

- ``none``: ``[lo, hi]`` is the output format's range;
- ``relu``: ``lo`` is raised to 0 (the output format is unsigned);
- ``clamp`` (Hardtanh, ReLU6, ``torch.clamp``): ``[lo, hi]`` is narrowed to the activation's
  integer bounds, which lie inside the format. A real bound ``b`` becomes ``floor(b * 2**frac
  + 1/2)`` at the output format: step 2's rounding (half up), whatever the layer's rounding.
  Rounding is monotone, so clamping the real value first and rounding after (what PyTorch
  computes) equals rounding first and clamping at the rounded bounds: an unrepresentable bound
  costs no exactness. A clamp whose lower bound is 0 and upper bound the format's top is ReLU.
- ``leaky`` (LeakyReLU with ``negative_slope = 2**-k``, ``k >= 1``): a negative accumulator is
  requantized with shift ``shift + k`` instead of ``shift``, i.e. ``r = round(acc / 2**(shift+k))``
  with the layer's rounding. That is the exact value ``acc * 2**-k`` rounded once, as the
  PyTorch forward (LeakyReLU, then the output quantizer) computes it; rounding ``r`` a second
  time (``round(round(acc / 2**shift) / 2**k)``) would differ (``acc = -3, shift = k = 1``:
  ``-1`` once, ``0`` twice). Hardware selects the branch on the sign of the shift-``shift``
  result, which is equivalent: a negative ``acc`` that rounds to 0 also gives 0 on the other
  branch. Then step 3 saturates to the (signed) output format.

The numpy golden model, the PyTorch reference and the generated RTL all implement exactly
these steps; tests hold them equal on every integer.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

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


class ActKind(enum.StrEnum):
    NONE = "none"
    RELU = "relu"
    CLAMP = "clamp"
    LEAKY = "leaky"


#: Largest LeakyReLU shift ``k`` (slope ``2**-k``); a smaller slope is ReLU for any 16-bit output.
MAX_LEAKY_SHIFT = 16


@dataclass(frozen=True)
class Activation:
    """A weight layer's activation, on the integer at the output scale (see the module docstring).

    ``lo``/``hi`` are the clamp's integer bounds (``clamp`` only); ``shift`` is LeakyReLU's ``k``
    (``leaky`` only). ``Activation.NONE`` and ``Activation.RELU`` are the parameterless ones.
    """

    kind: ActKind = ActKind.NONE
    lo: int | None = None
    hi: int | None = None
    shift: int = 0

    NONE: ClassVar[Activation]
    RELU: ClassVar[Activation]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ActKind(self.kind))
        clamp, leaky = self.kind is ActKind.CLAMP, self.kind is ActKind.LEAKY
        if clamp != (self.lo is not None and self.hi is not None) or (not clamp and self.hi is not None):
            raise IRError(f"activation {self.kind.value}: clamp bounds lo/hi belong to 'clamp' only, which "
                          "needs both")
        if clamp and not (_is_int(self.lo) and _is_int(self.hi) and self.lo < self.hi):  # type: ignore[operator]
            raise IRError(f"activation clamp: bounds [{self.lo}, {self.hi}] must be integers with lo < hi; "
                          "re-export with a valid clamp")
        if not _is_int(self.shift) or (leaky and not 1 <= self.shift <= MAX_LEAKY_SHIFT) or (
                not leaky and self.shift):
            raise IRError(f"activation {self.kind.value}: shift {self.shift!r} must be 1..{MAX_LEAKY_SHIFT} "
                          "for 'leaky' (slope 2**-shift) and 0 otherwise")

    @classmethod
    def clamp(cls, lo: int, hi: int) -> Activation:
        return cls(ActKind.CLAMP, lo=int(lo), hi=int(hi))

    @classmethod
    def leaky(cls, k: int) -> Activation:
        return cls(ActKind.LEAKY, shift=int(k))

    def bounds(self, fmt: FixedFormat) -> tuple[int, int]:
        """Step 3's ``[lo, hi]`` for output format ``fmt``."""
        if self.kind is ActKind.RELU:
            return max(fmt.min_int, 0), fmt.max_int
        if self.kind is ActKind.CLAMP:
            return max(fmt.min_int, int(self.lo)), min(fmt.max_int, int(self.hi))  # type: ignore[arg-type]
        return fmt.min_int, fmt.max_int

    def check(self, fmt: FixedFormat) -> str | None:
        """Why this activation cannot sit on output format ``fmt`` (``None`` if it can)."""
        if self.kind is ActKind.RELU and fmt.signed:
            return "a ReLU output must use an unsigned format"
        if self.kind is ActKind.LEAKY and not fmt.signed:
            return "a LeakyReLU output must use a signed format"
        if self.kind is ActKind.CLAMP and not fmt.min_int <= int(self.lo) < int(self.hi) <= fmt.max_int:  # type: ignore[arg-type]
            return (f"clamp bounds [{self.lo}, {self.hi}] leave the output format {fmt} "
                    f"[{fmt.min_int}, {fmt.max_int}]")
        return None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is ActKind.CLAMP:
            d.update(lo=self.lo, hi=self.hi)
        if self.kind is ActKind.LEAKY:
            d["shift"] = self.shift
        return d

    def __str__(self) -> str:
        if self.kind is ActKind.CLAMP:
            return f"clamp[{self.lo}, {self.hi}]"
        if self.kind is ActKind.LEAKY:
            return f"leaky 2^-{self.shift}"
        return self.kind.value


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


Activation.NONE = Activation(ActKind.NONE)
Activation.RELU = Activation(ActKind.RELU)


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


def activate_round(acc: np.ndarray, shift: np.ndarray, rounding: Rounding,
                   activation: Activation) -> np.ndarray:
    """Step 2 with the activation's choice of shift: ``shift + k`` on LeakyReLU's negative side."""
    r = shift_round(acc, shift, rounding)
    if activation.kind is ActKind.LEAKY:
        neg = shift_round(acc, np.asarray(shift, dtype=np.int64) + activation.shift, rounding)
        r = np.where(np.asarray(acc) < 0, neg, r)
    return r


def requantize(
    acc: np.ndarray,
    shift: np.ndarray,
    out: FixedFormat,
    rounding: Rounding,
    activation: Activation,
) -> np.ndarray:
    """Steps 2 and 3 of the spec: shift with rounding, then clamp to the activation's bounds in ``out``."""
    lo, hi = activation.bounds(out)
    return np.clip(activate_round(acc, shift, rounding, activation), lo, hi)


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
