"""Ingest a user's ``nn.Module`` by tracing it with ``torch.fx`` into a :class:`~compress.qnet.QuantNet`.

The traced graph must be one chain of supported ops:

- Linear, Conv1d, Conv2d (groups=1, dilation=1, zero padding; bias optional);
- BatchNorm1d/2d directly after one of those: folded into it (:mod:`compress.bn`);
- ReLU (module, ``F.relu``, ``torch.relu``, ``x.relu()``): becomes the unsigned output format of
  the last weight layer; it may sit after max pooling or flattening (they commute with it);
- clamps (Hardtanh, ReLU6, ``F.hardtanh``, ``F.relu6``, ``torch.clamp``/``clamp_min``/``clamp_max``
  and their ``x.clamp(...)`` spellings) and LeakyReLU with ``negative_slope = 2**-k``: the last
  weight layer's activation, placed like ReLU (:mod:`compress.activation`);
- a final Softmax/LogSoftmax over the classes (module, ``F.softmax``, ``x.softmax``): dropped,
  since argmax is unchanged; the QuantNet's ``dropped_head`` says so and export records it;
- MaxPool1d/2d, AvgPool1d/2d (no padding; average windows a power of two), global
  AdaptiveMax/AvgPool to size 1;
- Flatten, ``torch.flatten(x, 1)``, ``x.view(x.size(0), -1)``; Dropout and Identity (dropped).

Anything else raises :class:`~zerogate.errors.UnsupportedError` naming the op and its module path.
The result is checked against the model's own eval forward on ``example_input`` before it is
returned, so a tracing mistake cannot pass silently.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from compress.activation import StageAct, leaky_shift
from compress.bn import fold_bn
from compress.qnet import PoolStage, QuantNet, WeightStage
from compress.quant import ActQuant, QuantWeightLayer, quantized_copy
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import FixedFormat, format_for

__all__ = ["SUPPORTED", "from_module", "infer_input_format"]

SUPPORTED = ("Linear, Conv1d, Conv2d, BatchNorm, ReLU, Hardtanh/ReLU6/clamp, LeakyReLU(2^-k), MaxPool, "
             "AvgPool, Flatten, Dropout, a final Softmax")

_F = nn.functional
_RELU_FUNCS: set[Any] = {_F.relu, torch.relu, torch.relu_, _F.relu_}
_DROP_FUNCS: set[Any] = {_F.dropout, torch.dropout}
_CLAMP_FUNCS: set[Any] = {torch.clamp, torch.clip, torch.clamp_min, torch.clamp_max, _F.hardtanh, _F.relu6}
_CLAMP_METHODS = ("clamp", "clip", "clamp_min", "clamp_max", "clamp_", "clip_", "clamp_min_", "clamp_max_")
_SOFTMAX_FUNCS: set[Any] = {_F.softmax, _F.log_softmax, torch.softmax, torch.log_softmax}
_MAX_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_ARGS = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_POOL_FUNCS: dict[Any, tuple[str, int, tuple[str, ...]]] = {
    _F.max_pool1d: ("max", 1, _MAX_ARGS), _F.max_pool2d: ("max", 2, _MAX_ARGS),
    _F.avg_pool1d: ("avg", 1, _AVG_ARGS[:-1]), _F.avg_pool2d: ("avg", 2, _AVG_ARGS),
}
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_POOL_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False,
                  "count_include_pad": True, "divisor_override": None}


class _PathTracer(fx.Tracer):
    """Records, on every node, the path of the module whose forward created it."""

    def create_node(self, kind: str, target: Any, args: Any, kwargs: Any, name: str | None = None,
                    type_expr: Any | None = None) -> fx.Node:
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["zg_path"] = target if kind == "call_module" else self.scope.module_path
        return node


@dataclass
class _Op:
    """One step of the chain: what it is, where it came from, and its parameters."""

    kind: str  # weight | bn | relu | act | head | pool | flatten
    path: str
    module: nn.Module | None = None
    pool: tuple[str, tuple[int, ...], tuple[int, ...]] | None = None  # (max|avg, kernel, stride)
    act: StageAct | None = None  # kind "act"
    head: str = ""  # kind "head": Softmax | LogSoftmax


def _where(node: fx.Node) -> str:
    path = node.meta.get("zg_path") or ""
    return f"'{path}'" if path else "the top-level forward"


#: What to do instead of an unsupported op, by (lower-case) op name.
_HINTS: dict[str, str] = {
    **dict.fromkeys(("softmax", "log_softmax", "logsoftmax"),
                    "a Softmax is taken only as the network's last op (dropped: the argmax is "
                    "unchanged); train on the logits with CrossEntropyLoss"),
    **dict.fromkeys(("sigmoid", "tanh", "gelu", "silu", "elu", "hardswish", "mish", "prelu", "selu",
                     "softplus"),
                    "use ReLU, ReLU6/Hardtanh/clamp, or LeakyReLU with a power-of-two slope"),
    **dict.fromkeys(("add", "iadd", "cat", "concat", "mul", "sub", "matmul", "bmm"),
                    "write forward as one chain: branches, skips and tensor arithmetic have no hardware"),
    **dict.fromkeys(("layernorm", "groupnorm", "instancenorm1d", "instancenorm2d", "layer_norm"),
                    "use BatchNorm right after a Linear or Conv (it is folded into it)"),
    **dict.fromkeys(("lstm", "gru", "rnn"), "use Conv1d over the time axis"),
    "embedding": "feed one-hot or precomputed features to a Linear",
    **dict.fromkeys(("convtranspose1d", "convtranspose2d", "upsample"), "there is no upsampling in hardware"),
    **dict.fromkeys(("conv3d", "maxpool3d", "avgpool3d"), "use Conv1d/Conv2d and 1-D/2-D pooling"),
}


def _hint(name: str) -> str:
    return _HINTS.get(name.lower().strip("_"), f"supported are {SUPPORTED}")


def _unsupported(name: str, node: fx.Node) -> UnsupportedError:
    return UnsupportedError(f"unsupported op '{name}' at {_where(node)}: {_hint(name)}")


def _tuple(v: Any, nd: int) -> tuple[int, ...]:
    t = tuple(v) if isinstance(v, list | tuple) else (v,) * nd
    if len(t) == 1 and nd > 1:
        t = t * nd
    return tuple(int(x) for x in t)


def _pool(kind: str, nd: int, p: dict[str, Any], where: str) -> _Op:
    """A pooling op from its (module or functional) parameters, refusing what the IR cannot hold."""
    name = f"{'Max' if kind == 'max' else 'Avg'}Pool{nd}d at {where}"
    if p.get("return_indices"):
        raise UnsupportedError(f"{name}: return_indices=True is not supported")
    if any(_tuple(p.get("padding", 0), nd)) or p.get("ceil_mode"):
        raise UnsupportedError(f"{name}: padding={p.get('padding')} ceil_mode={p.get('ceil_mode')}; only "
                               "unpadded pooling with ceil_mode=False is supported")
    if any(d != 1 for d in _tuple(p.get("dilation", 1), nd)):
        raise UnsupportedError(f"{name}: dilation {p.get('dilation')} is not supported")
    if p.get("divisor_override") is not None:
        raise UnsupportedError(f"{name}: divisor_override is not supported")
    kernel = _tuple(p["kernel_size"], nd)
    stride = _tuple(p["stride"], nd) if p.get("stride") not in (None, [], ()) else kernel
    if kind == "avg" and math.prod(kernel) & (math.prod(kernel) - 1):
        raise UnsupportedError(f"{name}: window {kernel} has {math.prod(kernel)} elements; the hardware "
                               "needs a power-of-two window (an exact shift): use 2, 4, 8, ... or MaxPool")
    return _Op("pool", where, pool=(kind, kernel, stride))


def _module_op(m: nn.Module, node: fx.Node, shape: tuple[int, ...]) -> _Op | None:
    where = str(node.target)
    if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
        return _Op("weight", where, module=m)
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        return _Op("bn", where, module=m)
    if isinstance(m, nn.ReLU):
        return _Op("relu", where)
    if isinstance(m, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        name = f"{type(m).__name__} at '{where}'"
        return _Op("act", where, act=StageAct.clamp(m.min_val, m.max_val, name))
    if isinstance(m, nn.LeakyReLU):
        return _Op("act", where, act=StageAct("leaky", k=leaky_shift(m.negative_slope,
                                                                      f"LeakyReLU at '{where}'")))
    if isinstance(m, nn.Softmax | nn.LogSoftmax):
        return _head(type(m).__name__, m.dim, shape, f"'{where}'")
    if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.AvgPool1d | nn.AvgPool2d):
        kind = "max" if isinstance(m, nn.MaxPool1d | nn.MaxPool2d) else "avg"
        nd = 1 if isinstance(m, nn.MaxPool1d | nn.AvgPool1d) else 2
        params = {k: getattr(m, k) for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode",
                                             "return_indices", "divisor_override") if hasattr(m, k)}
        return _pool(kind, nd, params, f"'{where}'")
    if isinstance(m, _ADAPTIVE):
        nd = len(shape) - 1
        if any(s != 1 for s in _tuple(m.output_size, nd)) or getattr(m, "return_indices", False):
            raise UnsupportedError(f"{type(m).__name__} at '{where}': only global pooling (output size 1) "
                                   "is supported")
        kind = "avg" if isinstance(m, nn.AdaptiveAvgPool1d | nn.AdaptiveAvgPool2d) else "max"
        return _pool(kind, nd, {"kernel_size": shape[1:]}, f"'{where}'")
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise UnsupportedError(f"Flatten at '{where}': only start_dim=1, end_dim=-1 is supported")
        return _Op("flatten", where)
    if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Identity):
        return None
    raise _unsupported(type(m).__name__, node)


def _head(name: str, dim: Any, shape: tuple[int, ...], where: str) -> _Op:
    """A softmax over the classes of a ``[n, classes]`` output (dropped later if it is the last op)."""
    if len(shape) != 1 or dim not in (1, -1):
        dims = ", ".join(map(str, shape))
        raise UnsupportedError(f"{name} at {where}: dim={dim} over an input of shape (n, {dims}); only a "
                               "softmax over the classes of a flat output (dim=1) is supported")
    return _Op("head", where, head=name)


def _arg(node: fx.Node, i: int, key: str, default: Any = None) -> Any:
    return node.args[i] if len(node.args) > i else node.kwargs.get(key, default)


def _clamp_op(name: str, node: fx.Node, where: str) -> _Op:
    """``torch.clamp``/``clip``/``clamp_min``/``clamp_max``, ``F.hardtanh``, ``F.relu6`` (or the method)."""
    what = f"{name} at {where}"
    if name in ("hardtanh", "hardtanh_"):
        lo, hi = _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)
    elif name == "relu6":
        lo, hi = 0.0, 6.0
    elif name.startswith("clamp_min"):
        lo, hi = _arg(node, 1, "min"), None
    elif name.startswith("clamp_max"):
        lo, hi = None, _arg(node, 1, "max")
    else:
        lo, hi = _arg(node, 1, "min"), _arg(node, 2, "max")
    if any(isinstance(v, fx.Node | torch.Tensor) for v in (lo, hi)):
        raise UnsupportedError(f"{what}: tensor bounds are not supported; use number bounds")
    return _Op("act", where, act=StageAct.clamp(lo, hi, what))


def _bind(node: fx.Node, names: tuple[str, ...]) -> dict[str, Any]:
    params = dict(_POOL_DEFAULTS)
    params.update(zip(names, node.args[1:], strict=False))
    params.update(node.kwargs)
    return params


def _is_shape_value(node: Any, shape_nodes: set[fx.Node]) -> bool:
    return not isinstance(node, fx.Node) or node in shape_nodes


def _function_op(node: fx.Node, shape: tuple[int, ...], shape_nodes: set[fx.Node]) -> _Op | None:
    where = _where(node)
    t = node.target
    if node.op == "call_function":
        if t in _RELU_FUNCS:
            return _Op("relu", where)
        if t in _DROP_FUNCS:
            return None
        if t in _CLAMP_FUNCS:
            return _clamp_op(t.__name__, node, where)
        if t is _F.leaky_relu:
            slope = _arg(node, 1, "negative_slope", 0.01)
            return _Op("act", where, act=StageAct("leaky", k=leaky_shift(slope, f"leaky_relu at {where}")))
        if t in _SOFTMAX_FUNCS:
            return _head(t.__name__, _arg(node, 1, "dim"), shape, where)
        if t is torch.flatten:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                raise UnsupportedError(f"torch.flatten at {where}: only start_dim=1, end_dim=-1 is supported")
            return _Op("flatten", where)
        if t in _POOL_FUNCS:
            kind, nd, names = _POOL_FUNCS[t]
            return _pool(kind, nd, _bind(node, names), where)
        raise _unsupported(getattr(t, "__name__", str(t)), node)
    # call_method
    if t in ("relu", "relu_"):
        return _Op("relu", where)
    if t == "contiguous":
        return None
    if t in _CLAMP_METHODS:
        return _clamp_op(t, node, where)
    if t in ("softmax", "log_softmax"):
        return _head(t, _arg(node, 1, "dim"), shape, where)
    if t == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        if start != 1 or (len(node.args) > 2 and node.args[2] != -1):
            raise UnsupportedError(f"x.flatten at {where}: only x.flatten(1) is supported")
        return _Op("flatten", where)
    if t in ("view", "reshape"):
        dims = node.args[1:]
        if len(dims) == 1 and isinstance(dims[0], list | tuple):
            dims = tuple(dims[0])
        if len(dims) == 2 and _is_shape_value(dims[0], shape_nodes) and dims[1] == -1:
            return _Op("flatten", where)
        raise UnsupportedError(f"x.{t}{tuple(dims)} at {where}: only flattening, x.{t}(x.size(0), -1), "
                               "is supported")
    raise _unsupported(str(t), node)


def infer_input_format(x: torch.Tensor, bits: int = 8) -> FixedFormat:
    """``bits``-wide format for the values of ``x`` (:func:`zerogate.fixedpoint.format_for`): pass
    the whole training set, or the real format when known, not one batch."""
    return format_for(x.detach().cpu().numpy(), bits)


def _chain(model: nn.Module, example_input: torch.Tensor) -> list[_Op]:
    """Trace ``model`` and walk its graph as one chain of supported ops."""
    root = model
    try:
        graph = _PathTracer().trace(root)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...) on data-dependent code
        raise UnsupportedError(f"torch.fx cannot trace {type(model).__name__}: {str(e).splitlines()[0]} "
                               "(data-dependent control flow?); write forward as a plain chain") from e
    gm = fx.GraphModule(root, graph)
    ShapeProp(gm).propagate(example_input)
    modules = dict(root.named_modules())
    ops: list[_Op] = []
    cur: fx.Node | None = None
    shape_nodes: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            if cur is not None:
                raise UnsupportedError(f"the model takes several inputs ({node.name!r} is the second); "
                                       "only one input tensor is supported")
            cur = node
            continue
        if node.op == "output":
            out = node.args[0]
            if out is not cur:
                raise UnsupportedError("the model's output is not the last op of its chain (a tuple or a "
                                       "branch?); return one tensor")
            break
        if node.op == "get_attr":
            raise UnsupportedError(f"the forward reads parameter or buffer '{node.target}' directly at "
                                   f"{_where(node)}; use modules ({SUPPORTED})")
        if (node.op == "call_method" and node.target == "size") or (
                node.op == "call_function" and node.target in (getattr, operator.getitem)
                and node.args and (node.args[0] in shape_nodes or node.args[1:2] == ("shape",))):
            shape_nodes.add(node)
            continue
        if node.op == "call_module":
            m = modules[str(node.target)]
            args = node.args
        else:
            m = None
            args = node.args
        tensor_args = [a for a in (*args, *node.kwargs.values()) if isinstance(a, fx.Node)
                       and a not in shape_nodes]
        if tensor_args != [cur]:
            name = type(m).__name__ if m is not None else getattr(node.target, "__name__", str(node.target))
            if any(a is not cur for a in tensor_args) and len(tensor_args) > 1:
                raise _unsupported(name, node)
            raise UnsupportedError(f"'{name}' at {_where(node)} does not read the previous op's output: "
                                   "the model is not a single chain (branches and skips are unsupported)")
        in_meta = cur.meta.get("tensor_meta")
        shape = tuple(in_meta.shape[1:]) if in_meta is not None and hasattr(in_meta, "shape") else ()
        op = _module_op(m, node, shape) if m is not None else _function_op(node, shape, shape_nodes)
        if op is not None:
            ops.append(op)
        cur = node
    return ops


def _check_conv(m: nn.Module, where: str) -> None:
    if not isinstance(m, nn.Conv1d | nn.Conv2d):
        return
    name = f"{type(m).__name__} at '{where}'"
    if m.groups != 1:
        raise UnsupportedError(f"{name}: groups={m.groups}; only dense convolutions are supported: use "
                               "groups=1 (depthwise convolutions are not supported yet)")
    if any(d != 1 for d in m.dilation):
        raise UnsupportedError(f"{name}: dilation={m.dilation}; only dilation 1 is supported")
    if m.padding_mode != "zeros":
        raise UnsupportedError(f"{name}: padding_mode={m.padding_mode!r}; only zero padding is supported")
    if m.padding == "valid":
        m.padding = (0,) * len(m.kernel_size)
    elif m.padding == "same":
        if any(k % 2 == 0 for k in m.kernel_size):
            raise UnsupportedError(f"{name}: padding='same' with an even kernel {m.kernel_size} pads "
                                   "asymmetrically; use an odd kernel or explicit padding")
        m.padding = tuple(k // 2 for k in m.kernel_size)
    if any(p >= k for p, k in zip(m.padding, m.kernel_size, strict=True)):
        raise UnsupportedError(f"{name}: padding {m.padding} must be smaller than the kernel {m.kernel_size}")


def _build_stages(ops: list[_Op], weight_bits: int) -> list[tuple[QuantWeightLayer | PoolStage | nn.Flatten,
                                                                   StageAct]]:
    """Stages as (layer/pool/flatten, activation) pairs, BatchNorm folded and each activation
    attached to its layer."""
    stages: list[list[Any]] = []
    for k, op in enumerate(ops):
        if op.kind == "weight":
            assert op.module is not None
            m = copy.deepcopy(op.module).to(torch.float64)
            _check_conv(m, op.path)
            stages.append([m, StageAct()])
        elif op.kind == "bn":
            prev = ops[k - 1] if k else None
            if prev is None or prev.kind != "weight":
                raise UnsupportedError(f"BatchNorm at '{op.path}' does not directly follow a Linear or Conv, "
                                       "so it cannot be folded into one; move it before the activation")
            fold_bn(stages[-1][0], op.module, op.path)  # type: ignore[arg-type]
        elif op.kind in ("relu", "act"):
            act = op.act if op.act is not None else StageAct("relu")
            j = len(stages) - 1
            while j >= 0 and (isinstance(stages[j][0], nn.Flatten) or
                              (isinstance(stages[j][0], PoolStage) and stages[j][0].kind == "max")):
                j -= 1  # ReLU commutes with max pooling and flattening
            if j < 0 or isinstance(stages[j][0], PoolStage):
                what = "the network input" if j < 0 else "average pooling"
                name = "ReLU" if op.kind == "relu" else str(act)
                raise UnsupportedError(f"{name} at {op.path} follows {what}, so it cannot become a layer's "
                                       "output format; apply it before the pooling")
            stages[j][1] = stages[j][1].then(act, f"{act} at {op.path}")
        elif op.kind == "pool":
            assert op.pool is not None
            stages.append([PoolStage(*op.pool), StageAct()])
        else:
            stages.append([nn.Flatten(), StageAct()])
    out = []
    for mod, act in stages:
        if isinstance(mod, nn.Linear | nn.Conv1d | nn.Conv2d):
            mod = quantized_copy(mod, weight_bits)
        out.append((mod, act))
    return out


def _split_head(ops: list[_Op]) -> tuple[list[_Op], _Op | None]:
    """The chain without its final softmax, and that softmax; a softmax anywhere else is refused."""
    for k, op in enumerate(ops):
        if op.kind == "head" and k != len(ops) - 1:
            raise UnsupportedError(f"{op.head} at {op.path} is not the model's last op; a softmax is only "
                                   "supported as the output head (it is dropped: argmax is unchanged), so "
                                   "move it to the end or remove it")
    if ops and ops[-1].kind == "head":
        return ops[:-1], ops[-1]
    return ops, None


def from_module(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    input_format: FixedFormat | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    output_bits: int = 16,
    check: Callable[[torch.Tensor, torch.Tensor], bool] | None = None,
) -> QuantNet:
    """A :class:`QuantNet` computing what ``model`` computes in eval mode (BatchNorm folded,
    quantizers off until calibrated and enabled); ``model`` is left untouched.

    ``example_input`` is a batch ``[n, *shape]``; ``input_format`` defaults to
    :func:`infer_input_format` of it. Hidden layers get ``act_bits``-wide outputs (unsigned after
    a ReLU), the last weight layer ``output_bits``. The result must match ``model(example_input)``
    (float64, relative tolerance 1e-9, or ``check``) or an UnsupportedError says the trace differs.
    """
    if example_input.dim() < 2:
        raise UnsupportedError(f"example_input has shape {tuple(example_input.shape)}: from_module needs a "
                               "batch [n, *sample_shape]; pass x.unsqueeze(0) for one sample")
    ops, head = _split_head(_chain(copy.deepcopy(model).eval(), example_input))
    built = _build_stages(ops, weight_bits)
    weight_idx = [i for i, (m, _) in enumerate(built) if isinstance(m, QuantWeightLayer)]
    if not weight_idx:
        raise UnsupportedError(f"{type(model).__name__} has no Linear or Conv layer; nothing to build")
    stages: list[nn.Module] = []
    for i, (m, act) in enumerate(built):
        if isinstance(m, QuantWeightLayer):
            bits = output_bits if i == weight_idx[-1] else act_bits
            stages.append(WeightStage(m, ActQuant(bits, 0, signed=act.signed), act))
        else:
            stages.append(m)
    fmt = input_format or infer_input_format(example_input)
    qnet = QuantNet(fmt, tuple(example_input.shape[1:]), stages)
    if head is not None:
        qnet.dropped_head = f"{head.head} at {head.path} dropped: argmax is unchanged"
    _check_equal(model, qnet, example_input, check, head)
    return qnet.to(next(model.parameters()).dtype)


@torch.no_grad()
def _check_equal(model: nn.Module, qnet: QuantNet, x: torch.Tensor,
                 check: Callable[[torch.Tensor, torch.Tensor], bool] | None, head: _Op | None = None) -> None:
    ref = copy.deepcopy(model).to(torch.float64).eval()
    want = ref(x.to(torch.float64)).flatten(1)
    got = qnet.to(torch.float64).eval()(x.to(torch.float64))
    if head is not None:  # the model's output includes the dropped softmax
        got = (torch.log_softmax if "log" in head.head.lower() else torch.softmax)(got, 1)
    ok = check(got, want) if check is not None else (
        got.shape == want.shape and torch.allclose(got, want, rtol=1e-9, atol=1e-9 * float(want.abs().max())))
    if not ok:
        raise UnsupportedError(f"the traced network computes something other than {type(model).__name__} on "
                               "the example input (an op with no effect on the trace?); simplify forward")
