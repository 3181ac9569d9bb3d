"""Runs of 2-3 spatial layers streaming positions to each other, on Verilator, bit-exact and timed.

Neighbouring conv/pool stages hand over one position per beat (no whole-map Gather/Scatter
between them), so a window's pace depends on its upstream and a slow engine's back-pressure
reaches back through the run. Every layer's output (reassembled from its position stream by
the testbench's tap) is compared with the golden model, and Verilator's measured latency and
cycles per inference with the token model of the whole chain (:mod:`hwgen.timing`), exactly.

Coverage: 1-D and 2-D; conv -> pool -> conv, conv -> conv -> conv, pool -> conv -> pool,
conv -> conv -> pool, and a spatial run ending at the serializer (no dense head); strides 1/2,
padding 0/1; unrolled, folded:1, folded:3 and dense-unrolled engines, mixed per layer (an
unrolled engine back-pressured by a slower folded one behind it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_conv_pool import Case, obj_cache, simulate_case

__all__ = ["obj_cache"]  # the shared Verilator object cache fixture

C2 = (2, 6, 6)
C1 = (2, 12)
CASES = {
    "cpc2u": Case(C2, (("conv", 3, (3, 3), (1, 1), (1, 1)), ("max", (2, 2), (2, 2)),
                       ("conv", 2, (2, 2), (1, 1), (0, 0)), ("fc", 3)), "unrolled", seed=21),
    "cpc2m": Case(C2, (("conv", 3, (3, 3), (2, 2), (1, 1)), ("avg", (2, 2), (1, 1)),
                       ("conv", 2, (2, 2), (1, 1), (1, 1)), ("fc", 3)), "unrolled",
                  layer_styles=((0, "folded:1"),), seed=22),
    "ccc1f3": Case(C1, (("conv", 3, (3,), (1,), (1,)), ("conv", 3, (3,), (2,), (1,)),
                        ("conv", 2, (2,), (1,), (0,)), ("fc", 3)), "folded:3", seed=23),
    "cpc1m": Case(C1, (("conv", 3, (3,), (1,), (1,)), ("avg", (2,), (2,)), ("conv", 2, (3,), (1,), (1,)),
                       ("fc", 3)), "unrolled", layer_styles=((2, "folded:1"),), seed=24),
    "pcp2f1": Case(C2, (("max", (2, 2), (1, 1)), ("conv", 3, (3, 3), (2, 2), (1, 1)),
                        ("avg", (2, 2), (1, 1)), ("fc", 3)), "folded:1", seed=25),
    "cp2out": Case(C2, (("conv", 3, (3, 3), (1, 1), (1, 1)), ("max", (2, 2), (2, 2))), "unrolled",
                   layer_styles=((0, "folded:3"),), out_lanes=3, seed=26),
    "ucf1": Case(C1, (("conv", 4, (3,), (1,), (1,)), ("conv", 3, (3,), (1,), (1,)), ("max", (2,), (2,)),
                      ("fc", 3)), "unrolled", layer_styles=((1, "folded:1"),), seed=27),
    "dcc2": Case(C2, (("conv", 2, (2, 2), (1, 1), (1, 1)), ("conv", 3, (3, 3), (1, 1), (0, 0)), ("fc", 3)),
                 "dense-unrolled", layer_styles=((1, "folded:3"),), seed=28),
    "ucp2": Case(C2, (("conv", 3, (3, 3), (1, 1), (1, 1)), ("conv", 2, (3, 3), (2, 2), (1, 1)),
                      ("max", (3, 3), (1, 1)), ("fc", 3)), "unrolled", layer_styles=((1, "folded:3"),),
                 seed=29),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_spatial_chain_streams_bit_exact(name: str, tmp_path: Path, obj_cache: Path) -> None:
    net, design, _, r = simulate_case(CASES[name], tmp_path, obj_cache, 40)
    # every spatial layer followed by a spatial one streams positions, and its tap reassembles them
    spatial = [ly.kind.value != "dense" for ly in net.layers]
    streams = [ly.stream_positions > 0 for ly in design.layers]
    assert streams == [a and b for a, b in zip(spatial, [*spatial[1:], False], strict=True)]
    assert any(streams)
    assert r.ok, r.summary()
    assert (r.latency, r.cycles_per_inference) == (design.latency, design.ii)
