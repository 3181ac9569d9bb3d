"""IR network -> one Verilog file (+ ``design.json``), atomically and byte-for-byte reproducibly.

Reproducible output lets a build cache or a reviewer trust that equal IRs give equal hardware;
so source locations (absolute paths) and Amaranth-internal attributes are left out.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hwgen.layers import LayerStyle, check_buildable
from zerogate.ir import Layer, Network


@dataclass(frozen=True)
class LayerInfo:
    """What the generator built for one layer."""

    name: str
    out_features: int  # elements of the output vector (a feature map: channels x positions)
    out_bits: int
    out_signed: bool
    nnz: int
    n_weights: int
    acc_bits: tuple[int, ...]  # per output channel, == Layer.acc_bits()
    csd_adders: int  # two-input adders/subtractors in the layer's CSD trees
    constant_channels: tuple[int, ...]  # channels that are a constant wire (no hardware)
    latency: int | None  # first input valid -> first output valid, inside the accelerator
    style: str = "unrolled"
    lanes: int = 1
    cycles_per_inference: int | None = 1  # the layer on its own (input always there, output always taken)
    # the output is a position stream (a spatial successor): ``stream_positions`` beats of
    # ``stream_channels`` elements per map, else 0 and one whole vector per beat
    stream_positions: int = 0
    stream_channels: int = 0
    # the submodule of the top whose ``i`` port carries this layer's output (a testbench's tap):
    # the skid buffer behind the layer, or the next layer where that link has none
    tap: str = ""


@dataclass(frozen=True)
class GeneratedDesign:
    """A generated accelerator: where its Verilog is and how it streams."""

    verilog_path: Path
    top_name: str
    latency: int | None
    ii: int
    beats_in: int
    beats_out: int
    in_lanes: int
    out_lanes: int
    in_features: int
    in_bits: int
    in_signed: bool
    layers: tuple[LayerInfo, ...]  # one per IR node, then the head's (if any): the last is the output
    head: str = "none"  # hwgen.head.HEADS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verilog_path"] = self.verilog_path.name  # relative: the folder may move
        d["layers"] = [{**asdict(ly), "acc_bits": list(ly.acc_bits),
                        "constant_channels": list(ly.constant_channels)} for ly in self.layers]
        return d


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(net: Network, out_dir: Path, *, top_name: str = "zerogate_top", in_lanes: int = 8,
             out_lanes: int = 2, adder_levels_per_stage: int = 1, style: LayerStyle | str = "unrolled",
             lanes: int = 1, layer_styles: Mapping[int, LayerStyle | str] | None = None,
             balance: bool = True, single_buffer: bool = False, head: str = "none") -> GeneratedDesign:
    """Generate ``<out_dir>/<top_name>.v`` and ``<out_dir>/design.json`` for ``net``.

    ``adder_levels_per_stage`` sets how many adder-tree levels sit between pipeline registers:
    1 (default) gave 112 MHz on LFE5U-85F for the default digits model (nextpnr seed 1; see
    docs/benchmarks/hardware.md); 2 saves flip-flops but gave ~90 MHz.
    ``style``/``lanes`` choose every layer's engine, ``layer_styles`` overrides it per layer
    (see :mod:`hwgen.layers`); with ``balance`` a folded layer's lanes are an upper bound, cut
    to what keeps up with the chain's slowest stage (:mod:`hwgen.balance`); ``single_buffer``
    gives each folded dense layer one input buffer instead of two (fewer flip-flops, ``T + 2``
    cycles per inference instead of ``T``: :mod:`hwgen.folded`). ``head="argmax"`` streams the class
    index instead of the output vector (:mod:`hwgen.head`): one element per beat (``out_lanes`` is
    1), described by one more entry in ``layers``. Raises
    :class:`~zerogate.errors.UnsupportedError` for a layer it cannot build, before any file is
    written.
    """
    from hwgen.head import check_head
    from hwgen.top import resolve_styles

    styles = resolve_styles(len(net.layers), style, lanes, layer_styles)
    for k, (layer, st) in enumerate(zip(net.layers, styles, strict=True)):
        check_buildable(layer, k, st)
    check_head(head, net.out_features)
    if head == "argmax":
        out_lanes = 1
    if not top_name.isidentifier():
        raise ValueError(f"top_name {top_name!r} is not a Verilog identifier")
    # amaranth is heavy to import: only pay for it when generating
    from amaranth.back import verilog

    from hwgen.top import Accelerator

    top = Accelerator(net, in_lanes=in_lanes, out_lanes=out_lanes, layer_styles=dict(enumerate(styles)),
                      adder_levels_per_stage=adder_levels_per_stage, balance=balance,
                      single_buffer=single_buffer, head=head)
    text = verilog.convert(top, name=top_name, emit_src=False, strip_internal_attrs=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vpath = out_dir / f"{top_name}.v"
    design = GeneratedDesign(
        verilog_path=vpath, top_name=top_name, latency=top.latency, ii=top.ii,
        beats_in=top.beats_in, beats_out=top.beats_out, in_lanes=in_lanes, out_lanes=out_lanes,
        in_features=net.in_features, in_bits=net.input.bits, in_signed=net.input.signed, head=head,
        layers=(*(
            LayerInfo(name=ly.name, out_features=math.prod(ly.out_shape), out_bits=ly.output.bits,
                      out_signed=ly.output.signed, nnz=ly.nnz, n_weights=ly.n_weights,
                      acc_bits=tuple(int(b) for b in ly.acc_bits()) if isinstance(ly, Layer) else (),
                      csd_adders=getattr(hw, "adders", 0),
                      constant_channels=tuple(getattr(hw, "constant_channels", ())), latency=lat,
                      style=st.style, lanes=getattr(hw, "lanes", st.lanes) if st.folded else st.lanes,
                      cycles_per_inference=hw.cycles_per_inference,
                      stream_positions=pos, stream_channels=ch, tap=tap)
            for ly, hw, st, lat, pos, ch, tap in zip(net.layers, top.layers, styles, top.layer_latency,
                                                     top.out_positions, top.out_channels,
                                                     top.taps[:len(net.layers)], strict=True)
        ), *_head_info(top)),
    )
    _write_atomic(vpath, text)
    _write_atomic(out_dir / "design.json", json.dumps(design.to_dict(), indent=2, sort_keys=True) + "\n")
    return design


def _head_info(top: Any) -> tuple[LayerInfo, ...]:
    """The head as the design's last "layer": what the output stream carries (no weights, no cycles)."""
    if top.head is None:
        return ()
    bits = top.head.idx_shape.width
    return (LayerInfo(name="argmax", out_features=1, out_bits=bits, out_signed=False, nnz=0, n_weights=0,
                      acc_bits=(), csd_adders=0, constant_channels=(), latency=0, style="head",
                      cycles_per_inference=1, tap=top.taps[-1]),)


def load_design(folder: Path) -> GeneratedDesign:
    """Read back what :func:`generate` wrote to ``folder`` (for the ``simulate``/``synth`` commands)."""
    from zerogate.errors import UserError

    folder = Path(folder)
    try:
        d = json.loads((folder / "design.json").read_text())
        layers = tuple(
            LayerInfo(**{**ly, "acc_bits": tuple(ly["acc_bits"]),
                         "constant_channels": tuple(ly["constant_channels"])})
            for ly in d.pop("layers")
        )
        design = GeneratedDesign(**{**d, "verilog_path": folder / d["verilog_path"], "layers": layers})
    except FileNotFoundError:
        raise UserError(f"{folder}: no design.json here; point --rtl at a folder written by "
                        "'zerogate generate'") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{folder}/design.json is corrupt ({type(e).__name__}); regenerate it") from None
    if not design.verilog_path.is_file():
        raise UserError(f"{design.verilog_path}: Verilog missing; regenerate with 'zerogate generate'")
    return design
