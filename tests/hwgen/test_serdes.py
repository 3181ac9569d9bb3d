"""Deserializer and Serializer: order, padding, back-pressure and initiation interval."""

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from streamsim import run_streams

from hwgen.serdes import Deserializer, Serializer, beats

CASES = [(5, 2), (8, 8), (7, 3), (1, 4), (16, 8), (3, 1), (9, 4)]


def _vectors(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    return rng.integers(-8, 8, (count, n))


@pytest.mark.parametrize(("n", "lanes"), CASES)
@pytest.mark.parametrize("stalls", [False, True])
def test_deserializer(n: int, lanes: int, stalls: bool) -> None:
    rng = np.random.default_rng(n * 10 + lanes)
    vecs = _vectors(rng, 12, n)
    b = beats(n, lanes)
    padded = np.concatenate([vecs, rng.integers(-8, 8, (12, b * lanes - n))], axis=1)  # junk in padding
    beat_list = padded.reshape(12 * b, lanes)
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    run = run_streams(Deserializer(signed(4), n, lanes), beat_list, 12, seed=n, **kw)
    assert np.array_equal(np.array(run.outputs), vecs)
    if not stalls:
        assert run.output_cycles[0] - run.accept_cycles[0] == b
        assert np.all(np.diff(run.output_cycles) == b)  # II = beats


@pytest.mark.parametrize(("n", "lanes"), CASES)
@pytest.mark.parametrize("stalls", [False, True])
def test_serializer(n: int, lanes: int, stalls: bool) -> None:
    rng = np.random.default_rng(n * 10 + lanes)
    vecs = rng.integers(0, 16, (12, n))
    b = beats(n, lanes)
    kw = {"gaps": 0.3, "backpressure": 0.4} if stalls else {}
    dut = Serializer(unsigned(4), n, lanes)
    run = run_streams(dut, vecs, 12 * b, seed=n, **kw)
    got = np.array(run.outputs).reshape(12, b * lanes)
    assert np.array_equal(got[:, :n], vecs)
    assert np.all(got[:, n:] == 0)  # padding lanes are zero
    if not stalls:
        assert run.output_cycles[0] - run.accept_cycles[0] == dut.latency
        assert np.all(np.diff(run.output_cycles) == 1)
        # the second vector waits in the serializer's next-vector register; then one per beats
        assert np.all(np.diff(run.accept_cycles)[1:] == b)  # II = beats


def test_beats() -> None:
    assert [beats(n, 4) for n in (1, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        beats(0, 4)
