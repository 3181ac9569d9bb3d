"""CSD recoding, checked exhaustively against an independent closed form of the NAF."""

from hwgen.csd import Digit, csd, csd_adders, csd_value


def naf_masks(n: int) -> tuple[int, int]:
    """Positive and negative digit masks of the non-adjacent form of ``n >= 0`` (Prodinger's formula)."""
    xh = n >> 1
    x3 = n + xh
    c = xh ^ x3
    return x3 & c, xh & c


def test_csd_exhaustive_12_bits() -> None:
    for w in range(-(1 << 12) + 1, 1 << 12):
        digits = csd(w)
        assert csd_value(digits) == w
        shifts = [d.shift for d in digits]
        assert shifts == sorted(shifts)
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:], strict=False)), w  # non-adjacent
        pos, neg = naf_masks(abs(w))
        if w < 0:
            pos, neg = neg, pos
        assert sum(1 << d.shift for d in digits if d.sign > 0) == pos
        assert sum(1 << d.shift for d in digits if d.sign < 0) == neg
        # never more adders than a plain binary shift-add, and at most ceil(bits/2) digits
        assert len(digits) <= bin(abs(w)).count("1")
        assert len(digits) <= (abs(w).bit_length() + 2) // 2
        assert csd_adders(w) == max(len(digits) - 1, 0)


def test_csd_examples() -> None:
    assert csd(0) == ()
    assert csd(7) == (Digit(-1, 0), Digit(1, 3))
    assert csd(-8) == (Digit(-1, 3),)
    assert csd(-128) == (Digit(-1, 7),)
