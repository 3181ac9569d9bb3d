"""The UART board top level on Verilator, driven by the same host driver that drives a board.

Every test talks to the simulation through a pseudo-terminal opened with pyserial, so the bytes
cross a real serial-port API, the board's UART receiver and transmitter, and the framing logic.
"""

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial
from netgen import random_inputs, random_network

from hwgen.verilog import generate
from sim.axis import simulate_axis
from sim.uart import uart_simulation
from zerogate import golden
from zerogate.errors import ConfigError
from zerogate.fixedpoint import FixedFormat
from zerogate.host import (
    CRC_BYTES,
    NAK,
    REPLY_HEADER,
    REQUEST_HEADER,
    SYNC_REPLY,
    Board,
    DesignMismatch,
    Frame,
    LinkError,
    UartProtocol,
    split_frame,
    with_crc,
)
from zerogate.ir import Network


def _outputs_match(net: Network, tmp_path: Path, n: int, *, in_lanes: int, out_lanes: int, div: int) -> None:
    design = generate(net, tmp_path / "rtl", in_lanes=in_lanes, out_lanes=out_lanes)
    x = random_inputs(np.random.default_rng(3), net, n)
    expect = golden.run(net, x)
    with uart_simulation(design, tmp_path / "sim", div=div) as sim, \
            Board(sim.port, sim.protocol, timeout_s=10) as board:
        got = np.array([board.infer(v) for v in x])
        assert board.failures == 0
    assert sim.result["framing_errors"] == 0
    assert sim.result["bytes_from_host"] == n * (REQUEST_HEADER + sim.protocol.request_bytes + CRC_BYTES)
    assert sim.result["bytes_to_host"] == n * (REPLY_HEADER + sim.protocol.reply_bytes + CRC_BYTES)
    np.testing.assert_array_equal(got, expect)


def test_two_byte_signed_inputs(tmp_path: Path) -> None:
    """10-bit signed inputs travel as two bytes each; one input beat per vector."""
    net = random_network(5, (6, 5, 4), in_format=FixedFormat(10, 3, True))
    _outputs_match(net, tmp_path, 40, in_lanes=6, out_lanes=4, div=4)


def test_two_byte_signed_outputs(small_net: Network, tmp_path: Path) -> None:
    """12-bit signed outputs are sign-extended to two bytes; several beats each way."""
    assert small_net.output.bits == 12 and small_net.output.signed
    _outputs_match(small_net, tmp_path, 40, in_lanes=5, out_lanes=2, div=7)


def _frames(data: bytes) -> list[Frame]:
    """Every CRC-valid board frame in ``data``."""
    out, buf = [], bytearray(data)
    while buf:
        frame, used, _ = split_frame(buf)
        if frame is not None:
            out.append(frame)
        del buf[:max(used, 1)]
    return out


def test_padded_last_beats_both_ways(tmp_path: Path) -> None:
    """7 inputs in beats of 3 and 3 outputs in beats of 2: the board top streams each request into
    the accelerator a beat at a time and completes the last beat with zero bytes."""
    net = random_network(4, (7, 5, 3))
    _outputs_match(net, tmp_path, 30, in_lanes=3, out_lanes=2, div=5)


@pytest.mark.parametrize(("sizes", "in_lanes"), [((8, 4, 3), 4), ((7, 5, 3), 3)])
def test_damaged_requests_get_a_nak_and_the_link_recovers(tmp_path: Path, sizes: tuple[int, ...],
                                                          in_lanes: int) -> None:
    """Each damaged request still runs one (dropped) inference, so the next request lines up; its NAK
    names the request (seq), the design and the request length the board expects."""
    net = random_network(2, sizes)
    design = generate(net, tmp_path / "rtl", in_lanes=in_lanes, out_lanes=2)
    x = random_inputs(np.random.default_rng(0), net, 4)
    expect = golden.run(net, x)
    with uart_simulation(design, tmp_path / "sim", div=4, timeout_bits=32) as sim:
        proto = sim.protocol
        nak_len = REPLY_HEADER + CRC_BYTES
        good = proto.encode_request(x[0], seq=7)
        naks = []
        with serial.Serial(sim.port, proto.baud, timeout=10) as port:
            port.write(good[:-1] + bytes([good[-1] ^ 0x01]))  # bad CRC
            naks.append((0x07, port.read(nak_len)))
            port.write(good[:5])  # request that stops half-way: dropped after the timeout
            naks.append((0x07, port.read(nak_len)))
            other_len = bytearray(good)
            other_len[2] += 1  # another design's request length: refused at the header
            port.write(with_crc(bytes(other_len[:-2])))
            naks.append((0x07, port.read(nak_len)))
            port.reset_input_buffer()
            time.sleep(0.2)  # past the board's timeout: the rest of that request is ignored
            port.write(b"\x00\x5a\xff" + proto.encode_request(x[0], seq=8))  # noise before a request
            reply = _frames(port.read(REPLY_HEADER + proto.reply_bytes + CRC_BYTES))
            # a host that died mid-request: the board's timeout and Board's resync recover
            port.write(good[:3])
            board = Board(port, proto, timeout_s=1)
            got = [board.infer(v) for v in x[1:]]
            assert board.failures == 1
        for seq, raw in naks:
            assert _frames(raw) == [Frame(kind=NAK, seq=seq, design_id=proto.design_id,
                                          length=proto.request_bytes, data=b"")]
        assert len(reply) == 1 and (reply[0].kind, reply[0].seq) == (SYNC_REPLY, 8)
        assert reply[0].design_id == proto.design_id and reply[0].length == proto.reply_bytes
        np.testing.assert_array_equal(proto.decode_reply(reply[0].data), expect[0])
        np.testing.assert_array_equal(np.array(got), expect[1:])
    assert sim.result["framing_errors"] == 0


def test_board_reports_a_dead_link_in_one_line(tmp_path: Path) -> None:
    proto = UartProtocol(in_features=4, in_bits=5, in_signed=False, out_features=3, out_bits=8,
                         out_signed=True, design_id=0x1234ABCD, timeout_bits=16, baud=115200)
    board = Board("loop://", proto, timeout_s=0.05, retries=1)  # echoes the request back: never a reply
    with pytest.raises(LinkError, match="did not answer after 2 attempts") as e:
        board.infer([1, 2, 3, 4])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"must lie in \[0, 31\]"):
        board.infer([1, 2, 3, 40])
    with pytest.raises(LinkError, match="cannot open serial port"):
        Board(str(tmp_path / "no-such-tty"), proto)


FAULTS = ("drop", "late", "duplicate", "corrupt", "truncate", "noise")


class FaultyReplies:
    """A serial-like wrapper between :class:`Board` and the simulated board's port that damages the
    board's frames on their way to the host, one fault per frame from ``plan`` (then none).

    ``late`` holds a frame back until the host's next request has been written, so it arrives while
    the host waits for that request's reply, as a reply does that comes after the host gave up.
    """

    def __init__(self, port: serial.Serial, proto: UartProtocol, plan: list[str], *, seed: int,
                 timeout_s: float) -> None:
        self.port, self.plan, self.timeout_s = port, list(plan), timeout_s
        self.rng = random.Random(seed)
        self.sizes = {SYNC_REPLY: REPLY_HEADER + proto.reply_bytes + CRC_BYTES, NAK: REPLY_HEADER + CRC_BYTES}
        self.inbox = bytearray()  # what the host can read
        self.held: list[bytes] = []
        self.applied: Counter[str] = Counter()

    def write(self, data: bytes, /) -> int | None:
        n = self.port.write(data)
        for frame in self.held:
            self.inbox += frame
        self.held.clear()
        return n

    def read(self, size: int = 1, /) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        while len(self.inbox) < size and time.monotonic() < deadline:
            self._pump()
        out = bytes(self.inbox[:size])
        del self.inbox[:size]
        return out

    def reset_input_buffer(self) -> None:
        self.inbox.clear()
        self.port.reset_input_buffer()

    def close(self) -> None:
        pass

    def _pump(self) -> None:
        """Take one frame from the board (the port's short timeout keeps this responsive)."""
        head = self.port.read(1)
        if not head or head[0] not in self.sizes:
            self.inbox += head  # a frame's tail, after the host flushed its head
            return
        frame = bytearray(head)
        deadline = time.monotonic() + 10
        while len(frame) < self.sizes[head[0]] and time.monotonic() < deadline:
            frame += self.port.read(self.sizes[head[0]] - len(frame))
        self._apply(self.plan.pop(0) if self.plan else "pass", bytes(frame))

    def _apply(self, fault: str, frame: bytes) -> None:
        self.applied[fault] += 1
        rng = self.rng
        if fault == "pass":
            self.inbox += frame
        elif fault == "late":
            self.held.append(frame)
        elif fault == "duplicate":
            self.inbox += frame + frame
        elif fault == "corrupt":
            bad = bytearray(frame)
            for _ in range(rng.randint(1, 3)):
                bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
            self.inbox += bad
        elif fault == "truncate":
            self.inbox += frame[:rng.randrange(1, len(frame))]
        elif fault == "noise":  # sync bytes among the noise: false frame starts
            self.inbox += bytes(rng.choice((SYNC_REPLY, NAK, rng.randrange(256))) for _ in range(12)) + frame
        else:
            assert fault == "drop"


def _distinct_vectors(net: Network, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` input vectors whose golden outputs all differ, so that another request's answer shows."""
    x = random_inputs(np.random.default_rng(seed), net, 8 * n)
    _, first = np.unique(golden.run(net, x), axis=0, return_index=True)
    x = x[np.sort(first)[:n]]
    assert len(x) == n
    return x, golden.run(net, x)


Link = tuple[Network, Any, serial.Serial]


@pytest.fixture(scope="class")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    """One simulated board for the fault tests, whose outputs differ from input to input (a network
    chosen for that), and a port to it."""
    tmp = tmp_path_factory.mktemp("faults")
    net = random_network(22, (7, 5, 3))
    design = generate(net, tmp / "rtl", in_lanes=3, out_lanes=2)
    with uart_simulation(design, tmp / "sim", div=4, timeout_bits=32, idle_limit_s=600) as sim, \
            serial.Serial(sim.port, sim.protocol.baud, timeout=0.02) as port:
        yield net, sim, port
    assert sim.result["framing_errors"] == 0


@pytest.mark.slow
class TestLinkFaults:
    """The host against the real board top level, with faults on the way back: every ``infer``
    returns its own input's answer or raises, never another request's answer."""

    TIMEOUT_S = 1.0  # some 50 times what a reply takes here

    def _faulty(self, sim: Any, port: serial.Serial, plan: list[str], seed: int = 0) -> FaultyReplies:
        port.reset_input_buffer()
        return FaultyReplies(port, sim.protocol, plan, seed=seed, timeout_s=self.TIMEOUT_S)

    @pytest.mark.parametrize("retries", [0, 2])
    def test_a_late_reply_is_discarded(self, link: Link, retries: int) -> None:
        """The host gives up on (or resends) request A; A's reply then arrives while it waits for the
        next reply: it is dropped, and each infer returns its own answer."""
        net, sim, port = link
        x, expect = _distinct_vectors(net, 3, seed=1)
        shim = self._faulty(sim, port, ["late"])
        board = Board(shim, sim.protocol, timeout_s=self.TIMEOUT_S, retries=retries)
        if retries:
            np.testing.assert_array_equal(board.infer(x[0]), expect[0])
            assert board.failures == 1
        else:
            with pytest.raises(LinkError, match="no reply"):
                board.infer(x[0])
        np.testing.assert_array_equal(board.infer(x[1]), expect[1])
        np.testing.assert_array_equal(board.infer(x[2]), expect[2])
        assert board.discarded == 1 and shim.applied["late"] == 1

    @pytest.mark.parametrize("seed", [0, 1])
    def test_random_faults_never_give_another_requests_answer(self, link: Link,
                                                              seed: int) -> None:
        net, sim, port = link
        x, expect = _distinct_vectors(net, 20, seed=seed)
        plan = [*FAULTS, *FAULTS, *["pass"] * 6]  # 18 frames: fewer than the requests
        random.Random(seed).shuffle(plan)
        shim = self._faulty(sim, port, plan, seed=seed)
        board = Board(shim, sim.protocol, timeout_s=self.TIMEOUT_S, retries=1)
        answered = 0
        for v, e in zip(x, expect, strict=True):
            try:
                got = board.infer(v)
            except LinkError as err:
                assert not isinstance(err, DesignMismatch)
                continue
            np.testing.assert_array_equal(got, e)
            answered += 1
        assert set(shim.applied) >= set(FAULTS) and not shim.plan  # every fault was injected
        assert answered >= 8 and board.failures >= 4
        assert board.discarded >= 2  # the duplicated and the late frames at least

    def test_another_design_fails_at_once(self, link: Link) -> None:
        net, sim, port = link
        x, expect = _distinct_vectors(net, 1, seed=2)
        port.reset_input_buffer()
        other = replace(sim.protocol, design_id=sim.protocol.design_id ^ 0x8000_0001)
        board = Board(port, other, timeout_s=self.TIMEOUT_S)
        says = (f"this board runs design {sim.protocol.design_hex}; the bundle is for {other.design_hex}: "
                "program the matching bitstream or use its bundle")
        with pytest.raises(DesignMismatch, match=says):
            board.infer(x[0])
        assert board.failures == 0
        np.testing.assert_array_equal(Board(port, sim.protocol).infer(x[0]), expect[0])

    @pytest.mark.parametrize(("field", "says"), [("in_features", "the board expects 7 input bytes"),
                                                 ("out_features", "the board sends 3 output bytes")])
    def test_a_protocol_json_with_other_widths_fails_at_once(self, link: Link,
                                                             tmp_path: Path, field: str, says: str) -> None:
        net, sim, port = link
        assert (sim.protocol.request_bytes, sim.protocol.reply_bytes) == (7, 3)
        d = json.loads(sim.protocol.to_json())
        d[field] += 1
        (tmp_path / "protocol.json").write_text(json.dumps(d))
        board = Board(port, tmp_path, timeout_s=self.TIMEOUT_S)
        x = np.zeros(board.protocol.in_features, dtype=np.int64)
        port.reset_input_buffer()
        with pytest.raises(DesignMismatch, match=says):
            board.infer(x)
        time.sleep(0.2)  # past the board's timeout, should the rest of that request look like one
        x, expect = _distinct_vectors(net, 1, seed=3)
        np.testing.assert_array_equal(Board(port, sim.protocol, retries=2).infer(x[0]), expect[0])


@pytest.mark.slow
def test_digits_vectors_over_uart_match_golden(tmp_path: Path) -> None:
    """32 digits test vectors through the UART top level: same predictions as the golden model. (The
    whole split runs through the accelerator in tests/cli/test_pipeline.py; here each vector costs
    some 650 UART bit-times of simulation.)"""
    from compress.data import digits_test_vectors
    from compress.methods import run_method

    # a few epochs: the predictions must match golden whatever the accuracy
    net = run_method("taylor", "digits-mlp", {"prune_steps": 2, "finetune_epochs": 2, "qat_epochs": 2}).net
    x = digits_test_vectors()[0][:32]
    design = generate(net, tmp_path / "rtl")
    with uart_simulation(design, tmp_path / "sim", div=4) as sim, \
            Board(sim.port, sim.protocol, timeout_s=10) as board:
        pred = board.classify(x)
        assert board.failures == 0
    assert len(x) == 32
    np.testing.assert_array_equal(pred, golden.predict(net, x))


@pytest.mark.parametrize("seed", [0, 1])
def test_axi4_stream_wrapper_under_gaps_and_backpressure(small_net: Network, tmp_path: Path,
                                                          seed: int) -> None:
    """The SoC wrapper: byte lanes, sign-extended 12-bit outputs, TLAST per vector, random stalls."""
    design = generate(small_net, tmp_path / "rtl", in_lanes=5, out_lanes=2)
    x = random_inputs(np.random.default_rng(seed), small_net, 60)
    res = simulate_axis(design, x, tmp_path / "sim", seed=seed)
    np.testing.assert_array_equal(res.outputs, golden.run(small_net, x))
    assert res.tlast_ok and res.extra_beats == 0
