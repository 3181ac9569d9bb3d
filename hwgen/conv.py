"""Conv1d / Conv2d engines: a convolution is a dense layer applied to every window.

The window of one output position (``channels * taps`` elements, ordered like
``weight[o].flatten()``) is exactly the input vector of a dense layer whose weight matrix is
``layer.weight_matrix()``. So both styles reuse the dense engines unchanged on that
*dense equivalent*:

* unrolled: :class:`~hwgen.dense.UnrolledDense` - constant weights, CSD shift-and-add, zero
  weights and pruned channels build nothing, every adder sized from exact bounds, one output
  position per cycle;
* folded: :class:`~hwgen.folded.FoldedDense` - only the nonzeros (weight + tap index) in a ROM,
  ``lanes`` MAC lanes walk them, ``ceil(nnz / lanes)`` cycles per output position.

Zero padding needs no care in the bounds: 0 is a legal value of every input format, so the
dense equivalent's :meth:`~zerogate.ir.Layer.acc_bounds` are the convolution's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from amaranth.lib import wiring

from hwgen.folded import FIXED_LATENCY, registered_ready
from zerogate.ir import Layer, LayerKind


def dense_equivalent(layer: Layer) -> Layer:
    """The dense layer that one window of ``layer`` feeds: same weights, channels, formats."""
    w = layer.weight_matrix()
    return dataclasses.replace(layer, kind=LayerKind.DENSE, in_features=int(w.shape[1]), weight=w,
                               in_shape=(), kernel=(), stride=(), padding=())


class FoldedModel:
    """Cycle model of :class:`~hwgen.folded.FoldedDense`'s input side (its stage A), output never stalled.

    A window is taken into ``x_next`` when that buffer is free (or, for ``T < 3``, being handed
    over); a handover starts ``T`` steps whose result is valid ``T + FIXED_LATENCY - 1`` cycles later. For
    :func:`window_timing`, an independent check of the chain's token model (:mod:`hwgen.timing`)
    on isolated stages.
    """

    def __init__(self, steps: int) -> None:
        self.T = steps
        self.registered = registered_ready(steps)
        self.full = self.active = False
        self.t = 0
        self.outputs: list[int] = []

    def _handover(self) -> bool:
        return self.active and self.t == 0

    def ready(self) -> bool:
        return not self.full or (not self.registered and self._handover())

    def step(self, accept: bool, cycle: int) -> None:
        handover, last = self._handover(), self.t == self.T - 1
        start = (self.full and not handover) or accept
        if handover:
            self.outputs.append(cycle + self.T + FIXED_LATENCY - 1)
        self.full = accept or (self.full and not handover)
        if self.active and not last:
            self.t += 1
        else:
            self.active, self.t = start, 0


def conv_engine(layer: Layer, folded: bool, lanes: int, dense: bool, *, lookahead: bool = False,
                **opts: Any) -> wiring.Component:
    """The per-window engine of a convolution in the chosen style (``lookahead``: see
    :class:`~hwgen.folded.FoldedDense`; the other engines need none)."""
    eq = dense_equivalent(layer)
    if folded:
        from hwgen.folded import FoldedDense

        return FoldedDense(eq, lanes=lanes, dense=dense, lookahead=lookahead)
    if dense:
        from hwgen.baseline import DenseUnrolled

        return DenseUnrolled(eq, **opts)
    from hwgen.dense import UnrolledDense

    return UnrolledDense(eq, **opts)
