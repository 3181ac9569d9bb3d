"""The PyTorch reference: the quantized model's own eval forward, in float64, as integers.

Every quantized value is ``q * 2**-f``; in float64 the products and sums are exact and the
quantizers round half up and clamp on the exact value (see :mod:`compress.quant`), so this
forward computes exactly what :mod:`zerogate.golden` computes from the exported IR. It must
not borrow the golden model or numpy integer code: it is the independent second opinion.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from compress.qnet import QuantNet


def _to_ints(v: torch.Tensor, frac: int) -> np.ndarray:
    q = v * 2.0**frac
    r = torch.round(q)
    if not torch.equal(q, r):  # a quantized value off its grid is a reference bug
        raise AssertionError("reference produced a value off its fixed-point grid")
    return r.to(torch.int64).numpy()


@torch.no_grad()
def reference_trace(model: QuantNet, x_int: np.ndarray) -> list[np.ndarray]:
    """Per-IR-node output integers ``[n, *out_shape]`` for input integers ``x_int`` (``[n, ...]``
    holding ``prod(in_shape)`` values per sample) in the input format.

    Runs a float64 copy of ``model`` in eval mode with every quantizer on; ``model`` itself is
    left untouched. Channels the export removes (dead channels) are dropped here too, so the
    shapes equal :func:`zerogate.golden.trace`'s.
    """
    ref = copy.deepcopy(model).double().eval()
    ref.set_quant(True)
    fmts = ref.formats()
    x_np = np.asarray(x_int, dtype=np.int64).reshape(-1, *ref.in_shape)
    x = torch.from_numpy(x_np).to(torch.float64) * 2.0 ** -fmts[0].frac
    outs = ref.forward_trace(x)
    keeps = ref.kept_channels()
    return [_to_ints(o.index_select(1, k), f.frac) for o, k, f in zip(outs, keeps, fmts[1:], strict=True)]


def reference_run(model: QuantNet, x_int: np.ndarray) -> np.ndarray:
    """Output integers of the last node, flattened to ``[n, features]``."""
    out = reference_trace(model, x_int)[-1]
    return out.reshape(out.shape[0], -1)
