"""The UART board top level on Verilator, driven by the same host driver that drives a board.

Every test talks to the simulation through a pseudo-terminal opened with pyserial, so the bytes
cross a real serial-port API, the board's UART receiver and transmitter, and the framing logic.
"""

from pathlib import Path

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
from zerogate.host import NAK, SYNC_REPLY, Board, LinkError, UartProtocol, checksum
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
    assert sim.result["bytes_from_host"] == n * (sim.protocol.request_bytes + 2)
    assert sim.result["bytes_to_host"] == n * (sim.protocol.reply_bytes + 2)
    np.testing.assert_array_equal(got, expect)


def test_two_byte_signed_inputs(tmp_path: Path) -> None:
    """10-bit signed inputs travel as two bytes each; one input beat per vector."""
    net = random_network(5, (6, 5, 4), in_format=FixedFormat(10, 3, True))
    _outputs_match(net, tmp_path, 40, in_lanes=6, out_lanes=4, div=4)


def test_two_byte_signed_outputs(small_net: Network, tmp_path: Path) -> None:
    """12-bit signed outputs are sign-extended to two bytes; several beats each way."""
    assert small_net.output.bits == 12 and small_net.output.signed
    _outputs_match(small_net, tmp_path, 40, in_lanes=5, out_lanes=2, div=7)


def _request(data: bytes, chk: int | None = None) -> bytes:
    return bytes([0xA5]) + data + bytes([checksum(data) if chk is None else chk])


def test_padded_last_beats_both_ways(tmp_path: Path) -> None:
    """7 inputs in beats of 3 and 3 outputs in beats of 2: the board top streams each request into
    the accelerator a beat at a time and completes the last beat with zero bytes."""
    net = random_network(4, (7, 5, 3))
    _outputs_match(net, tmp_path, 30, in_lanes=3, out_lanes=2, div=5)


@pytest.mark.parametrize(("sizes", "in_lanes"), [((8, 4, 3), 4), ((7, 5, 3), 3)])
def test_damaged_requests_get_a_nak_and_the_link_recovers(tmp_path: Path, sizes: tuple[int, ...],
                                                          in_lanes: int) -> None:
    """Each damaged request still runs one (dropped) inference, so the next request lines up."""
    net = random_network(2, sizes)
    design = generate(net, tmp_path / "rtl", in_lanes=in_lanes, out_lanes=2)
    x = random_inputs(np.random.default_rng(0), net, 4)
    expect = golden.run(net, x)
    with uart_simulation(design, tmp_path / "sim", div=4, timeout_bits=32) as sim:
        proto = sim.protocol
        good = proto.encode_request(x[0])
        with serial.Serial(sim.port, proto.baud, timeout=10) as port:
            port.write(_request(good[1:-1], chk=good[-1] ^ 0x01))  # bad checksum
            assert port.read(1) == bytes([NAK])
            port.write(good[:5])  # request that stops half-way: dropped after the timeout
            assert port.read(1) == bytes([NAK])
            port.write(b"\x00\x5a\xff" + good)  # noise before a request is ignored
            reply = port.read(proto.reply_bytes + 2)
            assert reply[0] == SYNC_REPLY and checksum(reply[1:-1]) == reply[-1]
            np.testing.assert_array_equal(proto.decode_reply(reply[1:-1]), expect[0])
            # a host that died mid-request: the board's timeout and Board's resync recover
            port.write(good[:3])
            board = Board(port, proto)
            got = [board.infer(v) for v in x[1:]]
            assert board.failures == 1
        np.testing.assert_array_equal(np.array(got), expect[1:])
    assert sim.result["framing_errors"] == 0


def test_board_reports_a_dead_link_in_one_line(tmp_path: Path) -> None:
    proto = UartProtocol(in_features=4, in_bits=5, in_signed=False, out_features=3, out_bits=8,
                         out_signed=True, timeout_bits=16, baud=115200)
    board = Board("loop://", proto, timeout_s=0.05, retries=1)  # echoes the request back: never a reply
    with pytest.raises(LinkError, match="did not answer after 2 attempts") as e:
        board.infer([1, 2, 3, 4])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"must lie in \[0, 31\]"):
        board.infer([1, 2, 3, 40])
    with pytest.raises(LinkError, match="cannot open serial port"):
        Board(str(tmp_path / "no-such-tty"), proto)


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
