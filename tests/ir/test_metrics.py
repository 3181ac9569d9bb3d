"""The memory formula on a layer small enough to count by hand."""

import numpy as np

from zerogate.fixedpoint import FixedFormat
from zerogate.ir import Layer, LayerKind, Network
from zerogate.metrics import SHIFT_FIELD_BITS, WIDTH_FIELD_BITS, layer_memory, network_stats


def test_memory_formula_by_hand() -> None:
    w = np.array([[0, 3, 0, 0, -1], [0, 0, 0, 0, 0], [7, 0, 0, 0, 0]])
    fin, fout = FixedFormat(5, 4, False), FixedFormat(8, 4, False)
    layer = Layer(
        name="fc", kind=LayerKind.DENSE, in_features=5, out_features=3, weight=w, bias=np.zeros(3),
        weight_bits=np.array([3, 2, 4]), weight_frac=np.zeros(3, dtype=int), shift=np.zeros(3, dtype=int),
        input=fin, output=fout, bias_bits=6,
    )
    mem = layer_memory(layer)
    assert mem.nnz == 3
    assert mem.weight_bits == 2 * 3 + 1 * 4  # channel widths 3 and 4; the empty channel stores none
    assert mem.index_bits == 3 * 3 + 3 * 2  # ceil(log2 5) per nonzero + ceil(log2(2+1)) per row
    assert mem.param_bits == 3 * (6 + SHIFT_FIELD_BITS + WIDTH_FIELD_BITS)
    stats = network_stats(Network("n", fin, 5, (layer,)))
    assert stats.float32_bits == 32 * 15 and stats.int8_bits == 8 * 15
    assert stats.sparsity == 1 - 3 / 15
    assert stats.memory_bits == mem.total_bits
