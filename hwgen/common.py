"""Small helpers shared by the hardware generators: shapes from formats and from exact bounds,
reset-less payload registers, and wiring a stage that plans its enables a cycle ahead."""

from __future__ import annotations

import math

from amaranth.hdl import Module, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring

from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat, signed_bits_for

#: Every IR node kind the generator builds (see :func:`hwgen.layers.build_layer`).
SUPPORTED_KINDS = ("dense", "conv1d", "conv2d", "maxpool", "avgpool")
#: What a single dense engine accepts; the default of :func:`check_supported`.
DENSE_KINDS = ("dense",)
SPATIAL_RANK = {"conv1d": 1, "conv2d": 2}
#: Most elements in one feature map of a conv/pool stage: the stage hands whole maps to its
#: neighbours as one register vector, so this bounds its flip-flops and multiplexers.
MAX_MAP_ELEMENTS = 4096


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


def check_supported(layer: object, where: str, kinds: tuple[str, ...] = DENSE_KINDS) -> None:
    """Refuse an IR node that is not one of ``kinds`` or that is too large, before any hardware exists.

    Engines call it with the default (dense only); the layer dispatcher passes
    :data:`SUPPORTED_KINDS`. The message names the node and what to change.
    """
    kind = getattr(layer, "kind", None)
    kind_name = str(getattr(kind, "value", kind))
    name = getattr(layer, "name", "?")
    if kind_name not in kinds or (kind_name in ("dense", *SPATIAL_RANK) and not hasattr(layer, "weight")):
        hint = ("use dense, conv1d/conv2d or max/avg pooling layers" if kinds == SUPPORTED_KINDS
                else "build it through hwgen.layers.build_layer")
        raise UnsupportedError(
            f"{where} ({name}): layer kind {kind_name!r} is not supported by this hardware generator "
            f"(it builds {', '.join(kinds)}); {hint}"
        )
    if kind_name == "dense":
        return
    in_shape = tuple(getattr(layer, "in_shape", ()))
    rank = SPATIAL_RANK.get(kind_name, len(in_shape) - 1)
    if len(in_shape) != rank + 1 or rank not in (1, 2):
        raise UnsupportedError(f"{where} ({name}): {kind_name} input shape {in_shape} is not (channels, "
                               f"{'length' if rank == 1 else 'height, width'}); export 1-D or 2-D maps only")
    for what, shape in (("input", in_shape), ("output", tuple(layer.out_shape))):  # type: ignore[attr-defined]
        n = math.prod(shape)
        if n > MAX_MAP_ELEMENTS:
            raise UnsupportedError(
                f"{where} ({name}): its {what} map {shape} has {n} elements, more than the "
                f"{MAX_MAP_ELEMENTS} a conv/pool stage holds; downsample, pool earlier or use fewer channels"
            )


def data_register(m: Module, port: Value | data.View, name: str) -> Value | data.View:
    """A reset-less register that drives ``port`` (a stream payload), to assign in ``m.d.sync``.

    Data needs no reset: ``valid`` says when it means something. A reset on every payload bit made
    the reset net the largest in the design (4776 of 7881 flip-flops of digits-cnn 90 % unrolled,
    a pin routed to every slice's LSR) and tied each slice's flip-flops to it when packing.
    """
    reg = Signal(port.shape(), name=name, reset_less=True)
    m.d.comb += Value.cast(port).eq(Value.cast(reg))
    return reg


def hear_ready_next(m: Module, producer: wiring.Component, ready_next: Value) -> None:
    """Give ``producer`` its consumer's next ``ready`` if it plans its enables a cycle ahead."""
    if "o_ready_next" in producer.signature.members:
        m.d.comb += producer.o_ready_next.eq(ready_next)
