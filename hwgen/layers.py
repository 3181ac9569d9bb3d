"""The one place that turns an IR node into a hardware stage: :func:`build_layer`.

The accelerator's chain (:mod:`hwgen.top`) only knows that a stage is a ``wiring.Component``
with an ``i`` and an ``o`` stream, a ``latency`` and a ``cycles_per_inference`` (``None``
when not a fixed number). Which engine implements a node is decided here, by its kind and by a
per-layer *style*:

* ``unrolled``: constant weights, zero weights produce nothing, shift-and-add, II = 1;
* ``folded``: only the nonzeros stored in a ROM, ``lanes`` MAC lanes walk them;
* ``dense-unrolled`` / ``dense-folded``: the same engines with sparsity ignored (every weight
  slot gets hardware): the honest baseline the sparse designs are measured against.
  ``dense`` is short for ``dense-unrolled``.

:func:`check_buildable` refuses a node before any hardware or Verilog exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amaranth.lib import wiring

from zerogate.errors import ConfigError, UnsupportedError

#: Canonical style names; see the module docstring.
STYLES = ("unrolled", "folded", "dense-unrolled", "dense-folded")
_ALIASES = {"dense": "dense-unrolled"}
#: Most MAC lanes one folded layer may have (more would be an unrolled layer in disguise).
MAX_LANES = 256


@dataclass(frozen=True)
class LayerStyle:
    """How one layer is built: its engine style and, for folded engines, the number of lanes."""

    style: str = "unrolled"
    lanes: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "style", canonical_style(self.style))
        if not 1 <= int(self.lanes) <= MAX_LANES:
            raise ConfigError(f"lanes={self.lanes} is out of range; use 1..{MAX_LANES}")
        if not self.folded:  # lanes only mean something to a folded engine
            object.__setattr__(self, "lanes", 1)

    @property
    def folded(self) -> bool:
        return self.style.endswith("folded")

    @property
    def dense(self) -> bool:
        """Sparsity ignored: every weight slot, zero or not, gets hardware."""
        return self.style.startswith("dense")

    def __str__(self) -> str:
        return f"{self.style}:{self.lanes}" if self.folded else self.style


def canonical_style(style: str) -> str:
    """``style`` as one of :data:`STYLES`, or a :class:`ConfigError` naming the choices."""
    s = _ALIASES.get(str(style).strip().lower(), str(style).strip().lower())
    if s not in STYLES:
        raise ConfigError(f"unknown layer style {style!r}; use one of {', '.join(STYLES)} (or 'dense')")
    return s


def parse_style(spec: str, default_lanes: int = 1) -> LayerStyle:
    """``"folded:4"`` -> ``LayerStyle("folded", 4)``; ``"unrolled"`` -> lanes ``default_lanes``."""
    style, _, lanes = str(spec).partition(":")
    if not lanes:
        return LayerStyle(style, default_lanes)
    try:
        n = int(lanes)
    except ValueError:
        raise ConfigError(f"layer style {spec!r}: lanes {lanes!r} is not an integer; "
                          "write e.g. folded:4") from None
    return LayerStyle(style, n)


def parse_layer_styles(specs: list[str] | tuple[str, ...], default: LayerStyle,
                       n_layers: int | None = None) -> dict[int, LayerStyle]:
    """``["0=folded:4", "2=unrolled"]`` -> ``{0: ..., 2: ...}`` (per-layer overrides of ``default``)."""
    out: dict[int, LayerStyle] = {}
    for spec in specs:
        idx, eq, rest = str(spec).partition("=")
        try:
            k = int(idx)
        except ValueError:
            k = -1
        if not eq or k < 0:
            raise ConfigError(f"layer style {spec!r} is not INDEX=STYLE[:LANES]; write e.g. 0=folded:4")
        if n_layers is not None and k >= n_layers:
            raise ConfigError(f"layer style {spec!r}: the network has only {n_layers} layers "
                              f"(0..{n_layers - 1})")
        out[k] = parse_style(rest, default.lanes)
    return out


def node_kind(node: object) -> str:
    kind = getattr(node, "kind", None)
    return str(getattr(kind, "value", kind))


def check_buildable(node: object, index: int, style: LayerStyle | str = "unrolled") -> None:
    """Raise :class:`UnsupportedError` if :func:`build_layer` cannot build ``node`` in ``style``."""
    from hwgen.common import SUPPORTED_KINDS, check_supported

    st = style if isinstance(style, LayerStyle) else parse_style(style)
    check_supported(node, f"layer {index}", SUPPORTED_KINDS)
    if node_kind(node) != "dense":
        from hwgen.window import check_geometry

        check_geometry(node, f"layer {index}")  # type: ignore[arg-type]
    del st  # every supported kind is buildable in every style


def is_spatial(node: object) -> bool:
    """A conv/pool node: its hardware consumes and produces position streams."""
    return node_kind(node) in ("conv1d", "conv2d", "maxpool", "avgpool")


def build_layer(node: object, index: int, style: str = "unrolled", lanes: int = 1, *,
                stream_in: bool = False, stream_out: bool = False, lookahead_out: bool = False,
                single_buffer: bool = False, **opts: Any) -> wiring.Component:
    """The hardware stage for IR ``node`` (the ``index``-th of its network).

    The stage has ``i``/``o`` stream members and ``latency`` / ``cycles_per_inference``
    attributes. ``stream_in``/``stream_out`` (spatial nodes only): take/emit a position stream
    instead of a whole-map vector, for a spatial neighbour (:class:`hwgen.spatial.SpatialStage`).
    ``lookahead_out``: the stage's consumer is a :class:`~hwgen.skid.SkidBuffer` whose
    ``ready_next`` the caller wires to the stage's ``o_ready_next`` if it has one (a folded
    engine that drives ``o`` itself plans its stalls a cycle ahead).
    ``single_buffer``: a folded dense layer keeps one copy of its input (:mod:`hwgen.folded`).
    ``opts`` go to the engine (e.g. ``adder_levels_per_stage`` for unrolled).
    """
    st = LayerStyle(style, lanes)
    check_buildable(node, index, st)
    kind = node_kind(node)
    if (stream_in or stream_out) and not is_spatial(node):
        raise ValueError(f"layer {index}: only conv/pool stages stream positions")  # pragma: no cover
    if kind == "dense":
        if st.folded:
            from hwgen.folded import FoldedDense

            return FoldedDense(node, lanes=st.lanes, dense=st.dense, lookahead=lookahead_out,  # type: ignore[arg-type]
                               single_buffer=single_buffer)
        if st.dense:
            from hwgen.baseline import DenseUnrolled

            return DenseUnrolled(node, **opts)  # type: ignore[arg-type]
        from hwgen.dense import UnrolledDense

        return UnrolledDense(node, **opts)  # type: ignore[arg-type]
    if is_spatial(node):
        from hwgen.spatial import build_spatial  # window + engine, map<->position adapters as needed

        return build_spatial(node, folded=st.folded, lanes=st.lanes, dense=st.dense, stream_in=stream_in,
                             stream_out=stream_out, lookahead_out=lookahead_out, **opts)  # type: ignore[arg-type]
    raise UnsupportedError(f"layer {index}: no engine for kind {kind!r}")  # pragma: no cover
