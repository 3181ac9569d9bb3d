"""The IR: the only contract between ``compress`` (which writes it) and ``hwgen`` (which reads it).

Torch-free on purpose: dataclasses and numpy. On disk an IR is a folder holding
``manifest.json`` (schema version, formats, shapes, per-channel parameters' names, a checksum)
and ``weights.npz`` (every integer array). :func:`load` refuses anything it cannot vouch for:
another schema version, a checksum mismatch, a shape that does not chain, or an integer outside
its declared width. :func:`save` writes atomically and byte-for-byte deterministically.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zerogate.errors import IRError
from zerogate.fixedpoint import (
    MAX_BITS,
    MIN_WEIGHT_BITS,
    Activation,
    FixedFormat,
    Overflow,
    Rounding,
    signed_bits_for,
    weight_range,
)

SCHEMA_NAME = "zerogate-ir"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
#: Widest bias the IR allows (it lives at the accumulator's scale, so it is wider than weights).
MAX_BIAS_BITS = 40
#: Largest requantization shift; keeps ``2**shift`` exact in int64.
MAX_SHIFT = 48


class LayerKind(enum.StrEnum):
    DENSE = "dense"


@dataclass(frozen=True, eq=False)
class Layer:
    """One weight layer followed by its requantization and activation.

    ``weight[c, i]`` is a signed integer of ``weight_bits[c]`` bits standing for
    ``weight[c, i] * 2**-weight_frac[c]``. ``bias[c]`` sits at the accumulator's scale
    ``2**-(input.frac + weight_frac[c])``. Output channel ``c`` is requantized by
    ``shift[c] = input.frac + weight_frac[c] - output.frac`` (see :mod:`zerogate.fixedpoint`).
    """

    name: str
    kind: LayerKind
    in_features: int
    out_features: int
    weight: np.ndarray
    bias: np.ndarray
    weight_bits: np.ndarray
    weight_frac: np.ndarray
    shift: np.ndarray
    input: FixedFormat
    output: FixedFormat
    bias_bits: int
    rounding: Rounding = Rounding.HALF_UP
    overflow: Overflow = Overflow.SATURATE
    activation: Activation = Activation.NONE

    # -- derived facts used by the golden model, hwgen and the reports ---------------------
    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.weight))

    @property
    def n_weights(self) -> int:
        return int(self.weight.size)

    def acc_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-channel [min, max] of the accumulator over every legal input.

        Uses the actual nonzero weights, not their declared width, so a sparse or small-valued
        channel gets a narrow adder.
        """
        lo_x, hi_x = self.input.min_int, self.input.max_int
        w = self.weight.astype(np.int64)
        hi = np.where(w > 0, w * hi_x, w * lo_x).sum(axis=1) + self.bias
        lo = np.where(w > 0, w * lo_x, w * hi_x).sum(axis=1) + self.bias
        return lo.astype(np.int64), hi.astype(np.int64)

    def acc_bits(self) -> np.ndarray:
        """Per-channel accumulator width from :meth:`acc_bounds` (two's complement)."""
        lo, hi = self.acc_bounds()
        return np.array([signed_bits_for(int(a), int(b)) for a, b in zip(lo, hi, strict=True)])


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward chain of layers with one quantized input."""

    name: str
    input: FixedFormat
    in_features: int
    layers: tuple[Layer, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def output(self) -> FixedFormat:
        return self.layers[-1].output

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _int_array(a: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a)
    if arr.shape != shape:
        raise IRError(f"{what} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise IRError(f"{what} contains NaN or infinity")
        if not np.all(arr == np.round(arr)):
            raise IRError(f"{what} holds non-integer values; the IR stores integers only")
    elif arr.dtype.kind not in "iub":
        raise IRError(f"{what} has dtype {arr.dtype}, expected integers")
    return arr.astype(np.int64)


def validate_layer(layer: Layer, where: str) -> None:
    """Check one layer's shapes, widths and value ranges; raise :class:`IRError` on the first fault."""
    if layer.kind is not LayerKind.DENSE:
        raise IRError(f"{where}: unknown layer kind {layer.kind!r}")
    o, i = layer.out_features, layer.in_features
    if o < 1 or i < 1:
        raise IRError(f"{where}: needs at least one input and one output, got {i}→{o}")
    w = _int_array(layer.weight, f"{where}.weight", (o, i))
    b = _int_array(layer.bias, f"{where}.bias", (o,))
    bits = _int_array(layer.weight_bits, f"{where}.weight_bits", (o,))
    frac = _int_array(layer.weight_frac, f"{where}.weight_frac", (o,))
    shift = _int_array(layer.shift, f"{where}.shift", (o,))
    for c in range(o):
        bc = int(bits[c])
        if not MIN_WEIGHT_BITS <= bc <= MAX_BITS:
            raise IRError(
                f"{where}: channel {c} weight bit-width {bc} is outside "
                f"{MIN_WEIGHT_BITS}..{MAX_BITS}; re-export with a supported width"
            )
        lo, hi = weight_range(bc)
        bad = np.flatnonzero((w[c] < lo) | (w[c] > hi))
        if bad.size:
            j = int(bad[0])
            raise IRError(
                f"{where}: weight[{c},{j}] = {int(w[c, j])} does not fit its declared "
                f"{bc}-bit width [{lo}, {hi}]; the weight file does not match its manifest"
            )
    if not 2 <= layer.bias_bits <= MAX_BIAS_BITS:
        raise IRError(f"{where}: bias width {layer.bias_bits} is outside 2..{MAX_BIAS_BITS}")
    blo, bhi = weight_range(layer.bias_bits)
    if np.any((b < blo) | (b > bhi)):
        raise IRError(f"{where}: a bias does not fit its declared {layer.bias_bits}-bit width")
    expect = layer.input.frac + frac - layer.output.frac
    if np.any(shift != expect):
        c = int(np.flatnonzero(shift != expect)[0])
        raise IRError(
            f"{where}: channel {c} shift {int(shift[c])} != input.frac + weight_frac - "
            f"output.frac = {int(expect[c])}; formats and shifts disagree"
        )
    if np.any(shift < 0) or np.any(shift > MAX_SHIFT):
        raise IRError(
            f"{where}: requantization shifts must lie in 0..{MAX_SHIFT} (output may not be "
            f"finer than the accumulator); got {shift.min()}..{shift.max()}"
        )
    if layer.activation is Activation.RELU and layer.output.signed:
        raise IRError(f"{where}: a ReLU output must use an unsigned format")
    lo_acc, hi_acc = layer.acc_bounds()
    if max(abs(int(lo_acc.min())), abs(int(hi_acc.max()))) >= 1 << 62:
        raise IRError(f"{where}: accumulator would exceed 62 bits; use narrower weights or inputs")
    # normalise arrays to int64 in place (frozen dataclass: set through object)
    for name, arr in (("weight", w), ("bias", b), ("weight_bits", bits),
                      ("weight_frac", frac), ("shift", shift)):
        arr.setflags(write=False)
        object.__setattr__(layer, name, arr)


def validate(net: Network) -> None:
    """Check a whole network: every layer, and that the layers chain."""
    if not net.layers:
        raise IRError(f"network {net.name!r} has no layers")
    if net.in_features < 1:
        raise IRError(f"network input has {net.in_features} features")
    prev_fmt, prev_n = net.input, net.in_features
    names = set()
    for k, layer in enumerate(net.layers):
        where = f"layer {k} ({layer.name})"
        if layer.name in names or not layer.name.isidentifier():
            raise IRError(f"{where}: layer names must be unique identifiers")
        names.add(layer.name)
        if layer.in_features != prev_n:
            raise IRError(
                f"{where}: takes {layer.in_features} inputs but the previous stage gives {prev_n}"
            )
        if layer.input != prev_fmt:
            raise IRError(
                f"{where}: input format {layer.input} differs from the previous stage's {prev_fmt}"
            )
        validate_layer(layer, where)
        prev_fmt, prev_n = layer.output, layer.out_features


# --------------------------------------------------------------------------------------------
# (de)serialisation
# --------------------------------------------------------------------------------------------
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


def to_manifest(net: Network, weights_sha256: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": net.name,
        "input": {"format": net.input.to_dict(), "features": net.in_features},
        "weights_file": WEIGHTS,
        "weights_sha256": weights_sha256,
        "layers": [
            {
                "name": ly.name,
                "kind": ly.kind.value,
                "in_features": ly.in_features,
                "out_features": ly.out_features,
                "input": ly.input.to_dict(),
                "output": ly.output.to_dict(),
                "bias_bits": ly.bias_bits,
                "rounding": ly.rounding.value,
                "overflow": ly.overflow.value,
                "activation": ly.activation.value,
                "arrays": {a: f"{ly.name}.{a}" for a in _ARRAYS},
            }
            for ly in net.layers
        ],
        "metadata": dict(net.metadata),
    }


def save(net: Network, path: str | os.PathLike[str]) -> Path:
    """Write ``net`` to the folder ``path`` atomically (a reader never sees half an IR)."""
    path = Path(path)
    arrays = {f"{ly.name}.{a}": getattr(ly, a) for ly in net.layers for a in _ARRAYS}
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
        raise IRError(f"{wpath}: weight file missing; the IR folder is incomplete")
    blob = wpath.read_bytes()
    if hashlib.sha256(blob).hexdigest() != _get(m, "weights_sha256", str(mpath)):
        raise IRError(
            f"{wpath}: checksum mismatch; the weight file is corrupt or belongs to another manifest"
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise IRError(f"{wpath}: cannot read the weight archive ({type(e).__name__})") from None
    inp = _get(m, "input", str(mpath))
    layers = []
    for k, lm in enumerate(_get(m, "layers", str(mpath))):
        where = f"{mpath} layer {k}"
        names = _get(lm, "arrays", where)
        arr = {}
        for a in _ARRAYS:
            key = _get(names, a, where)
            if key not in arrays:
                raise IRError(f"{where}: array {key!r} missing from {wpath.name}")
            arr[a] = arrays[key]
        try:
            layers.append(
                Layer(
                    name=str(_get(lm, "name", where)),
                    kind=_enum(LayerKind, _get(lm, "kind", where), where),
                    in_features=int(_get(lm, "in_features", where)),
                    out_features=int(_get(lm, "out_features", where)),
                    input=FixedFormat.from_dict(_get(lm, "input", where)),
                    output=FixedFormat.from_dict(_get(lm, "output", where)),
                    bias_bits=int(_get(lm, "bias_bits", where)),
                    rounding=_enum(Rounding, _get(lm, "rounding", where), where),
                    overflow=_enum(Overflow, _get(lm, "overflow", where), where),
                    activation=_enum(Activation, _get(lm, "activation", where), where),
                    **arr,
                )
            )
        except (TypeError, ValueError) as e:
            raise IRError(f"{where}: malformed layer entry ({e})") from None
    return Network(
        name=str(_get(m, "name", str(mpath))),
        input=FixedFormat.from_dict(_get(inp, "format", str(mpath))),
        in_features=int(_get(inp, "features", str(mpath))),
        layers=tuple(layers),
        metadata=m.get("metadata", {}),
    )
