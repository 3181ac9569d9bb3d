"""The host side of the board protocol without a board: CRC, frames, and what Board does with the
frames a scripted board sends (stale, damaged, foreign, random). The real board top level is in
tests/sim/test_uart.py."""

import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from zerogate.errors import ConfigError
from zerogate.host import (
    CRC_BYTES,
    NAK,
    PROTOCOL_NAME,
    REPLY_HEADER,
    REQUEST_HEADER,
    SYNC_REPLY,
    SYNC_REQUEST,
    Board,
    DesignMismatch,
    Frame,
    LinkError,
    UartProtocol,
    crc16,
    split_frame,
    with_crc,
)

PROTO = UartProtocol(in_features=3, in_bits=10, in_signed=True, out_features=4, out_bits=12, out_signed=True,
                     design_id=0x1234ABCD, timeout_bits=16)


def board_frame(kind: int, seq: int, data: bytes = b"", *, design_id: int = PROTO.design_id,
                length: int | None = None) -> bytes:
    """A frame as the board top level builds it (uart_top.v.j2), written out field by field."""
    n = len(data) if length is None else length
    return with_crc(bytes([kind, seq]) + design_id.to_bytes(4, "little") + n.to_bytes(2, "little") + data)


def outputs(v: list[int]) -> bytes:
    return b"".join(int(e).to_bytes(2, "little", signed=True) for e in v)


class ScriptedBoard:
    """A serial-like stand-in for a board: each request is answered by ``answer(seq, data)``, the
    bytes the host then reads (empty: nothing arrives, as on a timeout)."""

    def __init__(self, answer: Callable[[int, bytes], bytes]) -> None:
        self.answer, self.inbox, self.requests = answer, bytearray(), []

    def write(self, data: bytes, /) -> int:
        assert data[0] == SYNC_REQUEST and crc16(data) == 0
        assert int.from_bytes(data[2:4], "little") == len(data) - REQUEST_HEADER - CRC_BYTES
        self.requests.append(data)
        self.inbox += self.answer(data[1], data[REQUEST_HEADER:-CRC_BYTES])
        return len(data)

    def read(self, size: int = 1, /) -> bytes:
        out = bytes(self.inbox[:size])
        del self.inbox[:size]
        return out

    def reset_input_buffer(self) -> None:
        self.inbox.clear()

    def close(self) -> None:
        pass


def test_crc_is_crc16_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the published check value
    assert crc16(b"") == 0xFFFF
    assert crc16(bytes(8)) != 0  # all-zero frames do not check out
    frame = with_crc(b"\x5a\x01\x02")
    assert crc16(frame) == 0 and frame[-2:] == crc16(b"\x5a\x01\x02").to_bytes(2, "big")


def test_request_layout() -> None:
    req = PROTO.encode_request([-1, 511, -512], seq=0x1C5)
    assert req[:4] == bytes([SYNC_REQUEST, 0xC5, 6, 0])  # sync, seq (mod 256), len 6 little-endian
    assert req[4:10] == bytes([0xFF, 0xFF, 0xFF, 0x01, 0x00, 0xFE])
    assert len(req) == REQUEST_HEADER + 6 + CRC_BYTES and crc16(req) == 0
    unsigned = replace(PROTO, in_bits=8, in_signed=False)
    assert unsigned.encode_request([0, 200, 255], seq=0)[4:7] == bytes([0, 200, 255])
    with pytest.raises(ConfigError, match=r"must lie in \[-512, 511\]"):
        PROTO.encode_request([0, 0, 512], seq=0)
    with pytest.raises(ConfigError, match="input must be 3 integers"):
        PROTO.encode_request([0, 0], seq=0)


def test_a_reply_and_a_nak_parse() -> None:
    data = outputs([-2048, 2047, 0, -1])
    rep = board_frame(SYNC_REPLY, 9, data)
    assert split_frame(rep + b"\x00") == (Frame(SYNC_REPLY, 9, PROTO.design_id, 8, data), len(rep), 0)
    assert PROTO.decode_reply(data).tolist() == [-2048, 2047, 0, -1]
    nak = board_frame(NAK, 3, length=6)
    assert split_frame(nak) == (Frame(NAK, 3, PROTO.design_id, 6, b""), REPLY_HEADER + CRC_BYTES, 0)
    assert split_frame(rep[:5]) == (None, 0, REPLY_HEADER + CRC_BYTES - 5)
    assert split_frame(rep[:9]) == (None, 0, len(rep) - 9)
    assert split_frame(b"\x00" + rep) == (None, 1, 0)


def test_every_one_to_three_bit_error_in_a_frame_is_rejected() -> None:
    """CRC-16/CCITT detects every error of up to 3 bits in a frame this short (Hamming distance 4)."""
    frame = board_frame(SYNC_REPLY, 200, outputs([5, -6, 7, -8]))
    n = 8 * len(frame)
    rng = random.Random(0)
    flips = [(i,) for i in range(n)] + [tuple(rng.sample(range(n), k)) for k in (2, 3) for _ in range(3000)]
    for bits in flips:
        bad = bytearray(frame)
        for b in bits:
            bad[b // 8] ^= 1 << (b % 8)
        assert split_frame(bad)[0] is None, bits


def test_random_garbage_is_never_a_frame() -> None:
    """2000 random byte strings, and 2000 frames with a right header but random data and CRC, give
    no frame (an additive checksum byte accepted about 1 in 256 of the latter)."""
    rng = random.Random(1)
    header = bytes([SYNC_REPLY, 1]) + PROTO.design_id.to_bytes(4, "little") + (8).to_bytes(2, "little")
    junk = [rng.randbytes(rng.randrange(1, 40)) for _ in range(2000)]
    junk += [header + rng.randbytes(8 + CRC_BYTES) for _ in range(2000)]
    junk += [bytes([SYNC_REPLY]) + bytes(n) for n in range(1, 40)]  # 0x5A and zeros
    found = 0
    for j in junk:
        buf = bytearray(j)
        while buf:  # scan every offset, as the host does once nothing more arrives
            frame, used, _ = split_frame(buf)
            found += frame is not None
            del buf[:max(used, 1)]
    assert found == 0


def test_board_never_returns_a_random_reply() -> None:
    """Through Board: replies with the right sync, seq, design id and length but random contents."""
    rng = random.Random(2)
    port = ScriptedBoard(lambda seq, _: board_frame(SYNC_REPLY, seq, rng.randbytes(8))[:-2]
                         + rng.randbytes(2))
    board = Board(port, PROTO, retries=0)
    failed = 0
    for _ in range(2000):
        try:
            board.infer([0, 0, 0])
        except LinkError:
            failed += 1
    assert failed == 2000


def golden_answer(seq: int, data: bytes) -> bytes:
    """The scripted board's 'inference': each output is the sum of the inputs plus its index."""
    x = PROTO.decode_reply(data)  # the inputs use the same 2-byte signed encoding
    return board_frame(SYNC_REPLY, seq, outputs([int(x.sum()) + k for k in range(4)]))


def test_stale_and_duplicated_replies_are_discarded() -> None:
    """The board answers the previous request (late) and repeats it before the right reply."""
    previous: list[bytes] = []

    def answer(seq: int, data: bytes) -> bytes:
        stale = previous[-1] if previous else b""
        previous.append(golden_answer(seq, data))
        return stale + stale + board_frame(NAK, (seq - 1) & 0xFF, length=6) + previous[-1]

    board = Board(ScriptedBoard(answer), PROTO)
    for v in ([1, 2, 3], [4, 5, 6], [7, 8, 9]):
        assert board.infer(v).tolist() == [sum(v) + k for k in range(4)]
    assert board.discarded == 2 * 2 + 3 and board.failures == 0


def test_a_nak_for_this_request_is_retried_with_a_new_seq() -> None:
    naks = iter([True, True, False])
    port = ScriptedBoard(lambda seq, data: board_frame(NAK, seq, length=6) if next(naks)
                         else golden_answer(seq, data))
    board = Board(port, PROTO, retries=2)
    assert board.infer([1, 1, 1]).tolist() == [3, 4, 5, 6]
    seqs = [r[1] for r in port.requests]
    assert board.failures == 2 and seqs[1:] == [(s + 1) & 0xFF for s in seqs[:-1]]
    always = ScriptedBoard(lambda seq, _: board_frame(NAK, seq, length=6))
    with pytest.raises(LinkError, match="after 1 attempts: the board rejected the request"):
        Board(always, PROTO, retries=0).infer([0, 0, 0])


@pytest.mark.parametrize(("frame", "says"), [
    (lambda seq: board_frame(SYNC_REPLY, seq, bytes(8), design_id=0xDEADBEEF),
     "this board runs design 0xdeadbeef; the bundle is for 0x1234abcd: program the matching bitstream"),
    (lambda seq: board_frame(NAK, seq ^ 0x55, design_id=0xDEADBEEF, length=6), "runs design 0xdeadbeef"),
    (lambda seq: board_frame(SYNC_REPLY, seq, bytes(10)),
     "the board sends 10 output bytes per reply; the protocol gives 8 .4 x 2.: regenerate protocol.json"),
    (lambda seq: board_frame(NAK, seq, length=9),
     "the board expects 9 input bytes per request; the protocol gives 6 .3 x 2."),
])
def test_another_design_or_other_widths_fail_at_once(frame: Callable[[int], bytes], says: str) -> None:
    port = ScriptedBoard(lambda seq, _: frame(seq))
    board = Board(port, PROTO, retries=3)
    with pytest.raises(DesignMismatch, match=says) as e:
        board.infer([0, 0, 0])
    assert len(port.requests) == 1 and "\n" not in str(e.value)


def test_protocol_json_round_trip_and_old_files(tmp_path: Path) -> None:
    (tmp_path / "protocol.json").write_text(PROTO.to_json())
    d = json.loads(PROTO.to_json())
    assert d["design_id"] == "0x1234abcd" and d["protocol"] == PROTOCOL_NAME
    assert UartProtocol.load(tmp_path) == PROTO
    old = {k: v for k, v in d.items() if k not in ("design_id", "protocol")}  # the checksum protocol's file
    (tmp_path / "protocol.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="another version of the board protocol; regenerate the bundle"):
        UartProtocol.load(tmp_path)
    (tmp_path / "protocol.json").write_text(json.dumps({**d, "design_id": "zz"}))
    with pytest.raises(ConfigError, match="not a zerogate protocol"):
        UartProtocol.load(tmp_path)


def test_board_outputs_are_numpy_integers() -> None:
    out = Board(ScriptedBoard(golden_answer), PROTO).infer(np.array([1, -2, 3]))
    assert out.dtype == np.int64 and out.tolist() == [2, 3, 4, 5]
