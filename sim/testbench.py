"""cocotb test module: drive the generated accelerator, watch every layer, score against golden.

Run by :func:`sim.runner.simulate` inside the simulator process. Its inputs come from files in
the build folder named by ``ZEROGATE_SIM_CONFIG`` (a JSON config next to ``stimulus.npz`` holding
the input vectors and every layer's golden output); it writes a JSON result there. Mismatches do
not fail the cocotb test: the caller decides what a mismatch means.

Timing convention: coroutines act right after a rising edge, then sample in the ``ReadOnly``
phase, which shows the values present at the *next* rising edge, where a transfer happens when
valid and ready are both high. The first ``warmup`` vectors run without gaps or back-pressure so
that latency and the steady-state cycles per inference are measured on a clean stream.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

CONFIG_ENV = "ZEROGATE_SIM_CONFIG"
PERIOD_NS = 10


def pack(values: list[int], bits: int) -> int:
    """Elements to one bit vector, element 0 in the least significant bits."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (j * bits) for j, v in enumerate(values))


def unpack(word: int, bits: int, n: int, signed: bool) -> list[int]:
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for j in range(n):
        v = (word >> (j * bits)) & mask
        out.append(v - (1 << bits) if signed and v & sign else v)
    return out


@dataclass
class _State:
    cycle: int = 0
    first_accept: int | None = None
    first_out_valid: int | None = None
    done_cycles: list[int] = field(default_factory=list)  # last output beat of each vector taken
    out_beats: list[list[int]] = field(default_factory=list)
    taps: dict[int, list[list[int]]] = field(default_factory=dict)
    finished: bool = False


async def _count(dut: Any, st: _State) -> None:
    while True:
        await RisingEdge(dut.clk)
        st.cycle += 1


async def _drive(dut: Any, st: _State, cfg: dict, x: np.ndarray, rng: random.Random) -> None:
    lanes, bits, b = cfg["in_lanes"], cfg["in_bits"], cfg["beats_in"]
    for s, vec in enumerate(x):
        padded = list(vec) + [0] * (b * lanes - len(vec))
        for k in range(b):
            while s >= cfg["warmup"] and cfg["gaps"] and rng.random() < 0.3:
                dut.i__valid.value = 0
                await RisingEdge(dut.clk)
            dut.i__payload.value = pack(padded[k * lanes:(k + 1) * lanes], bits)
            dut.i__valid.value = 1
            while True:
                await ReadOnly()
                accepted = bool(int(dut.i__ready.value))
                if accepted and st.first_accept is None:
                    st.first_accept = st.cycle
                await RisingEdge(dut.clk)
                if accepted:
                    break
    dut.i__valid.value = 0


async def _collect(dut: Any, st: _State, cfg: dict, n: int, rng: random.Random) -> None:
    total = n * cfg["beats_out"]
    while len(st.out_beats) < total and st.cycle < cfg["max_cycles"]:
        stall = cfg["backpressure"] and len(st.done_cycles) >= cfg["warmup"] and rng.random() < 0.4
        dut.o__ready.value = 0 if stall else 1
        await ReadOnly()
        if int(dut.o__valid.value):
            if st.first_out_valid is None:
                st.first_out_valid = st.cycle
            if not stall:
                word = int(dut.o__payload.value)
                st.out_beats.append(unpack(word, cfg["out_bits"], cfg["out_lanes"], cfg["out_signed"]))
                if len(st.out_beats) % cfg["beats_out"] == 0:
                    st.done_cycles.append(st.cycle)
        await RisingEdge(dut.clk)
    st.finished = True


async def _tap(dut: Any, st: _State, k: int, layer: dict) -> None:
    """Passive monitor on ``layer{k}``'s output stream: one vector per valid & ready, or, for a
    position stream (``positions`` in the config), one map per ``positions`` beats of ``channels``
    elements, reassembled channel-major (element ``c * positions + p``) like the golden model's.

    Watched where it enters the module behind the layer (``layer["tap"]``: its skid buffer, or the
    next layer when that link has none; ``o`` for an output head: the top's output port), not on
    the layer's own ``o``: a leaf module keeps its
    port names in the Verilog, while a layer with submodules (a spatial stage) may see its own
    ports renamed ``o__payload$24`` when a child's port of the same name is wired inside it.
    """
    if layer["tap"] == "o":  # an output head: what the top's output port carries
        valid, ready, payload = dut.o__valid, dut.o__ready, dut.o__payload
    else:
        h = getattr(dut, layer["tap"])
        valid, ready, payload = h.i__valid, h.i__ready, h.i__payload
    got = st.taps.setdefault(k, [])
    positions, channels = layer.get("positions", 1), layer.get("channels", layer["n"])
    beats: list[list[int]] = []
    while True:
        await ReadOnly()
        if int(valid.value) and int(ready.value):
            beats.append(unpack(int(payload.value), layer["bits"], channels, layer["signed"]))
            if len(beats) == positions:
                got.append([beats[p][c] for c in range(channels) for p in range(positions)])
                beats = []
        await RisingEdge(dut.clk)


def _score(cfg: dict, st: _State, expect: list[np.ndarray], n: int) -> dict:
    """First mismatch = earliest sample, then earliest stage (layers, then the output stream)."""
    b, n_out = cfg["beats_out"], cfg["layers"][-1]["n"]
    outs = [sum(st.out_beats[s * b:(s + 1) * b], [])[:n_out] for s in range(len(st.out_beats) // b)]
    stages = [(ly["name"], st.taps.get(k, []), expect[k]) for k, ly in enumerate(cfg["layers"])]
    stages.append(("output", outs, expect[-1]))
    bad, first = 0, None
    for s in range(n):
        miss = None
        for k, (name, got, exp) in enumerate(stages):
            g = got[s] if s < len(got) else None
            e = [int(v) for v in exp[s]]
            if g != e:
                idx = 0 if g is None else next(j for j in range(len(e)) if g[j] != e[j])
                miss = {"sample": s, "layer": name, "layer_index": k, "index": idx,
                        "expected": e[idx], "got": None if g is None else g[idx]}
                break
        if miss is not None:
            bad += 1
            first = first or miss
    extra = any(len(got) > n for _, got, _ in stages)
    return {"vectors": n, "matches": n - bad, "mismatches": bad, "first_mismatch": first,
            "extra_outputs": extra}


@cocotb.test()
async def run_vectors(dut: Any) -> None:
    cfg_path = Path(os.environ[CONFIG_ENV])
    cfg = json.loads(cfg_path.read_text())
    with np.load(cfg_path.parent / cfg["stimulus"]) as z:
        x = z["x"]
        expect = [z[f"layer{k}"] for k in range(len(cfg["layers"]))]
    n = len(x)
    rng = random.Random(cfg["seed"])
    st = _State()

    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    cocotb.start_soon(_count(dut, st))
    for k, layer in enumerate(cfg["layers"]):
        cocotb.start_soon(_tap(dut, st, k, layer))
    cocotb.start_soon(_drive(dut, st, cfg, x, random.Random(rng.random())))
    await _collect(dut, st, cfg, n, random.Random(rng.random()))
    extra_beats = 0
    dut.o__ready.value = 1
    for _ in range(cfg["drain_cycles"]):  # anything more coming out is an error too
        await ReadOnly()
        extra_beats += int(dut.o__valid.value)
        await RisingEdge(dut.clk)

    result = _score(cfg, st, expect, n)
    result["extra_outputs"] = result["extra_outputs"] or extra_beats > 0
    # steady state: the second half of the clean warm-up (inputs queued while a design was still
    # busy after reset, e.g. loading weights, come out bunched at first)
    warm = st.done_cycles[cfg["warmup"] // 2:cfg["warmup"]]
    result["cycles_per_inference"] = (warm[-1] - warm[0]) / (len(warm) - 1) if len(warm) > 1 else None
    result["latency"] = (st.first_out_valid - st.first_accept
                         if st.first_out_valid is not None and st.first_accept is not None else None)
    result["cycles"] = st.cycle
    result["timed_out"] = len(st.out_beats) < n * cfg["beats_out"]
    tmp = Path(cfg["result"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, cfg["result"])
