"""The arithmetic spec against an independent, obviously-correct Python implementation."""

import math
from fractions import Fraction

import numpy as np
import pytest

from zerogate.errors import IRError
from zerogate.fixedpoint import (
    Activation,
    ActKind,
    FixedFormat,
    Rounding,
    quantize_real,
    requantize,
    saturate,
    shift_round,
    signed_bits_for,
)


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


def _ref_activation(acc: int, s: int, rounding: Rounding, act: Activation, fmt: FixedFormat) -> int:
    """The spec in exact rationals: LeakyReLU scales the exact value by 2**-k and rounds it once."""
    q = Fraction(acc, 2**s)
    if act.kind is ActKind.LEAKY and acc < 0:
        q /= 2**act.shift
    r = math.floor(q + Fraction(1, 2)) if rounding is Rounding.HALF_UP else math.floor(q)
    lo, hi = fmt.min_int, fmt.max_int
    if act.kind is ActKind.RELU:
        lo = max(lo, 0)
    if act.kind is ActKind.CLAMP:
        lo, hi = max(lo, act.lo), min(hi, act.hi)
    return min(max(r, lo), hi)


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize(("act", "fmt"), [
    (Activation.NONE, FixedFormat(6, 0, True)), (Activation.RELU, FixedFormat(5, 0, False)),
    (Activation.clamp(-7, 9), FixedFormat(6, 0, True)), (Activation.clamp(3, 20), FixedFormat(5, 0, False)),
    (Activation.clamp(-32, 0), FixedFormat(6, 0, True)),
    (Activation.leaky(1), FixedFormat(6, 0, True)), (Activation.leaky(2), FixedFormat(4, 0, True)),
    (Activation.leaky(5), FixedFormat(8, 0, True)),
])
def test_requantize_activations_match_exact_rationals(act: Activation, fmt: FixedFormat,
                                                      rounding: Rounding) -> None:
    """Every accumulator in a range past the format, every shift 0..5: ties, both clamp ends, saturation."""
    accs = np.arange(-400, 401)
    for s in range(0, 6):
        got = requantize(accs, np.full(accs.shape, s), fmt, rounding, act)
        want = [_ref_activation(int(a), s, rounding, act, fmt) for a in accs]
        assert got.tolist() == want, (act, s)


def test_leaky_rounds_once_not_twice() -> None:
    """acc = -3, shift 1, slope 1/2: -3/4 rounds half up to -1; rounding -3/2 first would give 0."""
    act = Activation.leaky(1)
    assert requantize(np.array([-3]), np.array([1]), FixedFormat(4, 0, True), Rounding.HALF_UP, act)[0] == -1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": ActKind.CLAMP, "lo": 3, "hi": 3}, "lo < hi"),
    ({"kind": ActKind.CLAMP, "lo": 5, "hi": -1}, "lo < hi"),
    ({"kind": ActKind.CLAMP, "lo": 0}, "needs both"),
    ({"kind": ActKind.RELU, "lo": 0, "hi": 3}, "belong to 'clamp' only"),
    ({"kind": ActKind.LEAKY, "shift": 0}, "must be 1..16"),
    ({"kind": ActKind.LEAKY, "shift": 17}, "must be 1..16"),
    ({"kind": ActKind.NONE, "shift": 2}, "0 otherwise"),
])
def test_bad_activation_parameters_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(IRError, match=match):
        Activation(**kwargs)


@pytest.mark.parametrize(("act", "fmt", "match"), [
    (Activation.RELU, FixedFormat(6, 0, True), "unsigned"),
    (Activation.leaky(1), FixedFormat(6, 0, False), "signed"),
    (Activation.clamp(-1, 5), FixedFormat(6, 0, False), "leave the output format"),
    (Activation.clamp(0, 40), FixedFormat(6, 0, True), "leave the output format"),
])
def test_activation_and_format_must_agree(act: Activation, fmt: FixedFormat, match: str) -> None:
    assert match in (act.check(fmt) or "")
