"""Drive the UART board top level from a PC: send input integers, read the accelerator's outputs.

The same :class:`Board` drives a real board (``Board("/dev/ttyUSB0", "build/digits-mlp/bundle")``)
and the Verilator simulation of the same top level (``sim.uart`` bridges a pseudo-terminal to the
simulated UART pins), so the host code that is tested is the code that runs against hardware.

Wire protocol (8N1; ``rtl_templates/rtl/uart_top.v.j2`` implements the other end):

* request: ``0xA5``, the inputs as ``bytes_per_input`` little-endian two's-complement bytes each,
  then a checksum byte;
* reply: ``0x5A``, the outputs as ``bytes_per_output`` little-endian bytes each (sign-extended for a
  signed output format), then a checksum byte;
* ``0x15`` (NAK) alone: the board dropped a request (bad checksum, framing error, or a pause of
  ``timeout_bits`` bit times inside it).

The checksum makes the data bytes plus itself sum to 0 mod 256. The board ignores bytes outside a
request, so after any failure the host resynchronises by staying silent for longer than the
board's timeout, flushing its input, and sending the request again.
"""

from __future__ import annotations

import json
import math
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
#: Default baud rate of the board top level and of :class:`Board`.
DEFAULT_BAUD = 115_200
#: Default inter-byte timeout of the board, in bit times (~8.7 ms at 115200 baud).
DEFAULT_TIMEOUT_BITS = 1000


class LinkError(ToolError):
    """The board did not answer a request correctly, even after retries."""


class SerialLike(Protocol):
    """What :class:`Board` needs of a port: pyserial's ``Serial`` (or ``serial_for_url``) has it."""

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def checksum(data: bytes) -> int:
    """The byte that makes ``data`` plus itself sum to 0 mod 256."""
    return -sum(data) & 0xFF


@dataclass(frozen=True)
class UartProtocol:
    """Sizes and formats of one design's requests and replies (``protocol.json`` in a bundle)."""

    in_features: int
    in_bits: int
    in_signed: bool
    out_features: int
    out_bits: int
    out_signed: bool
    baud: int = DEFAULT_BAUD
    timeout_bits: int = DEFAULT_TIMEOUT_BITS

    def __post_init__(self) -> None:
        if min(self.in_features, self.in_bits, self.out_features, self.out_bits) < 1:
            raise ConfigError(f"protocol sizes must be positive: {self}")
        if self.baud < 1 or self.timeout_bits < 16:
            raise ConfigError(f"baud {self.baud} must be positive and timeout_bits {self.timeout_bits} "
                              "at least 16")

    @property
    def bytes_per_input(self) -> int:
        return math.ceil(self.in_bits / 8)

    @property
    def bytes_per_output(self) -> int:
        return math.ceil(self.out_bits / 8)

    @property
    def request_bytes(self) -> int:
        """Data bytes in a request (without the sync and checksum bytes)."""
        return self.in_features * self.bytes_per_input

    @property
    def reply_bytes(self) -> int:
        """Data bytes in a reply (without the sync and checksum bytes)."""
        return self.out_features * self.bytes_per_output

    @classmethod
    def from_design(cls, design: Any, *, baud: int = DEFAULT_BAUD,
                    timeout_bits: int = DEFAULT_TIMEOUT_BITS) -> UartProtocol:
        """From a :class:`hwgen.verilog.GeneratedDesign` or the mapping in its ``design.json``."""
        d = design if isinstance(design, Mapping) else design.to_dict()
        last = d["layers"][-1]
        return cls(in_features=d["in_features"], in_bits=d["in_bits"], in_signed=d["in_signed"],
                   out_features=last["out_features"], out_bits=last["out_bits"],
                   out_signed=last["out_signed"], baud=baud, timeout_bits=timeout_bits)

    @classmethod
    def load(cls, path: str | Path) -> UartProtocol:
        """From a bundle folder, its ``protocol.json``, or a ``design.json`` (with default link settings)."""
        p = Path(path)
        candidates = [p] if p.is_file() else [p / "protocol.json", p / "design.json",
                                              p / "rtl" / "design.json"]
        for c in candidates:
            if c.is_file():
                try:
                    d = json.loads(c.read_text())
                    return cls(**d) if c.name == "protocol.json" else cls.from_design(d)
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise ConfigError(f"{c}: not a zerogate protocol or design file ({type(e).__name__}); "
                                      "regenerate the bundle") from None
        raise ConfigError(f"{p}: no protocol.json or design.json there; point at a bundle folder")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def encode_request(self, x: Sequence[int] | np.ndarray) -> bytes:
        """The request frame for one input vector of integers (range-checked)."""
        v = np.asarray(x)
        if v.shape != (self.in_features,) or not np.issubdtype(v.dtype, np.integer):
            raise ConfigError(f"input must be {self.in_features} integers, got shape {v.shape} of {v.dtype}")
        lo, hi = (-(1 << (self.in_bits - 1)), (1 << (self.in_bits - 1)) - 1) if self.in_signed \
            else (0, (1 << self.in_bits) - 1)
        if v.min() < lo or v.max() > hi:
            raise ConfigError(f"input integers must lie in [{lo}, {hi}] ({self.in_bits}-bit "
                              f"{'signed' if self.in_signed else 'unsigned'}), got [{v.min()}, {v.max()}]")
        n = self.bytes_per_input
        data = b"".join(int(e).to_bytes(n, "little", signed=True) if e < 0 else int(e).to_bytes(n, "little")
                        for e in v)
        return bytes([SYNC_REQUEST]) + data + bytes([checksum(data)])

    def decode_reply(self, data: bytes) -> np.ndarray:
        """Output integers from a reply's data bytes (sync and checksum already stripped)."""
        n = self.bytes_per_output
        return np.array([int.from_bytes(data[k:k + n], "little", signed=self.out_signed)
                         for k in range(0, len(data), n)], dtype=np.int64)


class Board:
    """A zerogate accelerator behind the UART top level, on a serial port or a serial-like object.

    ``port`` is a device (``/dev/ttyUSB0``, ``COM3``), any pyserial URL (``socket://host:port``), or an
    open serial-like object (then the caller owns it). ``design`` is a :class:`UartProtocol`, a bundle
    folder, or a generated design. Requests that fail (NAK, timeout, bad checksum) are resent up to
    ``retries`` times before a :class:`LinkError`.
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
        self.retries = retries
        self.failures = 0  # requests that had to be resent
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

    def _exchange(self, frame: bytes) -> tuple[np.ndarray | None, str]:
        """One request; the outputs, or None and why it failed."""
        self._port.write(frame)
        head = self._port.read(1)
        if not head:
            return None, "no reply (timeout)"
        if head[0] == NAK:
            return None, "the board rejected the request (NAK)"
        if head[0] != SYNC_REPLY:
            return None, f"unexpected byte 0x{head[0]:02X} instead of a reply"
        want = self.protocol.reply_bytes + 1
        body = self._port.read(want)
        if len(body) != want:
            return None, f"reply cut short ({len(body)} of {want} bytes)"
        data, chk = body[:-1], body[-1]
        if checksum(data) != chk:
            return None, "reply checksum mismatch"
        return self.protocol.decode_reply(data), ""

    def infer(self, x: Sequence[int] | np.ndarray) -> np.ndarray:
        """The accelerator's output integers for one input vector of integers."""
        frame = self.protocol.encode_request(x)
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.failures += 1
                self.resync()
            out, why = self._exchange(frame)
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
