"""Small helpers shared by the hardware generators: shapes from formats and from exact bounds."""

from __future__ import annotations

from amaranth.hdl import Shape, signed, unsigned

from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat, signed_bits_for

#: The only IR layer kind this generator turns into hardware.
SUPPORTED_KINDS = ("dense",)


def fmt_shape(fmt: FixedFormat) -> Shape:
    """The Amaranth shape of one integer of ``fmt`` (its fraction bits are only a scale)."""
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


def bounds_shape(lo: int, hi: int) -> Shape:
    """Narrowest shape holding every integer in ``[lo, hi]``: unsigned when ``lo >= 0``.

    Sizing every wire from exact bounds (not from worst-case width growth) is what keeps a
    sparse layer's adders small.
    """
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return unsigned(max(int(hi).bit_length(), 1))
    return signed(signed_bits_for(int(lo), int(hi)))


def check_supported(layer: object, where: str) -> None:
    """Refuse any IR node that is not a dense layer, naming it, before hardware is built."""
    kind = getattr(layer, "kind", None)
    kind_name = str(getattr(kind, "value", kind))
    if kind_name not in SUPPORTED_KINDS or not hasattr(layer, "weight"):
        name = getattr(layer, "name", "?")
        raise UnsupportedError(
            f"{where} ({name}): layer kind {kind_name!r} is not supported by the hardware "
            f"generator (only {', '.join(SUPPORTED_KINDS)}); flatten the model into dense layers"
        )
