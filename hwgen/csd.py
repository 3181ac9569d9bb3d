"""Canonical signed digit (CSD) recoding of integer constants.

A constant multiplication ``w * x`` becomes ``sum(sign * (x << shift))`` over the nonzero CSD
digits of ``w``. CSD (non-adjacent form) has the fewest nonzero digits of any signed-binary
representation — on average a third of the bits — so the product costs ``digits - 1`` adders and
no multiplier or DSP block at all.
"""

from __future__ import annotations

from typing import NamedTuple


class Digit(NamedTuple):
    """One nonzero CSD digit: ``sign * 2**shift`` with ``sign`` in ``{+1, -1}``."""

    sign: int
    shift: int


def csd(value: int) -> tuple[Digit, ...]:
    """The nonzero CSD digits of ``value``, least significant first (empty for 0).

    Non-adjacent form: no two consecutive digits are nonzero, which makes it unique and minimal.
    """
    value = int(value)
    digits: list[Digit] = []
    shift = 0
    while value:
        if value & 1:
            # value mod 4 == 1 -> digit +1; == 3 -> digit -1 (leaves a multiple of 4 behind)
            d = 2 - (value & 3)
            digits.append(Digit(d, shift))
            value -= d
        value >>= 1
        shift += 1
    return tuple(digits)


def csd_value(digits: tuple[Digit, ...]) -> int:
    """The integer a digit list stands for (the inverse of :func:`csd`)."""
    return sum(d.sign << d.shift for d in digits)


def csd_adders(value: int) -> int:
    """Two-input adders/subtractors needed to multiply by ``value`` on its own."""
    return max(len(csd(value)) - 1, 0)
