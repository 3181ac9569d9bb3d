"""Rate balancing: every folded layer gets the fewest lanes that keep up with the chain, busy.

A chain of streaming stages runs at the pace of its slowest stage, its initiation interval
``II``. A folded layer that would finish its ``positions`` windows in fewer cycles than that
only idles, so lanes beyond the ones it needs to keep up are area without throughput: a layer
of ``entries`` walked weights on ``L`` lanes takes ``T = ceil(entries / L)`` steps per window,
and any ``T <= II // positions`` keeps up. The lanes a style asks for are the bottleneck
layer's count (they set the throughput); every other layer gets the fewest lanes that keep up
with at least :data:`BUSY_TARGET` of their lane cycles doing a multiply-accumulate. That is
usually fewer than asked, but a small layer whose nonzeros split badly can get more: 10 per
window on 4 lanes take 3 steps (10 of 12 lane cycles busy, 83 %), on 5 lanes 2 (100 %, and a
shorter ROM). Throughput is unchanged (the chain is re-timed and balancing undone if ``II``
moved) and a balanced layer's latency follows its ``T``. ``balance=False`` in
:class:`hwgen.top.Accelerator` (``--no-balance``) builds every folded layer with all its lanes.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwgen.folded import fold_shape
from hwgen.layers import LayerStyle
from zerogate.ir import Layer
from zerogate.metrics import walked_weights

#: Share of a balanced layer's lane cycles that must do a multiply-accumulate (the issue's lane
#: efficiency floor); below it, balancing adds lanes until the nonzeros split evenly enough.
BUSY_TARGET = 0.9


def busy(entries: int, lanes: int) -> float:
    """Share of busy lane cycles of ``entries`` on (at most) ``lanes`` lanes, as the folded engine
    builds them (:func:`hwgen.folded.fold_shape`)."""
    if entries < 1:
        return 1.0
    built, steps = fold_shape(entries, lanes)
    return entries / (built * steps)


def lanes_for(entries: int, positions: int, ii: int, lanes: int) -> int:
    """Lanes for a layer of ``entries`` walked weights per window and ``positions`` windows in a
    chain of interval ``ii``, asked for ``lanes``: all of them if the layer paces the chain (its
    ``ceil(entries / lanes) * positions`` cycles fill ``ii``), else the fewest whose steps per
    window fit in ``ii // positions`` and keep :data:`BUSY_TARGET` of the lane cycles busy."""
    steps = max(ii // max(positions, 1), 1)
    if -(-entries // lanes) * positions >= ii:  # it paces the chain (or cannot keep up)
        return lanes
    need = max(-(-entries // steps), 1)  # fewest lanes that keep up
    # one lane per entry is always fully busy, so the search ends
    return next(n for n in range(need, max(entries, 1) + 1) if busy(entries, n) >= BUSY_TARGET)


def balanced_styles(layers: Sequence[object], styles: Sequence[LayerStyle], ii: int) -> list[LayerStyle]:
    """``styles`` with each folded weight layer's lanes set to what a chain of interval ``ii`` needs."""
    out = []
    for ly, st in zip(layers, styles, strict=True):
        if st.folded and isinstance(ly, Layer):
            st = LayerStyle(st.style, lanes_for(walked_weights(ly, st.dense), ly.positions, ii, st.lanes))
        out.append(st)
    return out
