"""The skid buffer passes every sample once, in order, under any mix of gaps and back-pressure."""

import pytest
from amaranth.hdl import unsigned
from amaranth.lib import data

from hwgen.skid import SkidBuffer
from tests.hwgen.streamsim import run_streams


@pytest.mark.parametrize(
    ("gaps", "backpressure", "seed"), [(0, 0, 0), (0.5, 0, 1), (0, 0.6, 2), (0.4, 0.4, 3)]
)
def test_skid_buffer_is_lossless_and_ordered(gaps: float, backpressure: float, seed: int) -> None:
    dut = SkidBuffer(data.ArrayLayout(unsigned(7), 3))
    xs = [[(7 * k + j) % 128 for j in range(3)] for k in range(200)]
    run = run_streams(dut, xs, len(xs), seed=seed, gaps=gaps, backpressure=backpressure)
    assert run.outputs == xs


def test_full_throughput_without_stalls() -> None:
    dut = SkidBuffer(data.ArrayLayout(unsigned(8), 1))
    run = run_streams(dut, [[k] for k in range(50)], 50)
    assert run.output_cycles[-1] - run.output_cycles[0] == 49  # one sample per cycle
