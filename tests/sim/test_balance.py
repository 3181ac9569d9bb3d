"""Rate balancing: folded layers get the fewest lanes that keep up with the slowest one, at the
same throughput, and stay bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from netgen import random_inputs, random_network
from streamsim import run_streams
from test_conv_pool import CASES as CONV_POOL
from test_conv_pool import build_net

from hwgen.balance import BUSY_TARGET, busy, lanes_for
from hwgen.serdes import beats
from hwgen.top import Accelerator
from zerogate import golden
from zerogate.ir import Layer


@pytest.mark.parametrize(("entries", "positions", "ii", "lanes", "want"), [
    (7, 1, 576, 4, 1),  # a small classifier behind a slow conv: one lane
    (57, 1, 45, 4, 2),  # 29 steps fit in 45, 1 lane's 57 do not
    (18, 64, 432, 4, 3),  # 6 steps x 64 windows = 384 <= 432
    (180, 1, 45, 4, 4),  # the bottleneck itself keeps all its lanes
    (100, 1, 10, 4, 4),  # never more than asked for, even if the chain is faster
    (10, 64, 224, 4, 5),  # 4 lanes x 3 steps keep up, 10 of 12 lane cycles busy; 5 x 2: all
    (7, 1, 3, 4, 7),  # 3 x 3 (78 %) and 4 x 2 (88 %) keep up; only 7 x 1 is busy enough
    (10, 64, 192, 4, 4),  # the same layer pacing the chain keeps the lanes asked for
])
def test_lanes_for(entries: int, positions: int, ii: int, lanes: int, want: int) -> None:
    assert lanes_for(entries, positions, ii, lanes) == want


def _silence(dut: Accelerator) -> None:
    for s in [dut, dut.deser, dut.ser, dut.iskid, *(k for k in dut.skids if k is not None), *dut.layers]:
        s._MustUse__silence = True
        for c in vars(s).values():
            if hasattr(c, "_MustUse__silence"):
                c._MustUse__silence = True


def _nets() -> list[tuple[str, object]]:
    nets = [(f"mlp{s}", random_network(s, (48, 24, 6), sparsity=0.8)) for s in range(3)]
    return nets + [(name, build_net(CONV_POOL[name])) for name in list(CONV_POOL)[:6]]


@pytest.mark.parametrize(("name", "net"), _nets(), ids=[n for n, _ in _nets()])
def test_balance_keeps_the_interval_and_cuts_lanes(name: str, net: object) -> None:
    full = Accelerator(net, 8, 2, style="folded", lanes=4, balance=False)
    bal = Accelerator(net, 8, 2, style="folded", lanes=4)
    assert bal.ii == full.ii
    for ly, a, b in zip(net.layers, full.layers, bal.layers, strict=True):
        if isinstance(ly, Layer):
            assert b.lanes >= 1 and a.lanes <= 4
            assert b.cycles_per_inference <= bal.ii
            # more lanes than asked only to split a small layer's nonzeros evenly
            if b.lanes > a.lanes:
                assert busy(ly.nnz, b.lanes) >= BUSY_TARGET > busy(ly.nnz, a.lanes)
    _silence(full)
    _silence(bal)


def test_balanced_chain_is_bit_exact_and_smaller() -> None:
    """A wide first layer sets the pace; the narrow second one drops to fewer lanes, the chain
    keeps its interval and its outputs (Amaranth simulator, gaps and back-pressure)."""
    net = random_network(5, (40, 12, 3), sparsity=0.6)
    full = Accelerator(net, 8, 2, style="folded", lanes=4, balance=False)
    dut = Accelerator(net, 8, 2, style="folded", lanes=4)
    assert [ly.lanes for ly in dut.layers] != [ly.lanes for ly in full.layers]
    assert dut.ii == full.ii and dut.latency >= full.latency
    _silence(full)
    x = random_inputs(np.random.default_rng(5), net, 40)
    b = beats(net.in_features, 8)
    stream = np.concatenate([x, np.zeros((len(x), b * 8 - net.in_features), dtype=np.int64)],
                            axis=1).reshape(-1, 8)
    run = run_streams(dut, stream, len(x) * dut.beats_out, seed=5, gaps=0.2, backpressure=0.3)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :net.out_features]
    assert np.array_equal(got, golden.run(net, x))
