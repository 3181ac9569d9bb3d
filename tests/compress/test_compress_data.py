"""The digits split: seeded, stratified, and the pixel integers are the input integers."""

import numpy as np

from compress.data import INPUT_FORMAT, digits_test_vectors, load_digits_split


def test_split_is_stratified_seeded_and_exact() -> None:
    s = load_digits_split(0)
    assert len(s.test_int) + len(s.train_int) == 1797
    assert 440 <= len(s.test_int) <= 460
    counts = np.bincount(s.y_test, minlength=10)
    assert counts.min() >= 40 and counts.max() <= 50
    assert s.test_int.dtype == np.int64 and s.y_test.dtype == np.int64
    assert INPUT_FORMAT.min_int <= s.test_int.min() and s.test_int.max() <= INPUT_FORMAT.max_int
    assert np.array_equal(s.x_test.astype(np.float64) * 16, s.test_int)  # pixel/16 is exact
    x, y = digits_test_vectors(0)
    assert np.array_equal(x, s.test_int) and np.array_equal(y, s.y_test)
    assert not np.array_equal(digits_test_vectors(1)[0], x)
