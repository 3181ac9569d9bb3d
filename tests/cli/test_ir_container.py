"""The IR container's rules, through the real CLI: ``zerogate generate IR --out out`` on an IR
that reaches outside its folder, holds a bad name or array, or declares a huge array.

Each row must exit non-zero with one ``zerogate:`` line on stderr naming the problem and the fix,
no traceback, nothing written, and a peak resident memory under the limit.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_catalogue import assert_one_line_error, snapshot, tiny_net
from tests.irfiles import PEAK_LIMIT_MB, edit_manifest, huge_header, huge_layer, peak_rss_mb, set_array
from zerogate import ir


def _outside(f: Path) -> None:
    (f.parent / "x").mkdir()
    shutil.copyfile(f / ir.WEIGHTS, f.parent / "x" / "w.npz")  # a valid file: only the rule refuses it
    edit_manifest(f, lambda m: m.update(weights_file="../x/w.npz"))


def _link_out(f: Path) -> None:
    (f.parent / "x").mkdir()
    (f / ir.WEIGHTS).rename(f.parent / "x" / "w.npz")
    (f / ir.WEIGHTS).symlink_to(f.parent / "x" / "w.npz")


ROWS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "weights in a parent folder": (_outside, "weights_file '../x/w.npz' is not a plain file name",
                                   "name a file beside manifest.json"),
    "weights linked from outside": (_link_out, "weights_file 'weights.npz' is not a plain file name",
                                    "re-export the IR"),
    "newline in the network name": (lambda f: edit_manifest(f, lambda m: m.update(name="n\ncore: x")),
                                    "network name 'n\\ncore: x' is not an identifier", "rename it"),
    "quote in a layer name": (lambda f: edit_manifest(f, lambda m: m["layers"][0].update(name='a"b')),
                              "layer name 'a\"b' is not an identifier", "re-export"),
    "float weights": (lambda f: set_array(f, "fc0.weight", np.zeros((4, 8))), "has dtype float64",
                      "re-export"),
    "object weights": (lambda f: set_array(f, "fc0.weight", np.zeros((4, 8), dtype=object)),
                       "has dtype object", "re-export"),
    "uint64 beyond int64": (lambda f: set_array(f, "fc0.bias", np.full(4, 2**64 - 1, dtype=np.uint64)),
                            "beyond 64-bit signed integers", "re-export"),
    "header declares 8 GB": (huge_header, "declares 8000000000 bytes", "re-export a smaller model"),
    "huge layer of zeros": (huge_layer, "declares 288000000 bytes", "re-export a smaller model"),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_generate_refuses_a_bad_ir_container(row: str, tmp_path: Path) -> None:
    spoil, problem, fix = ROWS[row]
    spoil(ir.save(tiny_net(), tmp_path / "ir"))
    before = snapshot(tmp_path)
    rc, _, stderr, peak = peak_rss_mb([sys.executable, "-m", "zerogate", "generate", "ir", "--out", "out"],
                                      tmp_path)
    assert_one_line_error(rc, stderr, problem, fix)
    assert snapshot(tmp_path) == before, "the failed command left files behind"
    assert peak < PEAK_LIMIT_MB, f"peak resident memory {peak:.0f} MB"
