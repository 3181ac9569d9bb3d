"""Export a calibrated :class:`~compress.qnet.QuantNet` to a :class:`zerogate.ir.Network`.

The integers come from the same float64 quantizer methods the reference forward uses, so the
IR, the PyTorch reference and the golden model cannot drift apart. Dead channels (``bits == 0``
or an all-zero mask row, whose output is a constant integer ``q_c``) are removed from the IR
together with the next weight layer's inputs that read them (for conv -> flatten -> dense, the
flattened columns ``c * positions + p`` of every dropped channel ``c``); that layer's bias takes
``sum(w[:, cols(c)]) * q_c``, exactly the accumulator share the constant contributed (it sits at
the accumulator's scale ``2**-(in.frac + g)``; pools pass a constant through unchanged).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from compress.activation import StageAct
from compress.qnet import PoolStage, QuantNet, WeightStage
from compress.quant import QuantConv1d, QuantConv2d, QuantLinear, QuantWeightLayer
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import MIN_WEIGHT_BITS, FixedFormat, Overflow, Rounding, signed_bits_for
from zerogate.ir import MAX_BIAS_BITS, Layer, LayerKind, Network, Node, Pool, to_identifier

__all__ = ["export_layer", "export_net"]

_KIND = {QuantLinear: LayerKind.DENSE, QuantConv1d: LayerKind.CONV1D, QuantConv2d: LayerKind.CONV2D}
_PREFIX = {LayerKind.DENSE: "fc", LayerKind.CONV1D: "conv", LayerKind.CONV2D: "conv",
           LayerKind.MAXPOOL: "maxpool", LayerKind.AVGPOOL: "avgpool"}


def _ints(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.int64).numpy().copy()


def _conv_geometry(layer: QuantWeightLayer, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(stride, padding) of a convolution the IR can hold, or an UnsupportedError saying why not."""
    conv: Any = layer
    if conv.groups != 1 or any(d != 1 for d in conv.dilation):
        raise UnsupportedError(f"{name}: groups={conv.groups}, dilation={conv.dilation}; the IR holds only "
                               "dense convolutions (groups=1, dilation=1)")
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise UnsupportedError(f"{name}: padding {conv.padding!r} mode {conv.padding_mode!r}; only explicit "
                               "zero padding is supported")
    if any(p >= k for p, k in zip(conv.padding, conv.kernel_size, strict=True)):
        raise UnsupportedError(f"{name}: padding {conv.padding} must be smaller than the kernel "
                               f"{conv.kernel_size}")
    return tuple(conv.stride), tuple(conv.padding)


@torch.no_grad()
def export_layer(
    lin: QuantWeightLayer, name: str, inp: FixedFormat, out: FixedFormat, activation: StageAct | bool, *,
    in_shape: tuple[int, ...] = (), rows: np.ndarray | None = None, cols: np.ndarray | None = None,
    extra_bias: np.ndarray | None = None,
) -> Layer:
    """One IR layer from a float64 quantized layer whose ``in_frac`` is ``inp.frac``.

    ``rows`` are the output channels to keep; ``cols`` the input channels (convolution) or
    input features (dense) the IR layer reads; ``in_shape`` is a convolution's (kept) input shape;
    ``extra_bias`` (per output channel, accumulator scale) is what removed constant inputs added.
    ``activation`` is the stage's (a bool: ReLU or none).
    """
    if isinstance(activation, bool):
        activation = StageAct("relu") if activation else StageAct()
    if lin.in_frac != inp.frac:
        raise UnsupportedError(
            f"{name}: layer calibrated for input frac {lin.in_frac}, but its input format is {inp}; "
            "re-run calibration before exporting"
        )
    kind = _KIND[type(lin)]
    rows = np.arange(lin.n_out) if rows is None else np.asarray(rows)
    w_int = _ints(lin.quant_weight()[0])[rows]
    if cols is not None:
        w_int = w_int[:, np.asarray(cols)]
    g = _ints(lin.exponent())[rows]
    bits = _ints(lin.bits)[rows]
    if np.any((bits > 0) & (bits < MIN_WEIGHT_BITS)):
        c = int(rows[np.flatnonzero((bits > 0) & (bits < MIN_WEIGHT_BITS))[0]])
        raise UnsupportedError(f"{name}: channel {c} has {int(_ints(lin.bits)[c])}-bit weights; the IR "
                               f"needs 0 (pruned) or {MIN_WEIGHT_BITS}..8 bits per channel")
    bits = np.maximum(bits, MIN_WEIGHT_BITS)  # a dead output channel kept in the last layer: zeros
    shift = inp.frac + g - out.frac
    if np.any(shift < 0):
        c = int(np.argmin(shift))
        raise UnsupportedError(
            f"{name}: channel {int(rows[c])} needs a left shift ({int(shift[c])}): output format {out} "
            f"is finer than its accumulator (input frac {inp.frac} + weight frac {int(g[c])}); "
            "calibrate so out.frac <= in.frac + min weight frac"
        )
    qb = lin.quant_bias()
    bias = _ints(qb[0])[rows] if qb is not None else np.zeros(len(rows), dtype=np.int64)
    if extra_bias is not None:
        bias = bias + np.asarray(extra_bias, dtype=np.int64)[rows]
    bias_bits = max(2, signed_bits_for(int(bias.min()), int(bias.max())))
    if bias_bits > MAX_BIAS_BITS:
        raise UnsupportedError(
            f"{name}: a bias needs {bias_bits} bits (> {MAX_BIAS_BITS}); the training diverged"
        )
    geometry: dict[str, Any] = {}
    if kind is not LayerKind.DENSE:
        stride, padding = _conv_geometry(lin, name)
        geometry = {"in_shape": tuple(in_shape), "kernel": tuple(w_int.shape[2:]), "stride": stride,
                    "padding": padding}
    return Layer(
        name=name, kind=kind, in_features=int(w_int.shape[1]), out_features=len(rows),
        weight=w_int, bias=bias, weight_bits=bits, weight_frac=g, shift=shift, input=inp, output=out,
        bias_bits=bias_bits, rounding=Rounding.HALF_UP, overflow=Overflow.SATURATE,
        activation=activation.to_ir(out, name), **geometry,
    )


def _stage_outputs(net: QuantNet) -> tuple[list[tuple[int, ...]], list[np.ndarray]]:
    """Each IR node's full output shape, and its quantized output integers on an all-zero input
    (a dead channel's constant is its value there)."""
    fmts = net.formats()
    net.set_quant(True)
    with torch.no_grad():
        outs = net.forward_trace(torch.zeros(1, *net.in_shape, dtype=torch.float64))
    net.set_quant(False)
    ints = [(o[0] * 2.0**f.frac).to(torch.int64).numpy() for o, f in zip(outs, fmts[1:], strict=True)]
    return [tuple(o.shape[1:]) for o in outs], ints


def _dropped_constants(w_int: np.ndarray, cols_of: dict[int, np.ndarray], const: np.ndarray) -> np.ndarray:
    """Per output channel, ``sum_c sum(w[:, cols_of[c]]) * q_c`` over removed input channels ``c``."""
    extra = np.zeros(w_int.shape[0], dtype=np.int64)
    for c, cols in cols_of.items():
        q = int(const[c].reshape(-1)[0])
        if q:
            extra += w_int[:, cols].reshape(w_int.shape[0], -1).sum(axis=1) * q
    return extra


@torch.no_grad()
def export_net(qnet: QuantNet, name: str, metadata: Mapping[str, Any] | None = None) -> Network:
    """The IR of ``qnet`` (calibrated; quantizers need not be enabled); ``qnet`` is left untouched.

    Nodes are named by kind and position among their kind: ``conv0, maxpool0, conv1, fc0, ...``
    (an MLP gives ``fc0, fc1, ...``). ``name`` is made an identifier (``digits-mlp`` becomes
    ``digits_mlp``), since the IR holds identifiers only.
    """
    ref = copy.deepcopy(qnet).double().eval()
    ref.set_quant(False)
    fmts = ref.formats()
    shapes, consts = _stage_outputs(ref)
    keeps = [k.numpy() for k in ref.kept_channels()]
    counts: dict[str, int] = {}
    nodes: list[Node] = []
    prev_shape, prev_keep = ref.in_shape, np.arange(ref.in_shape[0])
    prev_const = np.zeros(ref.in_shape[:1], dtype=np.int64)  # input channels are never dropped
    for k, st in enumerate(ref.ir_stages()):
        in_shape = (len(prev_keep), *prev_shape[1:])
        if isinstance(st, WeightStage):
            kind = _KIND[type(st.layer)]
            node_name = f"{_PREFIX[kind]}{counts.setdefault(_PREFIX[kind], 0)}"
            dropped = np.setdiff1d(np.arange(prev_shape[0]), prev_keep)
            if kind is LayerKind.DENSE:
                per = math.prod(prev_shape[1:])  # positions per channel of a flattened input
                cols = (prev_keep[:, None] * per + np.arange(per)[None, :]).reshape(-1)
                cols_of = {int(c): np.arange(c * per, (c + 1) * per) for c in dropped}
            else:
                cols = prev_keep
                cols_of = {int(c): np.array([c]) for c in dropped}
            w_full = _ints(st.layer.quant_weight()[0])
            extra = _dropped_constants(w_full, cols_of, prev_const)
            node: Node = export_layer(st.layer, node_name, fmts[k], fmts[k + 1], st.activation,
                                      in_shape=in_shape, rows=keeps[k], cols=cols, extra_bias=extra)
            prev_const = consts[k]
        else:
            assert isinstance(st, PoolStage)
            kind = LayerKind.MAXPOOL if st.kind == "max" else LayerKind.AVGPOOL
            node_name = f"{_PREFIX[kind]}{counts.setdefault(_PREFIX[kind], 0)}"
            if len(in_shape) != len(st.kernel) + 1:
                raise UnsupportedError(f"{node_name}: {len(st.kernel)}-D pooling of an input of shape "
                                       f"{in_shape}; pool before flattening")
            node = Pool(name=node_name, kind=kind, in_shape=in_shape, kernel=st.kernel, stride=st.stride,
                        input=fmts[k], rounding=Rounding.HALF_UP)
        counts[_PREFIX[kind]] += 1
        nodes.append(node)
        prev_shape, prev_keep = shapes[k], keeps[k]
    meta = dict(metadata or {})
    if getattr(qnet, "dropped_head", ""):
        meta["dropped_head"] = qnet.dropped_head
    return Network(name=to_identifier(name), input=fmts[0], in_features=math.prod(ref.in_shape),
                   layers=tuple(nodes), metadata=meta, in_shape=ref.in_shape)
