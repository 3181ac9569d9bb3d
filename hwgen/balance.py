"""Rate balancing: every folded layer gets the fewest lanes that do not slow the chain.

A chain of streaming stages runs at the pace of its slowest stage, its initiation interval
``II``. A folded layer that would finish its ``positions`` windows in fewer cycles than that
only idles, so lanes beyond the ones it needs to keep up are area without throughput: a layer
of ``entries`` walked weights needs ``T = ceil(entries / lanes)`` steps per window, and any
``T <= II // positions`` keeps up. The lanes a style asks for are therefore an upper bound, the
bottleneck layer's count; the others get ``ceil(entries / (II // positions))``. Throughput is
unchanged (the chain is re-timed and balancing undone if ``II`` moved) and every layer's lane
efficiency rises; a balanced layer's latency grows with its ``T``. ``balance=False`` in
:class:`hwgen.top.Accelerator` (``--no-balance``) builds every folded layer with all its lanes.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwgen.layers import LayerStyle
from zerogate.ir import Layer
from zerogate.metrics import walked_weights


def lanes_for(entries: int, positions: int, ii: int, lanes: int) -> int:
    """Fewest lanes, at most ``lanes``, whose ``ceil(entries / L)`` steps per window times
    ``positions`` windows fit in ``ii`` cycles."""
    steps = max(ii // max(positions, 1), 1)
    return min(lanes, max(-(-entries // steps), 1))


def balanced_styles(layers: Sequence[object], styles: Sequence[LayerStyle], ii: int) -> list[LayerStyle]:
    """``styles`` with each folded weight layer's lanes cut to what a chain of interval ``ii`` needs."""
    out = []
    for ly, st in zip(layers, styles, strict=True):
        if st.folded and isinstance(ly, Layer):
            st = LayerStyle(st.style, lanes_for(walked_weights(ly, st.dense), ly.positions, ii, st.lanes))
        out.append(st)
    return out
