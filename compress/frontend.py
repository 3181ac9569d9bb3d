"""The one compression front end: any traceable ``nn.Module`` + data + a method -> a checked IR.

Every method (``taylor``, ``mixed``, ``squantizer``, ``sequential``) runs through
:func:`compress_module`: check the model against the data, train it in float unless it is
``pretrained``, measure its own float accuracy, trace it (:func:`compress.trace.from_module`),
let the method compress the traced net, export the IR and measure it (golden accuracy, memory,
PyTorch reference == golden on every integer; :func:`compress.methods.common.finish`). The
bundled models are presets (:func:`compress_preset`): their data set and a cached float
pre-training in front of the same path.

``pretrained=True`` skips the float pre-training (``FLOAT_EPOCHS`` = 40 epochs) that every method
otherwise starts from: the method fine-tunes the given weights. A method's own phases run as
configured (method 2's ``warmup_epochs`` default to 0, so nothing else trains in float).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
from torch import nn

from compress.config import ProgressCallback
from compress.methods import get_method
from compress.methods.common import FLOAT_EPOCHS, Data, MethodResult, finish, float_model, load_data, pretrain
from zerogate.errors import ConfigError, UserError

__all__ = ["compress_module", "compress_preset", "expected_input"]


def expected_input(model: nn.Module) -> str:
    """The input shape ``model``'s first weight layer expects, for error messages."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            return f"[n, {m.in_features}]"
        if isinstance(m, nn.Conv1d):
            return f"[n, {m.in_channels}, length]"
        if isinstance(m, nn.Conv2d):
            return f"[n, {m.in_channels}, height, width]"
    return "[n, *sample_shape]"


@torch.no_grad()
def _n_outputs(model: nn.Module, data: Data) -> int:
    """Run ``model`` on two training samples; a shape mismatch is one line naming both shapes."""
    x = data.x_train[:2]
    shape = list(data.x_train.shape)
    was = model.training
    model.eval()
    try:
        out = model(x)
    except Exception as e:  # a user's forward can fail in any way on a wrong shape
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise UserError(f"the model cannot take the data: x_train has shape {shape}, the model expects "
                        f"{expected_input(model)} ({first}); reshape the data or fix the model's first layer"
                        ) from None
    finally:
        model.train(was)
    if not isinstance(out, torch.Tensor) or out.dim() < 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(f"the model's output for a batch is {got}; it must be one tensor [n, classes] "
                        "(return the logits)")
    return math.prod(out.shape[1:])


def _check(model: Any, data: Data) -> nn.Module:
    """A float32 copy of ``model`` after checking it fits ``data`` (shape, label range)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(True for _ in model.parameters()):
        raise ConfigError(f"{type(model).__name__} has no parameters; zerogate needs Linear or Conv layers")
    model = copy.deepcopy(model).to(torch.float32)
    n_out = _n_outputs(model, data)
    labels = [data.y_train, data.y_test] + ([torch.from_numpy(data.val_labels)] if data.val_labels is not None
                                            else [])
    top = max(int(y.max()) for y in labels if y.numel())
    if top >= n_out:
        raise UserError(f"labels go up to {top} but the model has {n_out} outputs; give it at least "
                        f"{top + 1} outputs or relabel to 0..{n_out - 1}")
    return model


def compress_module(model: nn.Module, data: Data, method: str, params: Any = None, *, seed: int = 0,
                    pretrained: bool = True, float_epochs: int = FLOAT_EPOCHS, name: str = "model",
                    progress: ProgressCallback | None = None) -> MethodResult:
    """Compress ``model`` (left untouched) on ``data`` with ``method`` and ``params`` (its
    dataclass, a dict or None for the defaults); deterministic in ``seed``.

    ``pretrained``: the given weights are the starting point (no float pre-training); otherwise
    ``float_epochs`` of float training come first. ``name`` becomes the IR network's name.
    """
    m = get_method(method)
    params = m.resolve(params)
    net = _check(model, data)
    t0 = time.perf_counter()
    if not pretrained:
        pretrain(net, data, seed, float_epochs, progress)
    return _compress_float(net, data, method, params, seed, name, t0, progress,
                           {"pretrained": pretrained, "float_epochs": 0 if pretrained else float_epochs})


def compress_preset(model: str, method: str, params: Any = None, *, seed: int = 0,
                    progress: ProgressCallback | None = None) -> MethodResult:
    """``method`` on bundled ``model`` (:data:`compress.models.MODELS`) and its data set; the
    float pre-training is cached per seed, and ``train_seconds`` counts it as if it ran."""
    from compress.models import MODELS

    m = get_method(method)
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}: choose one of {', '.join(sorted(MODELS))}")
    params = m.resolve(params)
    data = load_data(model)
    t0 = time.perf_counter()
    net, _, seconds = float_model(model, data, seed, FLOAT_EPOCHS, progress)
    return _compress_float(net, data, method, params, seed, model, t0 - seconds, progress,
                           {"pretrained": False, "float_epochs": FLOAT_EPOCHS})


def _compress_float(net: nn.Module, data: Data, method: str, params: Any, seed: int, name: str, t0: float,
                    progress: ProgressCallback | None, meta: dict[str, Any]) -> MethodResult:
    from compress.methods.common import to_qnet
    from compress.train import accuracy

    float_acc = accuracy(net, data.x_test, data.y_test)  # the float model's own, before any change
    qnet = to_qnet(net, data, params.act_bits)
    extra = get_method(method).apply(qnet, data, params, seed, net, progress)
    meta = {"seed": seed, **meta, "params": _params_dict(params), "input_format": str(data.input_format),
            **extra}
    return finish(qnet, name, method, data, float_acc, t0, meta)


def _params_dict(params: Any) -> dict[str, Any]:
    """A params dataclass as JSON-ready values (tuples as lists), for the IR metadata and report."""
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}
