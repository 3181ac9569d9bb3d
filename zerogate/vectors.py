"""Test vectors for an IR: a user's ``.npz`` checked against the network, or generated stimulus.

A build from an IR needs vectors of that IR's own data set to claim an accuracy. Without them
it runs :func:`stimulus` (seeded random inputs plus the worst-case corners) to check the RTL
against the golden model bit for bit, and claims no accuracy: borrowing another model's data
set would report a number that means nothing.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from zerogate import golden
from zerogate.errors import UserError
from zerogate.ir import Layer, Network
from zerogate.ir.archive import read_npy_header

__all__ = ["load_vectors", "read_npz", "stimulus", "worst_case_inputs"]

#: Random vectors :func:`stimulus` adds to the corners.
N_RANDOM = 200


#: Most bytes the arrays of a user's ``.npz`` (data, vectors) may declare: far above any data set a
#: model small enough for an FPGA trains on, far below what would exhaust the machine.
MAX_NPZ_BYTES = 2 * 2**30


def npz_declared_bytes(path: Path) -> int:
    """The bytes the arrays of the ``.npz`` at ``path`` declare in their ``.npy`` headers, read
    without reading any data; raises ``ValueError`` if a member is not a plain ``.npy`` array or its
    size differs from what its header declares (a forged header cannot make :func:`read_npz` allocate)."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as fp:
                shape, _, dtype, offset = read_npy_header(fp)
            if dtype.hasobject or any(n < 0 for n in shape):
                raise ValueError(f"{info.filename} holds objects or a negative shape")
            nbytes = math.prod(shape) * dtype.itemsize
            if info.file_size != offset + nbytes:
                raise ValueError(f"{info.filename} holds {info.file_size} bytes, its header declares "
                                 f"{offset + nbytes}")
            total += nbytes
    return total


def read_npz(path: Path, missing: str, expected: str,
             error: type[UserError] = UserError) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles); a missing or unreadable file is one
    ``error`` line ending in ``missing`` (what to pass instead) or ``expected`` (what it must hold).
    The headers are checked first, so a small file that declares huge arrays allocates nothing."""
    try:
        declared = npz_declared_bytes(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file; {missing}") from None
    except Exception as e:  # any decode failure is the same user problem
        detail = " ".join(str(e).split())
        raise error(f"{path}: not a readable .npz ({type(e).__name__}: {detail}); {expected}") from None
    if declared > MAX_NPZ_BYTES:
        raise error(f"{path}: its arrays declare {declared / 2**30:.1f} GiB, over the "
                    f"{MAX_NPZ_BYTES // 2**30} GiB limit; pass a subset of the samples")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise error(f"{path}: no such file; {missing}") from None
    except Exception as e:  # any decode failure is the same user problem
        raise error(f"{path}: not a readable .npz ({type(e).__name__}); {expected}") from None


def load_vectors(path: Path, net: Network) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (input integers of ``net``'s input format) and, if present, the labels ``y`` from ``path``."""
    arrays = read_npz(path, "pass the testset.npz that 'zerogate compress' wrote beside the IR",
                      "expected an integer array 'x' (and labels 'y')")
    if "x" not in arrays:
        raise UserError(f"{path}: no array 'x'; expected input integers x[n, ...] (and labels y[n])")
    x = golden.check_input(net, arrays["x"])
    y = arrays.get("y")
    if y is not None and (y.shape != (len(x),) or y.dtype.kind not in "iu"):
        raise UserError(f"{path}: labels y have shape {y.shape} and dtype {y.dtype}; expected integers "
                        f"of shape ({len(x)},), one per vector")
    return x, None if y is None else y.astype(np.int64)


def worst_case_inputs(net: Network) -> np.ndarray:
    """Inputs at the corners: all-min, all-max, zero, alternating, and per first-layer channel the
    sign pattern that maximises and the one that minimises its accumulator (``acc_bounds`` exactly)
    when that layer is dense.

    Deeper layers are driven to their extremes through the first layer's saturated outputs.
    """
    lo, hi, k = net.input.min_int, net.input.max_int, net.in_features
    alt = np.arange(k) % 2 == 1
    rows = [np.full(k, lo), np.full(k, hi), np.zeros(k, dtype=np.int64), np.where(alt, lo, hi),
            np.where(alt, hi, lo)]
    first = net.layers[0]
    if isinstance(first, Layer) and not first.is_conv:  # a convolution's extremes differ per position
        for w in first.weight_matrix():
            rows += [np.where(w > 0, hi, lo), np.where(w > 0, lo, hi)]
    return np.unique(np.array(rows, dtype=np.int64).reshape(-1, k), axis=0)


def stimulus(net: Network, seed: int = 0, n_random: int = N_RANDOM) -> np.ndarray:
    """The worst-case corners, then ``n_random`` seeded uniform vectors, shaped ``[n, *in_shape]``."""
    rng = np.random.default_rng(seed)
    lo, hi = net.input.min_int, net.input.max_int
    rand = rng.integers(lo, hi + 1, (n_random, net.in_features), dtype=np.int64)
    x = np.concatenate([worst_case_inputs(net), rand])
    return x.reshape(len(x), *net.in_shape)
