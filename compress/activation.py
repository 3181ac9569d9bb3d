"""A weight stage's activation in real numbers, and how it becomes the IR's integer activation.

ReLU, clamps (Hardtanh, ReLU6, ``torch.clamp``) and LeakyReLU with a power-of-two slope; the
integer semantics are specified in :mod:`zerogate.fixedpoint`. Clamps compose (ReLU is the
clamp at 0, a ReLU then a ReLU6 is one clamp ``[0, 6]``); any other pair of activations on one
layer is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import MAX_LEAKY_SHIFT, Activation, FixedFormat

__all__ = ["StageAct", "leaky_shift"]


@dataclass(frozen=True)
class StageAct:
    """``none``, ``relu``, ``clamp`` to ``[lo, hi]`` (either may be infinite) or ``leaky`` with
    slope ``2**-k``."""

    kind: str = "none"
    lo: float = -math.inf
    hi: float = math.inf
    k: int = 0

    @classmethod
    def clamp(cls, lo: float | None, hi: float | None, what: str) -> StageAct:
        """A clamp (``None`` = no bound there), refused unless ``lo < hi``; ``[0, inf]`` is ReLU."""
        lo_f = -math.inf if lo is None else float(lo)
        hi_f = math.inf if hi is None else float(hi)
        if math.isnan(lo_f) or math.isnan(hi_f) or not lo_f < hi_f:
            raise UnsupportedError(f"{what}: min {lo} is not below max {hi}, so the output would be a "
                                   "constant; use min < max")
        return cls("relu") if (lo_f, hi_f) == (0.0, math.inf) else cls("clamp", lo_f, hi_f)

    @property
    def interval(self) -> tuple[float, float] | None:
        """The clamp interval of ``relu``/``clamp``/``none`` (``None`` for ``leaky``)."""
        if self.kind == "relu":
            return 0.0, math.inf
        if self.kind == "clamp":
            return self.lo, self.hi
        return None if self.kind == "leaky" else (-math.inf, math.inf)

    @property
    def signed(self) -> bool:
        """Whether the output format needs negative values."""
        iv = self.interval
        return iv is None or iv[0] < 0

    def then(self, other: StageAct, what: str) -> StageAct:
        """This activation followed by ``other`` on the same layer, as one activation."""
        if self.kind == "none":
            return other
        if other.kind == "none":
            return self
        a, b = self.interval, other.interval
        if a is None or b is None:
            raise UnsupportedError(f"{what}: a second activation on one layer ({self.kind} then "
                                   f"{other.kind}); keep one activation per Linear/Conv")
        lo, hi = max(a[0], b[0]), min(a[1], b[1])
        if not lo < hi:
            raise UnsupportedError(f"{what}: clamps [{a[0]}, {a[1]}] then [{b[0]}, {b[1]}] leave a constant "
                                   "output; remove one")
        return StageAct.clamp(lo, hi, what)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "relu":
            return torch.relu(x)
        if self.kind == "clamp":
            lo, hi = (None if math.isinf(v) else v for v in (self.lo, self.hi))
            return torch.clamp(x, lo, hi)
        if self.kind == "leaky":
            return torch.nn.functional.leaky_relu(x, 2.0**-self.k)
        return x

    def to_ir(self, fmt: FixedFormat, what: str) -> Activation:
        """The IR activation at output format ``fmt``: clamp bounds rounded half up to its grid
        (the spec's rule), clipped to the format; a clamp that no longer narrows it is dropped."""
        if self.kind == "leaky":
            return Activation.leaky(self.k)
        iv = self.interval
        assert iv is not None
        lo, hi = (_grid(v, fmt) for v in iv)
        lo, hi = max(lo, fmt.min_int), min(hi, fmt.max_int)
        if not lo < hi:
            raise UnsupportedError(f"{what}: clamp [{iv[0]}, {iv[1]}] is one value ({lo}) at its output "
                                   f"format {fmt}; widen the clamp or give the layer more output bits")
        if (lo, hi) == (fmt.min_int, fmt.max_int):  # no narrowing left: ReLU if unsigned (clamp at 0)
            return Activation.NONE if fmt.signed else Activation.RELU
        return Activation.clamp(lo, hi)

    def __str__(self) -> str:
        if self.kind == "clamp":
            return f"clamp[{self.lo:g}, {self.hi:g}]"
        return f"leaky(2^-{self.k})" if self.kind == "leaky" else self.kind


def _grid(v: float, fmt: FixedFormat) -> int:
    """``floor(v * 2**frac + 1/2)``: a bound on the output grid, rounded half up; infinities
    become the format's ends."""
    if math.isinf(v):
        return fmt.min_int if v < 0 else fmt.max_int
    return math.floor(math.ldexp(v, fmt.frac) + 0.5)


def leaky_shift(slope: float, what: str) -> int:
    """``k`` with ``slope == 2**-k`` (``1 <= k <= MAX_LEAKY_SHIFT``), or a refusal naming the nearest."""
    k = -math.log2(slope) if slope > 0 else math.nan
    if not math.isnan(k) and k == round(k) and 1 <= k <= MAX_LEAKY_SHIFT:
        return int(k)
    near = min(max(round(k), 1), MAX_LEAKY_SHIFT) if not math.isnan(k) else 3
    raise UnsupportedError(f"{what}: negative_slope={slope:g} is not a power of two 2^-k "
                           f"(k = 1..{MAX_LEAKY_SHIFT}), which the hardware needs (an exact shift); "
                           f"use negative_slope={2.0**-near:g} (2^-{near})")
