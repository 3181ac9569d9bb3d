"""The RAM input map of a spatial first layer: positions out in order, timing as modelled."""

import numpy as np
import pytest
from amaranth.hdl import signed
from netgen import random_inputs
from streamsim import run_streams
from test_top import _to_beats

from hwgen import mapbuf
from hwgen.timing import MapStore, Skid, isolated, item_ends, run_chain
from hwgen.top import Accelerator
from zerogate import golden
from zerogate.ir import Network


@pytest.mark.parametrize(("channels", "positions", "lanes", "stalls"), [
    (1, 8, 8, False), (2, 12, 4, True), (3, 6, 3, True), (2, 5, 1, False), (4, 16, 2, True),
])
def test_positions_come_out_channel_by_channel(channels: int, positions: int, lanes: int,
                                               stalls: bool) -> None:
    rng = np.random.default_rng(positions * lanes)
    maps = rng.integers(-128, 128, (5, channels * positions))  # channel-major, like torch.flatten
    dut = mapbuf.MapBuffer(signed(8), channels, positions, lanes)
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    run = run_streams(dut, maps.reshape(-1, lanes), len(maps) * positions, seed=lanes, **kw)
    want = maps.reshape(len(maps), channels, positions).transpose(0, 2, 1).reshape(-1, channels)
    assert np.array_equal(np.array(run.outputs), want)
    if not stalls:
        model = isolated([MapStore(dut.beats, positions)], positions)
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency == model.latency
        ends = np.diff(run.output_cycles[positions - 1::positions])
        assert np.all(ends == model.cycles_per_inference)


def test_model_streams_a_map_while_the_next_is_written() -> None:
    """Two buffers: with the output always ready, maps go at max(beats, positions) cycles each."""
    for beats, positions in ((8, 8), (16, 8), (4, 12)):
        run = run_chain([Skid(), MapStore(beats, positions)], 12, positions)
        ends = np.diff(item_ends(run, 2, positions))
        assert set(ends[4:]) == {max(beats, positions)}


def test_unaligned_maps_are_refused() -> None:
    assert mapbuf.fits(64, 8) and not mapbuf.fits(10, 4)
    with pytest.raises(ValueError, match="do not split"):
        mapbuf.MapBuffer(8, 2, 10, 4)


@pytest.mark.parametrize(("in_lanes", "stalls"), [(8, False), (8, True), (5, False), (16, True)])
def test_cnn_accelerator_with_either_input_path(cnn_net: Network, in_lanes: int, stalls: bool) -> None:
    """8 and 16 lanes split the 8x8 map into whole beats (RAM); 5 lanes do not (registers)."""
    rng = np.random.default_rng(in_lanes)
    x = random_inputs(rng, cnn_net, 6)
    dut = Accelerator(cnn_net, in_lanes, 2)
    assert dut.map_in == (64 % in_lanes == 0)
    assert isinstance(dut.deser, mapbuf.MapBuffer) == dut.map_in
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    lo, hi = cnn_net.input.min_int, cnn_net.input.max_int
    run = run_streams(dut, _to_beats(rng, x, in_lanes, lo, hi), len(x) * dut.beats_out, seed=in_lanes,
                      max_cycles=40_000, **kw)
    got = np.array(run.outputs).reshape(len(x), -1)[:, :cnn_net.out_features]
    assert np.array_equal(got, golden.run(cnn_net, x))
    if not stalls:
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        done = np.array(run.output_cycles[dut.beats_out - 1::dut.beats_out])
        assert np.all(np.diff(done)[len(x) // 2:] == dut.ii)
