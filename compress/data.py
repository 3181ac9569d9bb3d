"""The embedded default data set: scikit-learn's bundled 8x8 digits (no download).

Pixels are integers 0..16, so with the network input format ``u5.4`` (5 bits, 4 fractional) the
raw pixel IS the input integer and ``pixel / 16`` is its exact real value: training, the golden
model and the RTL all see the same numbers with no input rounding at all. Torch-free, so the
hardware tests can load the test vectors without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerogate.fixedpoint import FixedFormat

#: Network input format: pixel integers 0..16 at scale 2**-4 (16 needs the fifth bit).
INPUT_FORMAT = FixedFormat(bits=5, frac=4, signed=False)
N_FEATURES = 64
N_CLASSES = 10


@dataclass(frozen=True)
class DigitsSplit:
    """A seeded stratified train/test split; ``*_int`` are input integers, ``x_*`` their real values."""

    train_int: np.ndarray  # int64 [n_train, 64], 0..16
    y_train: np.ndarray  # int64 [n_train]
    test_int: np.ndarray  # int64 [n_test, 64]
    y_test: np.ndarray  # int64 [n_test]

    @property
    def x_train(self) -> np.ndarray:
        """float32 features pixel/16 in [0, 1] (exact: the scale is a power of two)."""
        return (self.train_int * INPUT_FORMAT.scale).astype(np.float32)

    @property
    def x_test(self) -> np.ndarray:
        return (self.test_int * INPUT_FORMAT.scale).astype(np.float32)


def _stratified_indices(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class shuffled split with numpy's PCG64, so it never depends on the sklearn version."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> DigitsSplit:
    """Load digits and split it; same ``seed`` and fraction -> identical split on every machine."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.asarray(d.data).astype(np.int64)
    y = np.asarray(d.target).astype(np.int64)
    if x.min() < INPUT_FORMAT.min_int or x.max() > INPUT_FORMAT.max_int:  # pragma: no cover
        raise AssertionError("digits pixels left 0..16; the input format no longer fits")
    tr, te = _stratified_indices(y, test_fraction, seed)
    return DigitsSplit(train_int=x[tr], y_train=y[tr], test_int=x[te], y_test=y[te])


def digits_test_vectors(seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """The test split as (int64 input integers in ``INPUT_FORMAT`` [n, 64], int64 labels [n])."""
    s = load_digits_split(seed, test_fraction)
    return s.test_int, s.y_test
