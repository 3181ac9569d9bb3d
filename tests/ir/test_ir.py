"""IR round trip, determinism, and every way a bad IR must be refused with a clear error."""

import json
from pathlib import Path

import numpy as np
import pytest

from zerogate import golden, ir
from zerogate.errors import IRError
from zerogate.fixedpoint import FixedFormat


def test_round_trip_is_exact(small_net: ir.Network, tmp_path: Path) -> None:
    ir.save(small_net, tmp_path / "m")
    back = ir.load(tmp_path / "m")
    for a, b in zip(small_net.layers, back.layers, strict=True):
        for f in ("weight", "bias", "weight_bits", "weight_frac", "shift"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
        assert (a.input, a.output, a.activation, a.rounding) == (b.input, b.output, b.activation, b.rounding)
    x = np.random.default_rng(0).integers(0, 32, (50, 12))
    assert np.array_equal(golden.run(small_net, x), golden.run(back, x))
    assert back.metadata == {"origin": "test"}


def test_save_is_byte_deterministic(small_net: ir.Network, tmp_path: Path) -> None:
    ir.save(small_net, tmp_path / "a")
    ir.save(small_net, tmp_path / "b")
    for f in (ir.MANIFEST, ir.WEIGHTS):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_save_replaces_atomically(small_net: ir.Network, tmp_path: Path) -> None:
    ir.save(small_net, tmp_path / "m")
    ir.save(small_net, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def _edit_manifest(path: Path, fn) -> None:
    m = json.loads((path / ir.MANIFEST).read_text())
    fn(m)
    (path / ir.MANIFEST).write_text(json.dumps(m))


def _rewrite_weights(path: Path, key: str, value: np.ndarray) -> None:
    """Tamper with one array and re-sign the file, so only the range check can catch it."""
    import hashlib

    with np.load(path / ir.WEIGHTS) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = value
    blob = ir._npz_bytes({k.removesuffix(".npy"): v for k, v in arrays.items()})
    (path / ir.WEIGHTS).write_bytes(blob)
    _edit_manifest(path, lambda m: m.update(weights_sha256=hashlib.sha256(blob).hexdigest()))


BAD_CASES = {
    "wrong schema version": (lambda p: _edit_manifest(p, lambda m: m.update(schema_version=99)),
                             "schema version 99"),
    "not json": (lambda p: (p / ir.MANIFEST).write_text("{oops"), "not valid JSON"),
    "missing manifest": (lambda p: (p / ir.MANIFEST).unlink(), "no manifest.json"),
    "missing weights": (lambda p: (p / ir.WEIGHTS).unlink(), "weight file missing"),
    "truncated npz": (lambda p: (p / ir.WEIGHTS).write_bytes((p / ir.WEIGHTS).read_bytes()[:40]),
                      "checksum mismatch"),
    "checksum mismatch": (lambda p: _edit_manifest(p, lambda m: m.update(weights_sha256="0" * 64)),
                          "checksum mismatch"),
    "weight outside width": (lambda p: _rewrite_weights(p, "fc0.weight", np.full((6, 12), 9)),
                             "does not fit its declared 4-bit width"),
    "nan weight": (lambda p: _rewrite_weights(p, "fc0.weight", np.full((6, 12), np.nan)), "dtype float64"),
    "shape mismatch": (lambda p: _rewrite_weights(p, "fc1.weight", np.zeros((3, 7), dtype=np.int64)),
                       "shape (3, 7)"),
    "bit-width 1": (lambda p: _rewrite_weights(p, "fc0.weight_bits", np.full(6, 1)), "bit-width 1"),
    "bit-width 0": (lambda p: _rewrite_weights(p, "fc0.weight_bits", np.full(6, 0)), "bit-width 0"),
    "bit-width 17": (lambda p: _rewrite_weights(p, "fc0.weight_bits", np.full(6, 17)), "bit-width 17"),
    "unknown kind": (lambda p: _edit_manifest(p, lambda m: m["layers"][0].update(kind="lstm")),
                     "'lstm' is not one of"),
    "layers do not chain": (lambda p: (_rewrite_weights(p, "fc1.weight", np.zeros((3, 5), dtype=np.int64)),
                                       _edit_manifest(p, lambda m: m["layers"][1].update(in_features=5))),
                            "takes 5 inputs"),
    "format/shift disagree": (lambda p: _edit_manifest(
        p, lambda m: m["layers"][0]["output"].update(frac=2)), "shift"),
    "missing field": (lambda p: _edit_manifest(p, lambda m: m["layers"][0].pop("rounding")),
                      "missing field 'rounding'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_ir_is_refused_with_one_line(case: str, small_net: ir.Network, tmp_path: Path) -> None:
    corrupt, needle = BAD_CASES[case]
    ir.save(small_net, tmp_path / "m")
    corrupt(tmp_path / "m")
    with pytest.raises(IRError) as e:
        ir.load(tmp_path / "m")
    msg = str(e.value)
    assert needle in msg
    assert "\n" not in msg


def test_acc_bounds_are_tight_and_sufficient(small_net: ir.Network) -> None:
    layer = small_net.layers[0]
    lo, hi = layer.acc_bounds()
    fmt: FixedFormat = layer.input
    x_hi = np.where(layer.weight > 0, fmt.max_int, fmt.min_int)  # input that maximises each channel
    assert np.array_equal((x_hi * layer.weight).sum(1) + layer.bias, hi)
    x_rand = np.random.default_rng(0).integers(fmt.min_int, fmt.max_int + 1, (500, layer.in_features))
    acc = golden.trace(small_net, x_rand)[0].acc
    assert (acc >= lo).all() and (acc <= hi).all()
