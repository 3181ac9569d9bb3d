"""Hand-made IR folders that break the container's rules, shared by the IR and CLI tests.

Each spoiler takes a folder written by :func:`zerogate.ir.save` and re-signs the weight file, so
the checksum never hides the fault under test. Large members are streamed into the zip in chunks,
so building them stays far below the memory limit the tests assert on the loader.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zerogate import ir

#: Peak resident memory a refused load may reach (a Python with numpy and zerogate starts at ~35 MB).
PEAK_LIMIT_MB = 200
_CHUNK = 2**20


def edit_manifest(folder: Path, edit: Callable[[dict], object]) -> None:
    m = json.loads((folder / ir.MANIFEST).read_text())
    edit(m)
    (folder / ir.MANIFEST).write_text(json.dumps(m))


def sign(folder: Path, weights: str = ir.WEIGHTS) -> None:
    """Put the weight file's real checksum into the manifest (hashed in chunks)."""
    h = hashlib.sha256()
    with (folder / weights).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    edit_manifest(folder, lambda m: m.update(weights_sha256=h.hexdigest()))


def npy_header(descr: str, shape: tuple[int, ...], version: tuple[int, int] = (1, 0)) -> bytes:
    """The bytes of a ``.npy`` header declaring ``shape`` of ``descr``, written by hand."""
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, d)
    else:
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=a.dtype.hasobject)
    return buf.getvalue()


Member = bytes | tuple[bytes, int]  # whole member, or (header, number of zero bytes after it)


def arrays(folder: Path) -> dict[str, bytes]:
    """Every member of the folder's weight file, as ``.npy`` bytes keyed by array name."""
    with zipfile.ZipFile(folder / ir.WEIGHTS) as z:
        return {n.removesuffix(".npy"): z.read(n) for n in z.namelist()}


def write_weights(folder: Path, members: dict[str, Member], *, method: int = zipfile.ZIP_DEFLATED,
                  names: list[str] | None = None) -> None:
    """Write ``members`` as the weight file (zero bodies streamed at deflate level 1) and sign it."""
    with zipfile.ZipFile(folder / ir.WEIGHTS, "w", compression=method, compresslevel=1) as z, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate member name is one of the faults
        for k, (key, body) in enumerate(members.items()):
            name = names[k] if names else f"{key}.npy"
            if isinstance(body, bytes):
                z.writestr(zipfile.ZipInfo(name), body, compress_type=method)
                continue
            header, zeros = body
            with z.open(name, "w") as f:  # a name (not a ZipInfo) takes the archive's method and level
                f.write(header)
                for n in range(0, zeros, _CHUNK):
                    f.write(bytes(min(_CHUNK, zeros - n)))
    sign(folder)


def set_array(folder: Path, key: str, value: np.ndarray | bytes) -> None:
    """Replace one array (any dtype, any bytes) and re-sign the weight file."""
    members: dict[str, Member] = dict(arrays(folder))
    members[key] = value if isinstance(value, bytes) else npy(value)
    write_weights(folder, members)


def huge_header(folder: Path) -> None:
    """``fc0.weight`` declares 8 GB (``1e9`` int64) over 300 MB of zeros that deflate to ~1.4 MB."""
    members: dict[str, Member] = dict(arrays(folder))
    members["fc0.weight"] = (npy_header("<i8", (100_000, 10_000)), 300 * 2**20)
    write_weights(folder, members)


def huge_layer(folder: Path) -> None:
    """A manifest and weight file that agree on a first layer of 288 MB of int64 zeros (> 256 MiB)."""
    m = json.loads((folder / ir.MANIFEST).read_text())
    fc0 = m["layers"][0]
    features = 288_000_000 // (8 * fc0["out_features"])
    shape = (fc0["out_features"], features)
    m["input"].update(features=features, shape=[features])
    fc0["in_features"] = features
    (folder / ir.MANIFEST).write_text(json.dumps(m))
    members: dict[str, Member] = dict(arrays(folder))
    members["fc0.weight"] = (npy_header("<i8", shape), math.prod(shape) * 8)
    write_weights(folder, members)


def peak_rss_mb(args: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """Run ``args`` in a fresh wrapper process and return (exit code, stdout, stderr, peak MB of
    the command); the wrapper's only child is the command, so its ``RUSAGE_CHILDREN`` peak is the
    command's own."""
    wrapper = ("import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:]).returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
               "sys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    *err, peak = p.stderr.rstrip("\n").split("\n")
    return p.returncode, p.stdout, "\n".join(err), int(peak) / 1024  # ru_maxrss is in KiB on Linux
