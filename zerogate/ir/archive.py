"""The IR's weight archive (``weights.npz``) opened as a closed container.

A zip of ``.npy`` members can be small on disk and still declare, or inflate to, gigabytes. So the
zip directory's size, then every member's ``.npy`` header (shape, dtype) and zip entry (sizes,
compression) are checked against caps and against each other before any array data is read; and
an array is read only when the manifest asks for it, with the shape the manifest implies.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from zerogate.errors import IRError
from zerogate.ir.names import shown

#: Default cap on the total bytes the arrays of one IR declare (far above any FPGA's weight memory).
MAX_ARRAY_BYTES = 256 * 2**20
#: Cap on the zip's central directory: a few thousand members need a few hundred KiB.
MAX_DIRECTORY_BYTES = 2**20
#: Deflate cannot compress by more than about 1032:1, so a larger ratio is a forged zip entry.
MAX_RATIO = 1100
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_END, _END64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
_REEXPORT = "re-export the IR with `zerogate compress`"
#: What a damaged archive raises from zipfile, zlib and numpy's header parser.
_DECODE_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, SyntaxError, TypeError, EOFError, OSError,
                  OverflowError, RecursionError, KeyError, NotImplementedError, UserWarning)


class NpyFormatError(ValueError):
    """A ``.npy`` member of a format this reader does not take."""


def read_npy_header(fp: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) of the ``.npy`` stream ``fp``, without reading its
    data; :class:`NpyFormatError` for a format other than 1.0 or 2.0 (numpy guesses at older ones)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, then guesses, on Python 2 headers
        version = np.lib.format.read_magic(fp)
        if version not in _HEADER_READERS:
            raise NpyFormatError(f".npy format {version}, not 1.0 or 2.0")
        shape, fortran, dtype = _HEADER_READERS[version](fp)
    return tuple(shape), fortran, dtype, fp.tell()


def _mib(n: int) -> str:
    if n < 2**20:
        return f"{n} bytes"
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # where the data starts in the member

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class WeightArchive:
    """The arrays of one ``weights.npz``; construction checks every header, :meth:`read` reads one."""

    def __init__(self, blob: bytes, where: Path, max_bytes: int = MAX_ARRAY_BYTES) -> None:
        self.where = where
        self._read: set[str] = set()
        _check_directory(blob, where)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(blob))
            self._members = self._scan(max_bytes)
        except _DECODE_ERRORS as e:
            raise self._damaged(e) from None

    def __enter__(self) -> WeightArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def _damaged(self, e: BaseException) -> IRError:
        return IRError(f"{self.where}: cannot read the weight archive ({type(e).__name__}); the file is "
                       f"truncated or corrupt, {_REEXPORT}")

    def _fault(self, what: str) -> IRError:
        return IRError(f"{self.where}: {what}; the weight file is damaged or forged, {_REEXPORT}")

    def _scan(self, max_bytes: int) -> dict[str, _Member]:
        infos = self._zip.infolist()
        if len({i.filename for i in infos}) != len(infos):
            raise self._fault("two members share a name")
        members, total = {}, 0
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise self._fault(f"member {shown(info.filename)} is not a .npy array")
            if info.compress_type not in _METHODS:
                raise self._fault(f"member {shown(info.filename)} uses zip compression method "
                                  f"{info.compress_type} (only stored and deflated are read)")
            m = self._header(info)
            key = info.filename.removesuffix(".npy")
            total += m.nbytes
            if total > max_bytes:
                raise IRError(
                    f"{self.where}: array {shown(key)} declares {m.nbytes} bytes ({m.dtype} {m.shape}), "
                    f"bringing the IR's arrays to {_mib(total)}, over the {_mib(max_bytes)} limit; no FPGA "
                    f"design holds that many weights, re-export a smaller model with `zerogate compress`")
            if info.file_size != m.offset + m.nbytes:
                raise self._fault(f"member {shown(info.filename)} holds {info.file_size} bytes but its "
                                  f"header declares {m.offset + m.nbytes}")
            if info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise self._fault(f"member {shown(info.filename)} claims to inflate {info.compress_size} "
                                  f"bytes to {info.file_size}, beyond what deflate can do")
            members[key] = m
        return members

    def _header(self, info: zipfile.ZipInfo) -> _Member:
        """The member's ``.npy`` header, read from the start of its stream (no data read)."""
        with self._zip.open(info) as fp:
            try:
                shape, fortran, dtype, offset = read_npy_header(fp)
            except NpyFormatError as e:
                raise self._fault(f"member {shown(info.filename)} is {e}") from None
        if dtype.kind not in "iu" or dtype.itemsize > 8:
            raise IRError(f"{self.where}: array {shown(info.filename.removesuffix('.npy'))} has dtype "
                          f"{dtype}, not integers; the IR stores exact integers only, {_REEXPORT}")
        if any(n < 0 for n in shape):
            raise self._fault(f"member {shown(info.filename)} declares the shape {shape}")
        return _Member(info, tuple(shape), dtype, fortran, offset)

    def read(self, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
        """The array ``key``, whose header must declare ``shape`` (what the manifest implies)."""
        m = self._members.get(key) if isinstance(key, str) else None
        if m is None:
            raise IRError(f"{where}: array {shown(key)} missing from {self.where.name}")
        if m.shape != shape:
            raise IRError(f"{where}: array {shown(key)} has shape {m.shape}, but the manifest declares "
                          f"{shape}; the weight file does not match its manifest, {_REEXPORT}")
        try:
            with self._zip.open(m.info) as fp:
                fp.seek(m.offset)
                data = fp.read(m.nbytes)
        except _DECODE_ERRORS as e:
            raise self._damaged(e) from None
        if len(data) != m.nbytes:
            raise self._damaged(EOFError())
        self._read.add(key)
        return np.frombuffer(data, dtype=m.dtype).reshape(shape, order="F" if m.fortran else "C")

    def unread(self) -> list[str]:
        """Members the manifest never asked for (a closed container has none)."""
        return sorted(set(self._members) - self._read)


def _check_directory(blob: bytes, where: Path) -> None:
    """Refuse a zip whose central directory (parsed whole by :mod:`zipfile`) exceeds its cap."""
    end = len(blob) - 22
    if not (end >= 0 and blob[end:end + 4] == _END and blob[-2:] == b"\0\0"):
        end = blob.rfind(_END, max(0, len(blob) - 22 - (1 << 16)))  # where zipfile looks too
    if end < 0 or end + 22 > len(blob):
        return  # not a zip at all: zipfile says so
    size = struct.unpack_from("<I", blob, end + 12)[0]
    if blob[max(0, end - 20):end][:4] == _END64_LOCATOR or size > MAX_DIRECTORY_BYTES:
        raise IRError(f"{where}: the zip directory is larger than {_mib(MAX_DIRECTORY_BYTES)} (or zip64); "
                      f"no IR has that many arrays, {_REEXPORT}")
