"""The arithmetic spec against an independent, obviously-correct Python implementation."""

import math
from fractions import Fraction

import numpy as np
import pytest

from zerogate.fixedpoint import FixedFormat, Rounding, quantize_real, saturate, shift_round, signed_bits_for


def _ref_round(acc: int, s: int, rounding: Rounding) -> int:
    q = Fraction(acc, 2**s)
    return math.floor(q + Fraction(1, 2)) if rounding is Rounding.HALF_UP else math.floor(q)


@pytest.mark.parametrize("rounding", list(Rounding))
def test_shift_round_matches_exact_rationals(rounding: Rounding) -> None:
    accs = np.arange(-300, 301)
    for s in range(0, 7):
        got = shift_round(accs, np.full(accs.shape, s), rounding)
        want = [_ref_round(int(a), s, rounding) for a in accs]
        assert got.tolist() == want


def test_half_up_ties_go_up() -> None:
    assert shift_round(np.array([-3, -1, 1, 3]), np.array(1), Rounding.HALF_UP).tolist() == [-1, 0, 1, 2]


@pytest.mark.parametrize("fmt", [FixedFormat(8, 4, False), FixedFormat(8, 0, True), FixedFormat(2, 0, True)])
def test_saturate_and_relu(fmt: FixedFormat) -> None:
    v = np.arange(-600, 600)
    out = saturate(v, fmt, relu=False)
    assert out.min() == fmt.min_int and out.max() == fmt.max_int
    assert saturate(v, fmt, relu=True).min() == max(0, fmt.min_int)


def test_quantize_real_is_exact_on_grid() -> None:
    fmt = FixedFormat(5, 4, False)
    x = np.arange(17) / 16
    assert quantize_real(x, fmt).tolist() == list(range(17))
    assert quantize_real(np.array([5.0, -1.0]), fmt).tolist() == [31, 0]


@pytest.mark.parametrize(
    ("lo", "hi", "bits"), [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-128, 127, 8), (-129, 0, 9)]
)
def test_signed_bits_for(lo: int, hi: int, bits: int) -> None:
    assert signed_bits_for(lo, hi) == bits
