"""Drive the UART board top level from a PC: send input integers, read the accelerator's outputs.

The same :class:`Board` drives a real board (``Board("/dev/ttyUSB0", "build/digits-mlp/bundle")``)
and the Verilator simulation of the same top level (``sim.uart`` bridges a pseudo-terminal to the
simulated UART pins), so the host code that is tested is the code that runs against hardware.

Wire protocol (8N1; ``rtl_templates/rtl/uart_top.v.j2`` implements the other end). Multi-byte
fields are little-endian except the CRC, which is sent high byte first:

* request: ``0xA5``, ``seq`` (1 byte), ``len`` (2 bytes: the number of data bytes), the inputs as
  ``bytes_per_input`` two's-complement bytes each, then ``crc`` (2 bytes);
* reply: ``0x5A``, the request's ``seq``, ``design_id`` (4 bytes), ``len`` (2 bytes), the outputs as
  ``bytes_per_output`` bytes each (sign-extended for a signed output format), then ``crc``;
* NAK: ``0x15``, the request's ``seq``, ``design_id``, ``len`` (the number of request data bytes the
  board expects), then ``crc`` and no data: the board dropped the request (bad CRC, wrong ``len``,
  framing error, or a pause of ``timeout_bits`` bit times inside it).

``crc`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final XOR; check value
0x29B1 for ``b"123456789"``) over the whole frame before it, sync byte included; sent high byte
first, it makes the CRC of the whole frame 0. ``design_id`` is the first 4 bytes of the SHA-256 of
the accelerator's Verilog, read as a big-endian integer: a bundle's ``protocol.json`` and the board's
bitstream carry the same one, so a host talking to another design stops at its first frame.

The host flushes its input before each request, gives each request (retries included) a new
``seq`` and discards any frame whose ``seq`` is not the one it waits for, so a late, duplicated or
stale reply is never taken for another request's answer. The board ignores bytes outside a
request, so after a failure the host resynchronises by staying silent for longer than the
board's timeout and flushing its input before it sends the request again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from zerogate.errors import ConfigError, ToolError

SYNC_REQUEST = 0xA5
SYNC_REPLY = 0x5A
NAK = 0x15
#: Bytes before the data: sync, seq and len in a request; sync, seq, design_id and len in a reply.
REQUEST_HEADER = 4
REPLY_HEADER = 8
CRC_BYTES = 2
#: ``protocol`` in ``protocol.json``: the frame format above.
PROTOCOL_NAME = "zerogate-uart-2"
#: Default baud rate of the board top level and of :class:`Board`.
DEFAULT_BAUD = 115_200
#: Default inter-byte timeout of the board, in bit times (~8.7 ms at 115200 baud).
DEFAULT_TIMEOUT_BITS = 1000
_MAX_LEN = 0xFFFF  # len is a 2-byte field


class LinkError(ToolError):
    """The board did not answer a request correctly, even after retries."""


class DesignMismatch(LinkError):
    """The board answers, but runs another design (or widths) than the host was given."""


class SerialLike(Protocol):
    """What :class:`Board` needs of a port: pyserial's ``Serial`` (or ``serial_for_url``) has it."""

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte << 8
        for _ in range(8):
            c = (c << 1) ^ 0x1021 if c & 0x8000 else c << 1
        table.append(c & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, MSB first, no final XOR)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ b]
    return crc


def with_crc(frame: bytes) -> bytes:
    """``frame`` followed by its CRC, high byte first (so the CRC of the result is 0)."""
    return frame + crc16(frame).to_bytes(2, "big")


def design_id(verilog: str | Path) -> int:
    """A design's identity on the wire: the first 4 bytes of the SHA-256 of its Verilog file."""
    try:
        return int.from_bytes(hashlib.sha256(Path(verilog).read_bytes()).digest()[:4], "big")
    except OSError as e:
        raise ConfigError(f"cannot read the accelerator's Verilog {verilog} ({e.strerror}); regenerate the "
                          "design") from None


@dataclass(frozen=True)
class Frame:
    """One CRC-valid frame from the board: a reply (``kind == SYNC_REPLY``) or a NAK."""

    kind: int
    seq: int
    design_id: int
    length: int  # a reply's data bytes; a NAK's: the request data bytes the board expects
    data: bytes


def split_frame(buf: bytes | bytearray) -> tuple[Frame | None, int, int]:
    """Look for a board frame at the start of ``buf``: ``(frame, consumed, wanted)``.

    ``(frame, n, 0)``: a CRC-valid frame of ``n`` bytes; ``(None, 1, 0)``: ``buf[0]`` cannot start one
    (noise, or a damaged frame: drop the byte and look again); ``(None, 0, k)``: ``buf`` may start a
    frame but needs at least ``k`` more bytes.
    """
    if not buf:
        return None, 0, 1
    if buf[0] not in (SYNC_REPLY, NAK):
        return None, 1, 0
    if len(buf) < REPLY_HEADER:
        return None, 0, REPLY_HEADER + CRC_BYTES - len(buf)
    length = int.from_bytes(buf[6:8], "little")
    total = REPLY_HEADER + (length if buf[0] == SYNC_REPLY else 0) + CRC_BYTES
    if len(buf) < total:
        return None, 0, total - len(buf)
    if crc16(buf[:total]) != 0:
        return None, 1, 0
    frame = Frame(kind=buf[0], seq=buf[1], design_id=int.from_bytes(buf[2:6], "little"), length=length,
                  data=bytes(buf[REPLY_HEADER:total - CRC_BYTES]))
    return frame, total, 0


@dataclass(frozen=True)
class UartProtocol:
    """Sizes, formats and identity of one design's requests and replies (``protocol.json`` in a bundle)."""

    in_features: int
    in_bits: int
    in_signed: bool
    out_features: int
    out_bits: int
    out_signed: bool
    design_id: int
    baud: int = DEFAULT_BAUD
    timeout_bits: int = DEFAULT_TIMEOUT_BITS

    def __post_init__(self) -> None:
        if min(self.in_features, self.in_bits, self.out_features, self.out_bits) < 1:
            raise ConfigError(f"protocol sizes must be positive: {self}")
        if self.baud < 1 or self.timeout_bits < 16:
            raise ConfigError(f"baud {self.baud} must be positive and timeout_bits {self.timeout_bits} "
                              "at least 16")
        if max(self.request_bytes, self.reply_bytes) > _MAX_LEN:
            raise ConfigError(f"a frame holds at most {_MAX_LEN} data bytes; this design needs "
                              f"{self.request_bytes} in and {self.reply_bytes} out: drive it through the "
                              "AXI4-Stream wrapper instead")
        if not 0 <= self.design_id <= 0xFFFF_FFFF:
            raise ConfigError(f"design_id {self.design_id} is not a 32-bit number; regenerate the bundle")

    @property
    def bytes_per_input(self) -> int:
        return math.ceil(self.in_bits / 8)

    @property
    def bytes_per_output(self) -> int:
        return math.ceil(self.out_bits / 8)

    @property
    def request_bytes(self) -> int:
        """Data bytes in a request (without its header and CRC)."""
        return self.in_features * self.bytes_per_input

    @property
    def reply_bytes(self) -> int:
        """Data bytes in a reply (without its header and CRC)."""
        return self.out_features * self.bytes_per_output

    @property
    def design_hex(self) -> str:
        return f"0x{self.design_id:08x}"

    @classmethod
    def from_design(cls, design: Any, *, baud: int = DEFAULT_BAUD, timeout_bits: int = DEFAULT_TIMEOUT_BITS,
                    folder: str | Path | None = None) -> UartProtocol:
        """From a :class:`hwgen.verilog.GeneratedDesign`, or the mapping in its ``design.json`` (then
        ``folder`` is where that file is: the Verilog beside it gives the design's identity)."""
        if isinstance(design, Mapping):
            d, verilog = design, Path(folder or ".") / design["verilog_path"]
        else:
            d, verilog = design.to_dict(), design.verilog_path
        last = d["layers"][-1]
        return cls(in_features=d["in_features"], in_bits=d["in_bits"], in_signed=d["in_signed"],
                   out_features=last["out_features"], out_bits=last["out_bits"],
                   out_signed=last["out_signed"], design_id=design_id(verilog), baud=baud,
                   timeout_bits=timeout_bits)

    @classmethod
    def load(cls, path: str | Path) -> UartProtocol:
        """From a bundle folder, its ``protocol.json``, or a ``design.json`` (with default link settings)."""
        p = Path(path)
        candidates = [p] if p.is_file() else [p / "protocol.json", p / "design.json",
                                              p / "rtl" / "design.json"]
        for c in candidates:
            if not c.is_file():
                continue
            try:
                d = json.loads(c.read_text())
                if c.name != "protocol.json":
                    return cls.from_design(d, folder=c.parent)
                if d.pop("protocol", None) != PROTOCOL_NAME:
                    raise ConfigError(f"{c}: written for another version of the board protocol; regenerate "
                                      "the bundle (and its bitstream) with this zerogate")
                return cls(**{**d, "design_id": int(d["design_id"], 16)})
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
                raise ConfigError(f"{c}: not a zerogate protocol or design file ({type(e).__name__}); "
                                  "regenerate the bundle") from None
        raise ConfigError(f"{p}: no protocol.json or design.json there; point at a bundle folder")

    def to_json(self) -> str:
        d = {**asdict(self), "design_id": self.design_hex, "protocol": PROTOCOL_NAME}
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    def encode_inputs(self, x: Sequence[int] | np.ndarray) -> bytes:
        """A request's data bytes for one input vector of integers (range-checked)."""
        v = np.asarray(x)
        if v.shape != (self.in_features,) or not np.issubdtype(v.dtype, np.integer):
            raise ConfigError(f"input must be {self.in_features} integers, got shape {v.shape} of {v.dtype}")
        lo, hi = (-(1 << (self.in_bits - 1)), (1 << (self.in_bits - 1)) - 1) if self.in_signed \
            else (0, (1 << self.in_bits) - 1)
        if v.min() < lo or v.max() > hi:
            raise ConfigError(f"input integers must lie in [{lo}, {hi}] ({self.in_bits}-bit "
                              f"{'signed' if self.in_signed else 'unsigned'}), got [{v.min()}, {v.max()}]")
        n = self.bytes_per_input
        return b"".join(int(e).to_bytes(n, "little", signed=bool(e < 0)) for e in v)

    def encode_request(self, x: Sequence[int] | np.ndarray, seq: int) -> bytes:
        """The request frame with sequence number ``seq`` (0..255) for one input vector."""
        data = self.encode_inputs(x)
        return with_crc(bytes([SYNC_REQUEST, seq & 0xFF]) + len(data).to_bytes(2, "little") + data)

    def decode_reply(self, data: bytes) -> np.ndarray:
        """Output integers from a reply's data bytes."""
        n = self.bytes_per_output
        return np.array([int.from_bytes(data[k:k + n], "little", signed=self.out_signed)
                         for k in range(0, len(data), n)], dtype=np.int64)

    def check_board(self, frame: Frame) -> None:
        """Raise :class:`DesignMismatch` unless ``frame`` comes from a board running this design."""
        if frame.design_id != self.design_id:
            raise DesignMismatch(f"this board runs design 0x{frame.design_id:08x}; the bundle is for "
                                 f"{self.design_hex}: program the matching bitstream or use its bundle")
        if frame.kind == SYNC_REPLY and frame.length != self.reply_bytes:
            raise DesignMismatch(f"the board sends {frame.length} output bytes per reply; the protocol gives "
                                 f"{self.reply_bytes} ({self.out_features} x {self.bytes_per_output}): "
                                 "regenerate protocol.json with the bundle of this bitstream")
        if frame.kind == NAK and frame.length != self.request_bytes:
            raise DesignMismatch(f"the board expects {frame.length} input bytes per request; the protocol "
                                 f"gives {self.request_bytes} ({self.in_features} x {self.bytes_per_input}): "
                                 "regenerate protocol.json with the bundle of this bitstream")


class Board:
    """A zerogate accelerator behind the UART top level, on a serial port or a serial-like object.

    ``port`` is a device (``/dev/ttyUSB0``, ``COM3``), any pyserial URL (``socket://host:port``), or an
    open serial-like object (then the caller owns it, and its own read timeout applies as well).
    ``design`` is a :class:`UartProtocol`, a bundle folder, or a generated design. A request that
    fails (NAK, no valid reply within ``timeout_s``) is resent with a new sequence number up to
    ``retries`` times before a :class:`LinkError`; a board that runs another design raises
    :class:`DesignMismatch` at once.
    """

    def __init__(self, port: str | SerialLike, design: UartProtocol | str | Path | Any, *,
                 baud: int | None = None, timeout_s: float = 1.0, retries: int = 3) -> None:
        if isinstance(design, UartProtocol):
            self.protocol = design
        elif isinstance(design, str | Path):
            self.protocol = UartProtocol.load(design)
        else:
            self.protocol = UartProtocol.from_design(design)
        self.baud = baud or self.protocol.baud
        self.timeout_s = timeout_s
        self.retries = retries
        self.failures = 0  # requests that had to be resent
        self.discarded = 0  # valid frames dropped because they answered another request
        self._seq = os.urandom(1)[0]  # a fresh start: a reply to a previous session's request does not match
        if isinstance(port, str):
            import serial  # pyserial; only needed for real ports and URLs

            try:
                self._port: SerialLike = serial.serial_for_url(port, baudrate=self.baud, timeout=timeout_s)
            except (serial.SerialException, ValueError) as e:
                raise LinkError(f"cannot open serial port {port!r} ({e}); check the cable and the "
                                "port name") from None
            self._owned = True
        else:
            self._port, self._owned = port, False

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the port if this object opened it."""
        if self._owned:
            self._port.close()

    def resync(self) -> None:
        """Stay silent past the board's request timeout, then drop whatever arrived meanwhile."""
        time.sleep(2.0 * self.protocol.timeout_bits / self.baud + 0.002)
        self._port.reset_input_buffer()

    def _await(self, seq: int) -> tuple[np.ndarray | None, str]:
        """Read frames until the reply (or NAK) to request ``seq``; the outputs, or None and why not."""
        deadline = time.monotonic() + self.timeout_s
        buf = bytearray()
        why = "no reply (timeout)"
        stalled = False  # nothing more will be read: parse what is left
        while True:
            frame, used, wanted = split_frame(buf)
            if used:
                del buf[:used]
                if frame is None:
                    why = "no valid reply (damaged frame or noise)"
                    continue
                self.protocol.check_board(frame)
                if frame.seq != seq:
                    self.discarded += 1  # late, duplicated or stale: another request's frame
                    continue
                if frame.kind == NAK:
                    return None, "the board rejected the request (NAK)"
                return self.protocol.decode_reply(frame.data), ""
            if stalled:
                if not buf:
                    return None, why
                del buf[:1]  # an incomplete frame start that nothing completes: look past it
                continue
            chunk = self._port.read(wanted)
            buf += chunk
            if not chunk or time.monotonic() > deadline:
                stalled = True

    def infer(self, x: Sequence[int] | np.ndarray) -> np.ndarray:
        """The accelerator's output integers for one input vector of integers."""
        self.protocol.encode_inputs(x)  # a bad input is the caller's error, not a link failure
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.failures += 1
                self.resync()
            self._seq = (self._seq + 1) & 0xFF
            self._port.reset_input_buffer()
            self._port.write(self.protocol.encode_request(x, self._seq))
            out, why = self._await(self._seq)
            if out is not None:
                return out
        raise LinkError(f"board did not answer after {self.retries + 1} attempts: {why}; check the port, "
                        f"the baud rate ({self.baud}) and that the bitstream matches this design")

    def predict(self, x: Sequence[int] | np.ndarray) -> int:
        """The predicted class: the index of the largest output (first one on ties, like numpy)."""
        return int(np.argmax(self.infer(x)))

    def classify(self, xs: np.ndarray) -> np.ndarray:
        """:meth:`predict` for each row of ``xs``."""
        return np.array([self.predict(x) for x in np.asarray(xs)], dtype=np.int64)
