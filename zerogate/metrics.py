"""Numbers every report uses, each computed by exactly one formula.

Weight memory (bits) of a network, the one formula used everywhere::

    Σ_layers [ Σ_c nnz_c · b_c                      (nonzero weights at their channel width)
             + nnz · ceil(log2(fan_in))              (CSR column index per nonzero; fan_in =
                                                      inputs, or in_channels · kernel taps)
             + out · ceil(log2(max_c nnz_c + 1))     (CSR row length per channel)
             + out · (bias_bits + SHIFT_FIELD_BITS + WIDTH_FIELD_BITS) ]  (per-channel parameters)

compared with ``32 · N`` (dense float32) and ``8 · N`` (dense int8), ``N`` = all weight slots.

Lane use of a weight layer (:func:`lane_use`): its compute limit ``ceil(MACs ÷ lanes)`` cycles per
inference and, for a folded engine, its lane efficiency ``MACs ÷ (lanes × cycles)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from zerogate.ir import Layer, Network

#: Bits to store one channel's requantization shift (0..63) and its weight width code (2..16).
SHIFT_FIELD_BITS = 6
WIDTH_FIELD_BITS = 4


def _clog2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


@dataclass(frozen=True)
class LayerMemory:
    name: str
    n_weights: int
    nnz: int
    weight_bits: int
    index_bits: int
    param_bits: int

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.index_bits + self.param_bits


def layer_memory(layer: Layer) -> LayerMemory:
    nnz_c = np.count_nonzero(layer.weight_matrix(), axis=1)
    wbits = int((nnz_c * layer.weight_bits).sum())
    nnz = int(nnz_c.sum())
    index = nnz * _clog2(layer.fan_in) + layer.out_features * _clog2(int(nnz_c.max()) + 1)
    params = layer.out_features * (layer.bias_bits + SHIFT_FIELD_BITS + WIDTH_FIELD_BITS)
    return LayerMemory(layer.name, layer.n_weights, nnz, wbits, index, params)


@dataclass(frozen=True)
class NetworkStats:
    n_weights: int
    nnz: int
    sparsity: float
    max_weight_bits: int
    memory_bits: int
    float32_bits: int
    int8_bits: int
    macs_dense: int
    macs_nonzero: int

    @property
    def ratio_vs_float32(self) -> float:
        return self.float32_bits / self.memory_bits

    @property
    def ratio_vs_int8(self) -> float:
        return self.int8_bits / self.memory_bits

    @property
    def reduction_vs_float32(self) -> float:
        return 1.0 - self.memory_bits / self.float32_bits

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            ratio_vs_float32=self.ratio_vs_float32,
            ratio_vs_int8=self.ratio_vs_int8,
            reduction_vs_float32=self.reduction_vs_float32,
        )
        return d


def network_stats(net: Network) -> NetworkStats:
    mems = [layer_memory(ly) for ly in net.weight_layers]
    n = sum(m.n_weights for m in mems)
    nnz = sum(m.nnz for m in mems)
    return NetworkStats(
        n_weights=n,
        nnz=nnz,
        sparsity=1.0 - nnz / n,
        max_weight_bits=int(max(int(ly.weight_bits.max()) for ly in net.weight_layers)),
        memory_bits=sum(m.total_bits for m in mems),
        float32_bits=32 * n,
        int8_bits=8 * n,
        macs_dense=sum(ly.n_weights * ly.positions for ly in net.weight_layers),
        macs_nonzero=sum(ly.nnz * ly.positions for ly in net.weight_layers),
    )


@dataclass(frozen=True)
class LaneUse:
    """How one weight layer's engine spends its multiply-accumulate lanes per inference.

    ``macs`` counts nonzero weights at every output position; ``walked`` the slots the engine
    works through (every slot for a dense baseline, else ``macs``). An unrolled engine has a lane
    per weight it builds hardware for, a folded one the lanes it was given.
    """

    macs: int
    walked: int
    lanes: int
    folded: bool
    cycles: int | None  # the engine's cycles per inference

    @property
    def limit(self) -> int:
        """Fewest cycles per inference the lanes allow: ``ceil(walked ÷ lanes)``, at least 1."""
        return max(-(-self.walked // self.lanes), 1)

    @property
    def efficiency(self) -> float | None:
        """Folded engines: nonzero MACs ÷ (lanes × cycles); None otherwise."""
        return self.macs / (self.lanes * self.cycles) if self.folded and self.cycles else None

    @property
    def slot_efficiency(self) -> float | None:
        """Folded engines: walked slots ÷ (lanes × cycles), the share of lane cycles doing a MAC."""
        return self.walked / (self.lanes * self.cycles) if self.folded and self.cycles else None


def walked_weights(layer: Layer, dense: bool) -> int:
    """Weights an engine builds or walks per output position: every slot for a dense baseline, else
    the nonzeros."""
    return layer.n_weights if dense else layer.nnz


def lane_use(layer: Layer, style: str, lanes: int, cycles: int | None) -> LaneUse:
    """:class:`LaneUse` of ``layer`` built in engine ``style`` (hwgen.layers.STYLES) with ``lanes``."""
    folded = style.endswith("folded")
    built = walked_weights(layer, style.startswith("dense"))
    return LaneUse(macs=layer.nnz * layer.positions, walked=built * layer.positions,
                   lanes=lanes if folded else max(built, 1), folded=folded, cycles=cycles)
