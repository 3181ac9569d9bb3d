"""A user's data set, checked and turned into what the methods train on.

Inputs are real values; the network input format is chosen from the whole training set
(:func:`zerogate.fixedpoint.format_for`) unless the user sets one, and every real input becomes
an integer through one function, :func:`zerogate.fixedpoint.quantize_real` (round half up,
saturate): the test vectors the golden model and the Verilator testbench see, and, in PyTorch,
the network's input quantizer applies the same rule. How many values saturate is counted and
reported. Every problem (shapes, dtypes, label ranges, NaN) is one line naming it and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compress.methods.common import Data
from zerogate.errors import ConfigError, UserError
from zerogate.fixedpoint import FixedFormat, count_clipped, format_for, quantize_real
from zerogate.vectors import read_npz

__all__ = ["SPLITS", "load_npz", "make_data"]

#: The arrays a data set holds (validation optional).
SPLITS = ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val")


def _numpy(a: Any, what: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise UserError(f"{what} is not an array ({type(e).__name__}); pass a numpy array or tensor"
                        ) from None


def from_loader(loader: Iterable[Any], what: str) -> tuple[np.ndarray, np.ndarray]:
    """All ``(x, y)`` batches of a DataLoader (or any iterable of pairs), concatenated."""
    xs, ys = [], []
    for k, batch in enumerate(loader):
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            raise UserError(f"{what}: batch {k} is a {type(batch).__name__}; the loader must yield "
                            "(x, y) pairs")
        xs.append(_numpy(batch[0], f"{what} x"))
        ys.append(_numpy(batch[1], f"{what} y"))
    if not xs:
        raise UserError(f"{what} is empty; it must yield at least one (x, y) batch")
    try:
        return np.concatenate(xs), np.concatenate(ys)
    except ValueError as e:
        raise UserError(f"{what}: batches of different sample shapes ({e}); give every sample one "
                        "shape") from None


def _check_pair(x: np.ndarray, y: np.ndarray, split: str, sample: tuple[int, ...] | None) -> None:
    xn, yn = f"x_{split}", f"y_{split}"
    if x.ndim < 2:
        raise UserError(f"{xn} has shape {x.shape}: expected a batch [n, *sample_shape], e.g. [n, features] "
                        f"(one sample? use x[None])")
    if sample is not None and tuple(x.shape[1:]) != sample:
        raise UserError(f"{xn} has samples of shape {tuple(x.shape[1:])}, x_train's are {sample}; "
                        "every split needs the same sample shape")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{xn} has dtype {x.dtype}; expected real numbers (float) or integers")
    if not np.all(np.isfinite(x)):
        raise UserError(f"{xn} contains NaN or infinity; clean the data first")
    if len(x) == 0:
        raise UserError(f"{xn} is empty; every split needs at least one sample")
    if y.ndim != 1:
        raise UserError(f"{yn} has shape {y.shape}; expected class labels of shape ({len(x)},) "
                        "(one-hot? use y.argmax(1))")
    if len(y) != len(x):
        raise UserError(f"{yn} has {len(y)} labels for {len(x)} samples in {xn}; give one label per sample")
    if y.dtype.kind not in "iu":
        raise UserError(f"{yn} has dtype {y.dtype}; labels must be integer class indices (y.astype(int))")
    if y.min() < 0:
        raise UserError(f"{yn} has a negative label ({int(y.min())}); labels are class indices 0..classes-1")


def make_data(arrays: dict[str, Any], *, input_format: FixedFormat | None = None,
              name: str = "user-data") -> Data:
    """:class:`Data` from ``x_train, y_train, x_test, y_test`` (and optionally ``x_val, y_val``):
    arrays, tensors, or per split a DataLoader under ``x_<split>`` with ``y_<split>`` None."""
    got: dict[str, np.ndarray] = {}
    for split in ("train", "test", "val"):
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if x is None and y is None and split == "val":
            continue
        if x is None:
            raise UserError(f"no x_{split}; the data needs x_train, y_train, x_test, y_test "
                            "(x_val, y_val optional)")
        if y is None:
            if isinstance(x, np.ndarray | torch.Tensor):
                raise UserError(f"no y_{split} for x_{split}; give the labels (or a DataLoader of (x, y))")
            x, y = from_loader(x, f"x_{split}")
        xa, ya = _numpy(x, f"x_{split}"), _numpy(y, f"y_{split}")
        _check_pair(xa, ya, split, tuple(got["x_train"].shape[1:]) if "x_train" in got else None)
        got[f"x_{split}"], got[f"y_{split}"] = xa.astype(np.float64), ya.astype(np.int64)
    fmt = input_format or format_for(got["x_train"])
    clipped = sum(count_clipped(got[k], fmt) for k in ("x_train", "x_test", "x_val") if k in got)

    def real(k: str) -> torch.Tensor:
        return torch.from_numpy(got[k].astype(np.float32))

    val = "x_val" in got
    return Data(name, real("x_train"), torch.from_numpy(got["y_train"]), real("x_test"),
                torch.from_numpy(got["y_test"]), quantize_real(got["x_test"], fmt), got["y_test"], fmt,
                clipped=clipped, val_int=quantize_real(got["x_val"], fmt) if val else None,
                val_labels=got["y_val"] if val else None)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a data ``.npz`` (``x_train, y_train, x_test, y_test``, optionally ``x_val, y_val``)."""
    arrays = read_npz(path, "save one with np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...)",
                      "save it with np.savez", ConfigError)
    unknown = sorted(set(arrays) - set(SPLITS))
    missing = [k for k in SPLITS[:4] if k not in arrays]
    if missing or unknown:
        raise ConfigError(f"{path}: " + (f"missing {', '.join(missing)}" if missing else
                                         f"unknown array {unknown[0]!r}") +
                          f"; a data file holds {', '.join(SPLITS[:4])} (x_val, y_val optional)")
    return arrays
