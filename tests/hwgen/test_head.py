"""The argmax head in Amaranth's simulator: the class index of golden.predict, ties to the lowest."""

import itertools

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from streamsim import run_streams

from hwgen.head import ArgmaxHead, check_head, index_bits
from zerogate.errors import UnsupportedError


@pytest.mark.parametrize(("n", "shape"), [(2, signed(2)), (3, unsigned(2)), (5, signed(2)), (7, signed(3))])
def test_argmax_every_vector_ties_to_lowest(n: int, shape) -> None:
    """Every vector of n small integers (ties everywhere), or 4000 random ones when that is too many."""
    w = shape.width
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if shape.signed else (0, 2**w - 1)
    vals = range(lo, hi + 1)
    if len(vals) ** n <= 4096:
        x = np.array(list(itertools.product(vals, repeat=n)))
    else:
        x = np.random.default_rng(n).integers(lo, hi + 1, (4000, n))
    run = run_streams(ArgmaxHead(shape, n), x, len(x), seed=n, gaps=0.2, backpressure=0.3)
    got = np.array(run.outputs).reshape(-1)
    assert np.array_equal(got, np.argmax(x, axis=1))  # numpy: first maximum
    assert (np.sum(x == x.max(axis=1, keepdims=True), axis=1) > 1).any()  # ties were exercised


@pytest.mark.parametrize(("n", "bits"), [(2, 1), (3, 2), (4, 2), (5, 3), (10, 4), (16, 4), (17, 5)])
def test_index_width(n: int, bits: int) -> None:
    assert index_bits(n) == bits


@pytest.mark.parametrize(("head", "n", "match"), [
    ("argmax", 1, "--head argmax needs at least 2 outputs, the network has 1; leave --head out"),
    ("softmax", 4, "head 'softmax' is not one of none, argmax; use --head argmax"),
])
def test_bad_heads_are_refused(head: str, n: int, match: str) -> None:
    with pytest.raises(UnsupportedError) as e:
        check_head(head, n)
    assert match in str(e.value) and "\n" not in str(e.value)
