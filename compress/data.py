"""The data sets, all without downloads: scikit-learn's bundled 8x8 digits (flat or as images)
and a synthetic keyword-spotting-like 1-D set that this module generates itself.

Pixels are integers 0..16, so with the network input format ``u5.4`` (5 bits, 4 fractional) the
raw pixel IS the input integer and ``pixel / 16`` is its exact real value: training, the golden
model and the RTL all see the same numbers with no input rounding at all. Torch-free, so the
hardware tests can load the test vectors without importing torch.

Every set is a :class:`Dataset` of input integers in its own input format, so the training
inputs are exactly the values the hardware will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zerogate.fixedpoint import FixedFormat, quantize_real

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


@dataclass(frozen=True)
class Dataset:
    """A train/test split of input integers ``[n, *shape]`` in ``input_format``, with labels."""

    name: str
    train_int: np.ndarray  # int64 [n_train, *shape]
    y_train: np.ndarray  # int64 [n_train]
    test_int: np.ndarray  # int64 [n_test, *shape]
    y_test: np.ndarray  # int64 [n_test]
    input_format: FixedFormat
    n_classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape, channels first."""
        return tuple(self.train_int.shape[1:])

    @property
    def x_train(self) -> np.ndarray:
        """float32 real values of the training integers (exact: the scale is a power of two)."""
        return (self.train_int * self.input_format.scale).astype(np.float32)

    @property
    def x_test(self) -> np.ndarray:
        return (self.test_int * self.input_format.scale).astype(np.float32)


def load_digits_flat(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The digits split as 64 features per sample (the MLP's view)."""
    s = load_digits_split(seed, test_fraction)
    return Dataset("sklearn-digits", s.train_int, s.y_train, s.test_int, s.y_test, INPUT_FORMAT, N_CLASSES)


def load_digits_images(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The same split as :func:`load_digits_split`, as ``[n, 1, 8, 8]`` images (the CNN's view)."""
    s = load_digits_split(seed, test_fraction)
    return Dataset("sklearn-digits-images", s.train_int.reshape(-1, 1, 8, 8), s.y_train,
                   s.test_int.reshape(-1, 1, 8, 8), s.y_test, INPUT_FORMAT, N_CLASSES)


#: Keyword-spotting-like set: input format (signed, 8 bits, 5 fractional: range +-4).
KWS_FORMAT = FixedFormat(bits=8, frac=5, signed=True)
KWS_CLASSES = ("rising", "falling", "low", "high", "double", "background")
KWS_LENGTH = 64
KWS_CHANNELS = 2


def _kws_example(rng: np.random.Generator, label: int, noise: float) -> np.ndarray:
    """One ``[2, 64]`` clip: a windowed event of class ``label`` at a random time, seen by two
    microphones with independent noise, gains and a 0-2 sample delay.
    """
    n = KWS_LENGTH
    dur = int(rng.integers(24, 41))
    start = int(rng.integers(0, n - dur + 1))
    jitter = rng.uniform(0.85, 1.15)
    if label == 0:  # rising chirp
        f = np.linspace(0.05, 0.22, dur) * jitter
    elif label == 1:  # falling chirp
        f = np.linspace(0.22, 0.05, dur) * jitter
    elif label == 2:  # low tone
        f = np.full(dur, 0.07 * jitter)
    elif label in (3, 4):  # high tone; double burst = a mid tone, gated twice
        f = np.full(dur, (0.2 if label == 3 else 0.13) * jitter)
    else:
        f = np.zeros(dur)
    phase = 2 * np.pi * np.cumsum(f) + rng.uniform(0, 2 * np.pi)
    env = np.hanning(dur)
    if label == 4:
        gap = dur // 3
        env = np.concatenate([np.hanning(gap), np.zeros(dur - 2 * gap), np.hanning(gap)])
    event = np.zeros(n)
    if label != 5:
        event[start:start + dur] = rng.uniform(0.6, 1.2) * env * np.sin(phase)
    hum = 0.3 * rng.uniform() * np.sin(2 * np.pi * 0.015 * np.arange(n) + rng.uniform(0, 2 * np.pi))
    delay = int(rng.integers(0, 3))
    ch0 = event + hum + noise * rng.standard_normal(n)
    ch1 = rng.uniform(0.5, 1.0) * np.roll(event, delay) + hum + noise * rng.standard_normal(n)
    return np.stack([ch0, ch1])


def make_kws(seed: int = 0, n_train: int = 1500, n_test: int = 500, noise: float = 0.45) -> Dataset:
    """Synthetic keyword spotting: six classes of chirp/tone/burst events (or background only)
    with random onset, duration, pitch, gain, hum and noise, as two channels x 64 samples in
    :data:`KWS_FORMAT`. Deterministic in ``seed`` (numpy PCG64); train and test are drawn from
    independent streams. The noise makes it non-trivial: a small float CNN gets ~90 %, not 100 %.
    """
    k = len(KWS_CLASSES)

    def draw(stream: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([seed, stream])
        y = np.arange(count) % k
        rng.shuffle(y)
        x = np.stack([_kws_example(rng, int(c), noise) for c in y])
        return quantize_real(x, KWS_FORMAT), y.astype(np.int64)

    xtr, ytr = draw(0, n_train)
    xte, yte = draw(1, n_test)
    return Dataset("synthetic-kws", xtr, ytr, xte, yte, KWS_FORMAT, k)
