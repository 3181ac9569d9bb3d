"""The IR on disk: ``manifest.json`` + ``weights.npz``, written atomically and deterministically.

:func:`load` refuses anything it cannot vouch for: an unknown schema version, a checksum mismatch,
a missing field, and then everything :mod:`zerogate.ir.validate` checks.

Versions: :func:`save` writes version 2, where a layer's ``activation`` is an object
``{"kind": "none" | "relu" | "clamp" | "leaky", "lo": int, "hi": int, "shift": int}`` (bounds for
``clamp`` only, ``shift`` for ``leaky`` only). :func:`load` also reads version 1, whose
``activation`` is the string ``"none"`` or ``"relu"``: those are exactly version 2's parameterless
kinds, so a version-1 IR loads unchanged and is written back as version 2.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zerogate.errors import ConfigError, IRError
from zerogate.fixedpoint import Activation, ActKind, FixedFormat, Overflow, Rounding
from zerogate.ir.archive import MAX_ARRAY_BYTES, MAX_DIRECTORY_BYTES, WeightArchive
from zerogate.ir.names import check_file_name, check_identifier, check_names, inside, shown
from zerogate.ir.types import POOL_KINDS, Layer, LayerKind, Network, Node, Pool
from zerogate.outdir import os_error, staged_folder

SCHEMA_NAME = "zerogate-ir"
SCHEMA_VERSION = 2
#: Versions :func:`load` reads (see the module docstring for how version 1 maps onto version 2).
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
#: Cap on ``manifest.json`` (checked before parsing it); real manifests are a few KiB.
MAX_MANIFEST_BYTES = 16 * 2**20
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
        "activation": node.activation.to_json(),
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


def _replaceable(path: Path) -> bool:
    """``path`` is absent, an empty folder, or a folder holding nothing but an IR's two files."""
    if not os.path.lexists(path):
        return True
    return path.is_dir() and not path.is_symlink() and {p.name for p in path.iterdir()} <= {MANIFEST, WEIGHTS}


def save(net: Network, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``net`` to the folder ``path`` atomically (a reader never sees half an IR).

    An existing IR at ``path`` is replaced; anything else there (other files, a file in place of
    the folder) is refused unless ``force``, so a save never deletes what zerogate did not write.
    """
    path = Path(path)
    check_names(net)  # the names become zip members, Verilog names and a YAML file
    arrays = {f"{ly.name}.{a}": getattr(ly, a) for ly in net.weight_layers for a in _ARRAYS}
    blob = _npz_bytes(arrays)
    manifest = to_manifest(net, hashlib.sha256(blob).hexdigest())
    try:
        if not force and not _replaceable(path):
            raise ConfigError(f"{path} holds files that are not a zerogate IR ({MANIFEST}, {WEIGHTS}); "
                              "choose another folder, or replace it with force=True")
        path.parent.mkdir(parents=True, exist_ok=True)
        with staged_folder(path) as tmp:
            (tmp / WEIGHTS).write_bytes(blob)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise os_error(e, f"write the IR to {path}") from None
    return path


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
        raise IRError(f"{where}: {shown(value)} is not one of {allowed}") from None


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    """An integer field, taken as it is (never ``int()`` of a float, a string or a bool)."""
    v = _get(d, key, where)
    if not isinstance(v, int) or isinstance(v, bool):
        raise IRError(f"{where}: {key} = {shown(v)} is not an integer")
    return v


def _ints(v: Any, where: str, key: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise IRError(f"{where}: {key} must be a list of integers, got {shown(v)}")
    return tuple(v)


def _format(d: Any, where: str) -> FixedFormat:
    """A fixed-point format; ``frac`` must be an integer, since every IR scale is ``2**-frac``."""
    for key in ("bits", "frac"):
        v = d.get(key) if isinstance(d, Mapping) else None
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise IRError(f"{where}: format {key} = {shown(v)} is not an integer (IR scales are powers of "
                          "two, 2**-frac); re-export the model with power-of-two scales")
    return FixedFormat.from_dict(d)


def _activation(v: Any, version: int, where: str) -> Activation:
    """Version 1: the string ``none``/``relu``; version 2: an object (module docstring)."""
    if version == 1:
        kind = _enum(ActKind, v, where)
        if kind not in (ActKind.NONE, ActKind.RELU):
            raise IRError(f"{where}: activation {shown(v)} is not one of none, relu (schema version 1)")
        return Activation(kind)
    if not isinstance(v, Mapping) or set(v) - {"kind", "lo", "hi", "shift"}:
        raise IRError(f"{where}: activation must be an object with kind and its parameters (lo, hi, shift), "
                      f"got {shown(v)}")
    kind = _enum(ActKind, _get(v, "kind", where), where)
    params = {k: _int(v, k, f"{where} activation") for k in ("lo", "hi", "shift") if k in v}
    return Activation(kind, **params)


def _read_node(lm: Any, where: str, weights: WeightArchive, version: int = SCHEMA_VERSION) -> Node:
    if not isinstance(lm, Mapping):
        raise IRError(f"{where}: a layer entry must be a JSON object")
    kind = _enum(LayerKind, _get(lm, "kind", where), where)
    name = check_identifier(_get(lm, "name", where), "layer name")
    if kind in POOL_KINDS:
        return Pool(
            name=name, kind=kind,
            in_shape=_ints(_get(lm, "in_shape", where), where, "in_shape"),
            kernel=_ints(_get(lm, "kernel", where), where, "kernel"),
            stride=_ints(_get(lm, "stride", where), where, "stride"),
            input=_format(_get(lm, "input", where), where),
            rounding=_enum(Rounding, _get(lm, "rounding", where), where),
        )
    n_out, n_in = _int(lm, "out_features", where), _int(lm, "in_features", where)
    geometry = {}
    if kind is not LayerKind.DENSE:
        geometry = {k: _ints(_get(lm, k, where), where, k)
                    for k in ("in_shape", "kernel", "stride", "padding")}
    # The shapes the manifest implies; each array's header must declare exactly that before it is read.
    shapes = {a: (n_out,) for a in _ARRAYS} | {"weight": (n_out, n_in, *geometry.get("kernel", ()))}
    names = _get(lm, "arrays", where)
    arrays = {a: weights.read(_get(names, a, where), shapes[a], where) for a in _ARRAYS}
    return Layer(
        name=name,
        kind=kind,
        in_features=n_in,
        out_features=n_out,
        input=_format(_get(lm, "input", where), where),
        output=_format(_get(lm, "output", where), where),
        bias_bits=_int(lm, "bias_bits", where),
        rounding=_enum(Rounding, _get(lm, "rounding", where), where),
        overflow=_enum(Overflow, _get(lm, "overflow", where), where),
        activation=_activation(_get(lm, "activation", where), version, where),
        **geometry,
        **arrays,
    )


def _read_capped(path: Path, cap: int, what: str) -> bytes:
    """The bytes of ``path``, refusing (without reading on) a file larger than ``cap``."""
    with path.open("rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise IRError(f"{path}: larger than {cap // 2**20} MiB, more than any {what} zerogate writes; "
                      "point at an IR folder written by `zerogate compress`")
    return data


def _read_manifest(path: Path) -> tuple[Path, dict[str, Any]]:
    mpath = inside(path, MANIFEST, "the manifest", path / MANIFEST)  # before is_file: same error either way
    if not mpath.is_file():
        raise IRError(f"{path}: no {MANIFEST} here; point at a folder written by 'zerogate compress'")
    raw = _read_capped(mpath, MAX_MANIFEST_BYTES, "IR manifest")
    try:
        m = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise IRError(f"{mpath}: not valid JSON ({type(e).__name__}: {str(e)[:80]}); the file is corrupt, "
                      "re-export it") from None
    if not isinstance(m, dict) or m.get("schema") != SCHEMA_NAME:
        raise IRError(f"{mpath}: not a zerogate IR manifest")
    ver = m.get("schema_version")
    if not isinstance(ver, int) or isinstance(ver, bool) or ver not in READABLE_VERSIONS:
        raise IRError(
            f"{mpath}: schema version {shown(ver)} is not supported (this zerogate reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}); re-export with zerogate compress"
        )
    return mpath, m


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_ARRAY_BYTES) -> Network:
    """Read and fully validate an IR folder (or its ``manifest.json``).

    Nothing outside the folder is read, and no array data is read before its ``.npy`` header has
    been checked against the manifest and against ``max_bytes`` (the cap on all arrays together).
    """
    path = Path(path)
    if path.is_file() and path.name == MANIFEST:
        path = path.parent
    mpath, m = _read_manifest(path)
    wname = check_file_name(_get(m, "weights_file", str(mpath)), "weights_file", mpath)
    wpath = inside(path, wname, "weights_file", mpath)  # before is_file: same error either way
    if not wpath.is_file():
        raise IRError(f"{wpath}: weight file missing; the IR folder is incomplete, re-export it")
    blob = _read_capped(wpath, max_bytes + MAX_DIRECTORY_BYTES + 4 * 2**20, "IR weight file")
    if hashlib.sha256(blob).hexdigest() != _get(m, "weights_sha256", str(mpath)):
        raise IRError(
            f"{wpath}: checksum mismatch; the weight file is corrupt or belongs to another manifest"
        )
    try:
        name = check_identifier(_get(m, "name", str(mpath)), "network name")
        with WeightArchive(blob, wpath, max_bytes) as weights:
            inp = _get(m, "input", str(mpath))
            layers = _get(m, "layers", str(mpath))
            if not isinstance(layers, list):
                raise IRError(f"{mpath}: layers must be a list")
            nodes = []
            for k, lm in enumerate(layers):
                where = f"{mpath} layer {k}"
                try:
                    nodes.append(_read_node(lm, where, weights, m["schema_version"]))
                except (TypeError, ValueError) as e:
                    detail = " ".join(str(e).split())[:80]  # one line, short
                    raise IRError(f"{where}: malformed layer entry ({detail})") from None
            extra = weights.unread()
            if extra:
                raise IRError(f"{wpath}: holds {len(extra)} array(s) the manifest does not name (such as "
                              f"{shown(extra[0])}); the weight file belongs to another manifest, "
                              "re-export the IR")
            shape = inp.get("shape") if isinstance(inp, dict) else None
            metadata = m.get("metadata", {})
            if not isinstance(metadata, dict):
                raise IRError(f"{mpath}: metadata must be a JSON object")
            return Network(
                name=name,
                input=_format(_get(inp, "format", str(mpath)), str(mpath)),
                in_features=_int(inp, "features", str(mpath)),
                layers=tuple(nodes),
                metadata=metadata,
                in_shape=_ints(shape, str(mpath), "input.shape") if shape is not None else (),
            )
    except IRError as e:
        raise _located(e, mpath) from None


def _located(e: IRError, mpath: Path) -> IRError:
    """``e`` naming the manifest (or another file of the IR), plus the fix a user has for a bad IR
    when ``e`` names none (messages give their fix after a ``;``)."""
    msg = str(e) if str(e).startswith(str(mpath.parent)) else f"{mpath}: {e}"
    if ";" not in msg:
        msg += "; the IR is damaged or from a broken exporter, re-export it with 'zerogate compress'"
    return IRError(msg)
