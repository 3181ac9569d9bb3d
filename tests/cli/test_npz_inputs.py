"""A user's ``.npz`` (test vectors, a model's data) is read only after its ``.npy`` headers are
checked: a small file that declares huge arrays, or whose member sizes disagree with their headers,
is refused with one line and little memory, before any array is allocated."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_catalogue import assert_one_line_error, snapshot, tiny_net
from tests.irfiles import PEAK_LIMIT_MB, npy_header, peak_rss_mb
from zerogate import ir

_ZEROS = 300 * 2**20  # deflates to ~0.3 MB


def _npz(path: Path, members: dict[str, tuple[bytes, int]]) -> None:
    """An .npz whose members are a hand-written header followed by ``n`` zero bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, (header, n) in members.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fp:
                fp.write(header)
                chunk = bytes(2**20)
                for _ in range(n // len(chunk)):
                    fp.write(chunk)
                fp.write(bytes(n % len(chunk)))


def _forged(path: Path) -> None:
    """x declares 8 GB of int64 over 300 MB of zeros: its size disagrees with its header."""
    _npz(path, {"x": (npy_header("<i8", (100_000, 10_000)), _ZEROS)})


def _huge(path: Path) -> None:
    """x honestly holds 3 GiB of zeros, over the 2 GiB limit (~3 MB on disk)."""
    shape = (3 * 2**30 // 8 // 8, 8)
    _npz(path, {"x": (npy_header("<i8", shape), 3 * 2**30)})


def _object(path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([None, 1], dtype=object), allow_pickle=True)
    raw = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", raw)


CASES = {
    "forged-header": (_forged, "holds 314572928 bytes, its header declares"),
    "over-the-limit": (_huge, "over the 2 GiB limit"),
    "object-array": (_object, "holds objects"),
}


@pytest.mark.parametrize("case", CASES)
def test_simulate_refuses_a_bad_vectors_file_before_reading_it(case: str, tmp_path: Path) -> None:
    make, problem = CASES[case]
    ir.save(tiny_net(), tmp_path / "ir")
    (tmp_path / "rtl").mkdir()  # never reached: the vectors are read first
    make(tmp_path / "x.npz")
    before = snapshot(tmp_path)
    args = ["simulate", "ir", "--rtl", "rtl", "--vectors", "x.npz", "--out", "out"]
    rc, _, stderr, peak = peak_rss_mb([sys.executable, "-m", "zerogate", *args], tmp_path)
    assert_one_line_error(rc, stderr, problem, "expected an .npz" if case != "over-the-limit" else
                          "pass a subset of the samples")
    assert peak < PEAK_LIMIT_MB, f"{peak:.0f} MB to refuse it"
    assert snapshot(tmp_path) == before


def test_compress_refuses_a_forged_data_file_before_reading_it(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import torch.nn as nn\n\ndef net():\n    return nn.Linear(4, 3)\n")
    _npz(tmp_path / "d.npz", {"x_train": (npy_header("<f4", (10**9, 4)), _ZEROS),
                             "y_train": (npy_header("<i8", (10,)), 80)})
    before = snapshot(tmp_path)
    args = ["compress", "--model", "m.py:net", "--data", "d.npz", "--out", "out"]
    rc, _, stderr, peak = peak_rss_mb([sys.executable, "-m", "zerogate", *args], tmp_path)
    assert_one_line_error(rc, stderr, "its header declares", "np.savez")
    assert peak < PEAK_LIMIT_MB + 300, f"{peak:.0f} MB to refuse it"  # torch itself is ~300 MB resident
    assert snapshot(tmp_path) == before
