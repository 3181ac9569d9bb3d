"""The IR on disk: ``manifest.json`` + ``weights.npz``, written atomically and deterministically.

:func:`load` refuses anything it cannot vouch for: another schema version, a checksum mismatch,
a missing field, and then everything :mod:`zerogate.ir.validate` checks.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zerogate.errors import IRError
from zerogate.fixedpoint import Activation, FixedFormat, Overflow, Rounding
from zerogate.ir.types import POOL_KINDS, Layer, LayerKind, Network, Node, Pool

SCHEMA_NAME = "zerogate-ir"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
_ARRAYS = ("weight", "bias", "weight_bits", "weight_frac", "shift")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` with fixed timestamps and order, so equal IRs give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def _node_entry(node: Node) -> dict[str, Any]:
    if isinstance(node, Pool):
        return {
            "name": node.name, "kind": node.kind.value, "in_shape": list(node.in_shape),
            "kernel": list(node.kernel), "stride": list(node.stride), "input": node.input.to_dict(),
            "rounding": node.rounding.value,
        }
    entry = {
        "name": node.name,
        "kind": node.kind.value,
        "in_features": node.in_features,
        "out_features": node.out_features,
        "input": node.input.to_dict(),
        "output": node.output.to_dict(),
        "bias_bits": node.bias_bits,
        "rounding": node.rounding.value,
        "overflow": node.overflow.value,
        "activation": node.activation.value,
        "arrays": {a: f"{node.name}.{a}" for a in _ARRAYS},
    }
    if node.is_conv:
        entry.update(in_shape=list(node.in_shape), kernel=list(node.kernel), stride=list(node.stride),
                     padding=list(node.padding))
    return entry


def to_manifest(net: Network, weights_sha256: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": net.name,
        "input": {"format": net.input.to_dict(), "features": net.in_features, "shape": list(net.in_shape)},
        "weights_file": WEIGHTS,
        "weights_sha256": weights_sha256,
        "layers": [_node_entry(n) for n in net.layers],
        "metadata": dict(net.metadata),
    }


def save(net: Network, path: str | os.PathLike[str]) -> Path:
    """Write ``net`` to the folder ``path`` atomically (a reader never sees half an IR)."""
    path = Path(path)
    arrays = {f"{ly.name}.{a}": getattr(ly, a) for ly in net.weight_layers for a in _ARRAYS}
    blob = _npz_bytes(arrays)
    manifest = to_manifest(net, hashlib.sha256(blob).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / WEIGHTS).write_bytes(blob)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished folder ``src`` to ``dst``, replacing any old one as late as possible."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return d[key]
    except (KeyError, TypeError):
        raise IRError(f"{where}: missing field {key!r}; the manifest is incomplete") from None


def _enum(cls: type[enum.StrEnum], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise IRError(f"{where}: {value!r} is not one of {allowed}") from None


def _ints(v: Any, where: str, key: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not all(isinstance(x, int) for x in v):
        raise IRError(f"{where}: {key} must be a list of integers, got {v!r}")
    return tuple(v)


def _format(d: Any, where: str) -> FixedFormat:
    """A fixed-point format; ``frac`` must be an integer, since every IR scale is ``2**-frac``."""
    for key in ("bits", "frac"):
        v = d.get(key) if isinstance(d, Mapping) else None
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise IRError(f"{where}: format {key} = {v!r} is not an integer (IR scales are powers of two, "
                          "2**-frac); re-export the model with power-of-two scales")
    return FixedFormat.from_dict(d)


def _read_node(lm: Mapping[str, Any], where: str, arrays: dict[str, np.ndarray], wname: str) -> Node:
    kind = _enum(LayerKind, _get(lm, "kind", where), where)
    if kind in POOL_KINDS:
        return Pool(
            name=str(_get(lm, "name", where)), kind=kind,
            in_shape=_ints(_get(lm, "in_shape", where), where, "in_shape"),
            kernel=_ints(_get(lm, "kernel", where), where, "kernel"),
            stride=_ints(_get(lm, "stride", where), where, "stride"),
            input=_format(_get(lm, "input", where), where),
            rounding=_enum(Rounding, _get(lm, "rounding", where), where),
        )
    names = _get(lm, "arrays", where)
    arr = {}
    for a in _ARRAYS:
        key = _get(names, a, where)
        if key not in arrays:
            raise IRError(f"{where}: array {key!r} missing from {wname}")
        arr[a] = arrays[key]
    geometry = {}
    if kind is not LayerKind.DENSE:
        geometry = {k: _ints(_get(lm, k, where), where, k)
                    for k in ("in_shape", "kernel", "stride", "padding")}
    return Layer(
        name=str(_get(lm, "name", where)),
        kind=kind,
        in_features=int(_get(lm, "in_features", where)),
        out_features=int(_get(lm, "out_features", where)),
        input=_format(_get(lm, "input", where), where),
        output=_format(_get(lm, "output", where), where),
        bias_bits=int(_get(lm, "bias_bits", where)),
        rounding=_enum(Rounding, _get(lm, "rounding", where), where),
        overflow=_enum(Overflow, _get(lm, "overflow", where), where),
        activation=_enum(Activation, _get(lm, "activation", where), where),
        **geometry,
        **arr,
    )


def load(path: str | os.PathLike[str]) -> Network:
    """Read and fully validate an IR folder (or its ``manifest.json``)."""
    path = Path(path)
    if path.is_file() and path.name == MANIFEST:
        path = path.parent
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise IRError(f"{path}: no {MANIFEST} here; point at a folder written by 'zerogate compress'")
    try:
        m = json.loads(mpath.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IRError(f"{mpath}: not valid JSON ({e}); the file is corrupt, re-export it") from None
    if not isinstance(m, dict) or m.get("schema") != SCHEMA_NAME:
        raise IRError(f"{mpath}: not a zerogate IR manifest")
    ver = m.get("schema_version")
    if ver != SCHEMA_VERSION:
        raise IRError(
            f"{mpath}: schema version {ver!r} is not supported (this zerogate reads version "
            f"{SCHEMA_VERSION}); re-export the model with this version"
        )
    wpath = path / str(_get(m, "weights_file", str(mpath)))
    if not wpath.is_file():
        raise IRError(f"{wpath}: weight file missing; the IR folder is incomplete, re-export it")
    blob = wpath.read_bytes()
    if hashlib.sha256(blob).hexdigest() != _get(m, "weights_sha256", str(mpath)):
        raise IRError(
            f"{wpath}: checksum mismatch; the weight file is corrupt or belongs to another manifest"
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # any decode failure is the same user problem
        raise IRError(f"{wpath}: cannot read the weight archive ({type(e).__name__}); the file is "
                      "truncated or corrupt, re-export the IR") from None
    try:
        inp = _get(m, "input", str(mpath))
        nodes = []
        for k, lm in enumerate(_get(m, "layers", str(mpath))):
            where = f"{mpath} layer {k}"
            try:
                nodes.append(_read_node(lm, where, arrays, wpath.name))
            except (TypeError, ValueError) as e:
                raise IRError(f"{where}: malformed layer entry ({e})") from None
        shape = inp.get("shape") if isinstance(inp, dict) else None
        return Network(
            name=str(_get(m, "name", str(mpath))),
            input=_format(_get(inp, "format", str(mpath)), str(mpath)),
            in_features=int(_get(inp, "features", str(mpath))),
            layers=tuple(nodes),
            metadata=m.get("metadata", {}),
            in_shape=_ints(shape, str(mpath), "input.shape") if shape is not None else (),
        )
    except IRError as e:
        raise _located(e, mpath) from None


def _located(e: IRError, mpath: Path) -> IRError:
    """``e`` naming the manifest, plus the fix a user has for a bad IR when ``e`` names none
    (messages give their fix after a ``;``)."""
    msg = str(e) if str(e).startswith(str(mpath)) else f"{mpath}: {e}"
    if ";" not in msg:
        msg += "; the IR is damaged or from a broken exporter, re-export it with 'zerogate compress'"
    return IRError(msg)
