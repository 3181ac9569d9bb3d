"""The IR folder as a closed container: file names, identifiers, array headers and size caps.

Every bad folder must raise a one-line :class:`IRError` naming the problem and the fix, read
nothing outside the folder, and read no array whose header disagrees with the manifest or the caps.
"""

from __future__ import annotations

import shutil
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.irfiles import (
    PEAK_LIMIT_MB,
    arrays,
    edit_manifest,
    huge_header,
    huge_layer,
    npy_header,
    peak_rss_mb,
    set_array,
    sign,
    write_weights,
)
from zerogate import bundle, ir
from zerogate.errors import IRError

OUTSIDE = "is not a plain file name in the IR folder"


def refusal(folder: Path) -> str:
    with pytest.raises(IRError) as e:
        ir.load(folder)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 500, msg
    return msg


@pytest.fixture
def folder(small_net: ir.Network, tmp_path: Path) -> Path:
    """A valid IR in ``tmp_path/m``, with a copy of its files in ``tmp_path/valid``."""
    ir.save(small_net, tmp_path / "valid")
    return ir.save(small_net, tmp_path / "m")


# ---- file names ----------------------------------------------------------------------------------

Spoil = Callable[[Path, Path], None]


def _weights_file(value: str) -> Spoil:
    return lambda f, target: edit_manifest(f, lambda m: m.update(weights_file=value.format(target=target)))


def _link(name: str) -> Spoil:
    def spoil(f: Path, target: Path) -> None:
        (f / name).unlink()
        (f / name).symlink_to(target)
    return spoil


# case: (spoil, where its target lies relative to tmp_path, the valid file that the target gets)
ESCAPES: dict[str, tuple[Spoil, str, str]] = {
    "parent": (_weights_file("../x/w.npz"), "x/w.npz", ir.WEIGHTS),
    "absolute": (_weights_file("{target}"), "x/w.npz", ir.WEIGHTS),
    "subfolder": (_weights_file("sub/w.npz"), "m/sub/w.npz", ir.WEIGHTS),
    "backslash": (_weights_file("sub\\w.npz"), "m/sub\\w.npz", ir.WEIGHTS),
    "weights link out": (_link(ir.WEIGHTS), "x/w.npz", ir.WEIGHTS),
    "manifest link out": (_link(ir.MANIFEST), "x/manifest.json", ir.MANIFEST),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_a_file_outside_the_folder_is_refused_whether_or_not_it_exists(case: str, folder: Path) -> None:
    """The target becomes a valid copy of the file, so without the check the IR would load."""
    spoil, where, valid = ESCAPES[case]
    target = folder.parent / where
    spoil(folder, target)
    absent = refusal(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder.parent / "valid" / valid, target)
    assert refusal(folder) == absent
    assert OUTSIDE in absent and "re-export the IR with `zerogate compress`" in absent


@pytest.mark.parametrize("value", ["", ".", "..", "w\nx.npz", "w\0.npz", ".hidden", "x" * 200, 7, None])
def test_a_weights_file_that_is_no_plain_name_is_refused(value: object, folder: Path) -> None:
    edit_manifest(folder, lambda m: m.update(weights_file=value))
    assert OUTSIDE in refusal(folder)


def test_a_link_inside_the_folder_is_followed(folder: Path) -> None:
    (folder / ir.WEIGHTS).rename(folder / "real.npz")
    (folder / ir.WEIGHTS).symlink_to("real.npz")
    assert ir.load(folder).name == "small"


# ---- names ---------------------------------------------------------------------------------------

BAD_NAMES = {"newline": "net\nkey: value", "quote": 'net"x', "slash": "a/b", "unicode": "nét",
             "10k chars": "n" * 10_000, "empty": "", "digit first": "1net", "space": "a b", "dot": "a.b",
             "65 chars": "n" * 65, "not a string": 12}


@pytest.mark.parametrize("case", list(BAD_NAMES))
@pytest.mark.parametrize("whose", ["network", "layer"])
def test_a_bad_name_is_refused_on_load(whose: str, case: str, folder: Path) -> None:
    bad = BAD_NAMES[case]
    edit_manifest(folder, lambda m: (m if whose == "network" else m["layers"][1]).update(name=bad))
    msg = refusal(folder)
    assert f"{whose} name" in msg and "is not an identifier" in msg and "re-export" in msg


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_a_bad_name_is_refused_on_construction_and_save(case: str, small_net: ir.Network,
                                                        tmp_path: Path) -> None:
    bad = BAD_NAMES[case]
    with pytest.raises(IRError, match="network name .* is not an identifier"):
        ir.Network(name=bad, input=small_net.input, in_features=12, layers=small_net.layers)
    object.__setattr__(small_net, "name", bad)  # past the constructor's check
    with pytest.raises(IRError, match="network name .* is not an identifier"):
        ir.save(small_net, tmp_path / "m")
    assert not any(tmp_path.iterdir())
    object.__setattr__(small_net, "name", "ok")
    object.__setattr__(small_net.layers[0], "name", bad)
    with pytest.raises(IRError, match="layer name .* is not an identifier"):
        ir.save(small_net, tmp_path / "m")


@pytest.mark.parametrize("text, want", [("features.0", "features_0"), ("digits-mlp", "digits_mlp"),
                                        ("3x", "n_3x"), ("", "n_"), ("nét\n", "n_t_"), ("a" * 99, "a" * 64)])
def test_to_identifier_gives_a_name_the_ir_accepts(text: str, want: str) -> None:
    assert ir.to_identifier(text) == want
    assert ir.check_identifier(want, "name") == want


def test_the_bundle_refuses_a_bad_network_name_and_makes_its_file_name_plain(tmp_path: Path) -> None:
    with pytest.raises(IRError, match="network name"):
        bundle.write_bundle(None, tmp_path / "b", network="net\nkey: 1")  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())
    assert bundle._file_stem("my build\nx: 1") == "my_build_x__1"
    assert bundle._file_stem("rand-mlp") == "rand-mlp"
    assert bundle._file_stem("..") == "zerogate.."


# ---- arrays --------------------------------------------------------------------------------------

ARRAYS: dict[str, tuple[str, np.ndarray | bytes, str]] = {
    "float weights": ("fc0.weight", np.ones((6, 12)), "has dtype float64, not integers"),
    "bool weights": ("fc0.weight", np.ones((6, 12), dtype=bool), "has dtype bool"),
    "complex weights": ("fc0.weight", np.ones((6, 12), dtype=complex), "has dtype complex128"),
    "string weights": ("fc0.weight", np.full((6, 12), "1"), "has dtype <U1"),
    "object weights": ("fc0.weight", np.full((6, 12), 1, dtype=object), "has dtype object"),
    "wrong shape": ("fc0.weight", np.zeros((6, 11), dtype=np.int64), "has shape (6, 11), but the manifest "
                    "declares (6, 12)"),
    "transposed": ("fc0.weight", np.zeros((12, 6), dtype=np.int64), "has shape (12, 6)"),
    "int64 weight beyond its width": ("fc0.weight", np.full((6, 12), 2**40), "does not fit its declared"),
    "int64 bias beyond 40 bits": ("fc0.bias", np.full(6, 2**45), "a bias does not fit"),
    "int64 weight_bits huge": ("fc0.weight_bits", np.full(6, 2**62), "bit-width 4611686018427387904"),
    "int64 weight_frac huge": ("fc0.weight_frac", np.full(6, 2**62), "shift"),
    "uint64 beyond int64": ("fc0.bias", np.full(6, 2**64 - 1, dtype=np.uint64), "beyond 64-bit signed"),
    "npy version 3": ("fc0.bias", npy_header("<i8", (6,), (2, 0))[:6] + b"\x03\x00" +
                      npy_header("<i8", (6,), (2, 0))[8:] + bytes(48), "format (3, 0)"),
    "negative shape": ("fc0.bias", npy_header("<i8", (-6,)) + bytes(48), "declares the shape (-6,)"),
    "size lie": ("fc0.bias", npy_header("<i8", (6,)) + bytes(40), "holds 168 bytes but its header "
                 "declares 176"),
    "not npy": ("fc0.bias", b"PK\x03\x04 hello", "cannot read the weight archive"),
}


@pytest.mark.parametrize("case", list(ARRAYS))
def test_a_bad_array_is_refused(case: str, folder: Path) -> None:
    key, value, needle = ARRAYS[case]
    set_array(folder, key, value)
    msg = refusal(folder)
    assert needle in msg, msg


@pytest.mark.parametrize("dtype", ["<i1", "<i2", "<i4", ">i8", "<u1", "<u4", "<u8"])
def test_every_exact_integer_dtype_loads_to_the_same_network(dtype: str, folder: Path,
                                                              small_net: ir.Network) -> None:
    for key in ("fc0.bias", "fc1.weight_bits", "fc1.shift"):
        value = getattr(small_net.layers[int(key[2])], key.split(".")[1])
        if dtype.startswith("<u") and value.min() < 0:
            continue
        set_array(folder, key, value.astype(dtype))
    back = ir.load(folder)
    for a, b in zip(small_net.weight_layers, back.weight_layers, strict=True):
        for f in ("weight", "bias", "weight_bits", "weight_frac", "shift"):
            assert np.array_equal(getattr(a, f), getattr(b, f)) and getattr(b, f).dtype == np.int64


CONTAINER: dict[str, tuple[Callable[[Path], None], str]] = {
    "extra member": (lambda f: set_array(f, "spare", np.zeros(3, dtype=np.int64)), "does not name"),
    "missing member": (lambda f: write_weights(f, {k: v for k, v in arrays(f).items() if k != "fc1.shift"}),
                       "array 'fc1.shift' missing"),
    "duplicate member": (lambda f: write_weights(f, {**arrays(f), "again": arrays(f)["fc0.bias"]},
                                                 names=[*(f"{k}.npy" for k in arrays(f)), "fc0.bias.npy"]),
                         "two members share a name"),
    "bzip2 member": (lambda f: write_weights(f, arrays(f), method=zipfile.ZIP_BZIP2),
                     "compression method 12"),
    "folder member": (lambda f: write_weights(f, {**arrays(f), "d": b""}, names=[*(f"{k}.npy" for k in
                                                                                  arrays(f)), "d/"]),
                      "is not a .npy array"),
    "metadata not an object": (lambda f: edit_manifest(f, lambda m: m.update(metadata=[1])),
                               "metadata must be a JSON object"),
    "layers not a list": (lambda f: edit_manifest(f, lambda m: m.update(layers={"a": 1})), "layers must be"),
    "float in_features": (lambda f: edit_manifest(f, lambda m: m["layers"][0].update(in_features=12.0)),
                          "in_features = 12.0 is not an integer"),
    "bool bias_bits": (lambda f: edit_manifest(f, lambda m: m["layers"][0].update(bias_bits=True)),
                       "bias_bits = True is not an integer"),
    "manifest a list": (lambda f: (f / ir.MANIFEST).write_text("[]"), "not a zerogate IR manifest"),
    "manifest nested deep": (lambda f: (f / ir.MANIFEST).write_text("[" * 100_000), "not valid JSON"),
    "manifest too big": (lambda f: (f / ir.MANIFEST).write_bytes(b" " * (ir.MAX_MANIFEST_BYTES + 1)),
                         "larger than 16 MiB"),
}


@pytest.mark.parametrize("case", list(CONTAINER))
def test_a_bad_container_is_refused(case: str, folder: Path) -> None:
    spoil, needle = CONTAINER[case]
    spoil(folder)
    msg = refusal(folder)
    assert needle in msg, msg


def test_the_cap_names_the_array_its_size_and_the_limit(folder: Path) -> None:
    msg = str(pytest.raises(IRError, ir.load, folder, max_bytes=600).value)
    assert "array 'fc0.weight' declares 576 bytes (int64 (6, 12))" in msg
    assert "bringing the IR's arrays to 672 bytes, over the 600 bytes limit" in msg
    assert "re-export a smaller model" in msg


# ---- size: refused before the data is read -------------------------------------------------------

@pytest.mark.parametrize("spoil, needle", [
    (huge_header, "array 'fc0.weight' declares 8000000000 bytes (int64 (100000, 10000))"),
    (huge_layer, "array 'fc0.weight' declares 288000000 bytes (int64 (6, 6000000))"),
], ids=["header declares 8 GB", "manifest and zeros agree on 288 MB"])
def test_a_huge_array_is_refused_before_it_is_read(spoil: Callable[[Path], None], needle: str,
                                                   folder: Path) -> None:
    spoil(folder)
    assert (folder / ir.WEIGHTS).stat().st_size < 2 * 2**20
    code = ("import sys\nfrom zerogate import ir\nfrom zerogate.errors import IRError\n"
            "try:\n    ir.load(sys.argv[1])\nexcept IRError as e:\n    print(e)\n")
    rc, out, err, peak = peak_rss_mb([sys.executable, "-c", code, str(folder)], folder.parent)
    assert peak < PEAK_LIMIT_MB, f"peak resident memory {peak:.0f} MB"
    assert rc == 0 and needle in out and "256.0 MiB limit" in out, (out, err)


def test_a_valid_ir_still_round_trips_byte_identically(folder: Path, tmp_path: Path) -> None:
    ir.save(ir.load(folder), tmp_path / "again")
    for f in (ir.MANIFEST, ir.WEIGHTS):
        assert (tmp_path / "again" / f).read_bytes() == (folder / f).read_bytes()


def test_a_zip_directory_beyond_its_cap_is_refused_before_it_is_parsed(folder: Path) -> None:
    """~5000 members with long names: a directory of more than 1 MiB."""
    name = "m" * 200
    with zipfile.ZipFile(folder / ir.WEIGHTS, "w") as z:
        for k in range(5000):
            z.writestr(f"{name}{k}.npy", b"")
    sign(folder)
    assert "the zip directory is larger than 1.0 MiB" in refusal(folder)


def test_a_forged_inflation_ratio_is_refused(folder: Path) -> None:
    """A stored member of 128 header bytes whose directory entry claims 1251 times as many."""
    header = npy_header("<i8", (20_000,))
    write_weights(folder, {**arrays(folder), "fc0.bias": header}, method=zipfile.ZIP_STORED)
    blob = bytearray((folder / ir.WEIGHTS).read_bytes())
    entry = blob.rindex(b"fc0.bias.npy") - 46  # its central directory entry (the name comes at 46)
    assert blob[entry:entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", blob, entry + 24, len(header) + 160_000)
    (folder / ir.WEIGHTS).write_bytes(bytes(blob))
    sign(folder)
    assert "claims to inflate 128 bytes to 160128, beyond what deflate can do" in refusal(folder)
