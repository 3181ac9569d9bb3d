"""Property-based fuzzing of whole networks: random IR -> Verilog -> Verilator == golden model.

``nox -s tests`` simulates a small seeded sample; ``nox -s fuzz`` runs the same test on hundreds
of networks through the environment variables below (the case list is reproducible from the seed):

* ``ZEROGATE_FUZZ_NETWORKS`` (default 5), ``ZEROGATE_FUZZ_SEED`` (0), ``ZEROGATE_FUZZ_JOBS`` (1);
* ``ZEROGATE_FUZZ_OUT``: where failing cases are kept (default: pytest's ``tmp_path``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import hwgen.verilog
from sim import fuzz
from sim.runner import wave_file
from tests.fuzz.strategies import dense_layers, draw_cases, formats, networks
from zerogate import golden
from zerogate.fixedpoint import ActKind, FixedFormat
from zerogate.ir import Layer, LayerKind, Network


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.mark.slow
def test_random_networks_match_golden_on_verilator(tmp_path: Path) -> None:
    n = _env_int("ZEROGATE_FUZZ_NETWORKS", 5)
    cases = draw_cases(n, _env_int("ZEROGATE_FUZZ_SEED", 0))
    out = Path(os.environ.get("ZEROGATE_FUZZ_OUT", tmp_path))
    report = fuzz.run_cases(cases, out, jobs=_env_int("ZEROGATE_FUZZ_JOBS", 1))
    print(report.line())
    assert report.ok, report.line()
    assert report.networks == n and report.mismatches == 0


@settings(max_examples=60, deadline=None)
@given(net=networks())
def test_worst_case_inputs_reach_both_accumulator_bounds(net: Network) -> None:
    """The corner stimulus drives every first-layer channel to its exact max and min accumulator,
    the values the hardware's adder widths are sized for."""
    x = fuzz.worst_case_inputs(net)
    acc = golden.trace(net, x)[0].acc
    lo, hi = net.layers[0].acc_bounds()
    assert np.array_equal(acc.max(axis=0), hi) and np.array_equal(acc.min(axis=0), lo)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_generated_widths_follow_the_exact_bounds(data: st.DataObject, tmp_path_factory) -> None:
    """What the generator records per layer (accumulator widths, constant channels, nonzeros)
    is what the IR's bounds say, for every sparsity pattern including all-zero layers."""
    inp = data.draw(formats())
    ly = data.draw(dense_layers("fc", data.draw(st.integers(1, 6)), inp))
    net = Network(name="one", input=inp, in_features=ly.in_features, layers=(ly,))
    design = hwgen.verilog.generate(net, tmp_path_factory.mktemp("rtl"))
    info = design.layers[0]
    assert info.acc_bits == tuple(int(b) for b in ly.acc_bits())
    assert info.nnz == ly.nnz
    zero_rows = {c for c in range(ly.out_features) if not ly.weight[c].any()}
    assert zero_rows <= set(info.constant_channels)


def _saturating_net() -> Network:
    """One channel: y = clamp(x0 + x1) in 3 unsigned bits, x in 3 unsigned bits."""
    fmt = FixedFormat(3, 0, False)
    ly = Layer(name="fc", kind=LayerKind.DENSE, in_features=2, out_features=1, weight=np.array([[1, 1]]),
               bias=np.array([0]), weight_bits=np.array([2]), weight_frac=np.array([0]),
               shift=np.array([0]), input=fmt, output=fmt, bias_bits=2)
    return Network(name="sat", input=fmt, in_features=2, layers=(ly,))


def test_saturation_events_are_counted() -> None:
    net = _saturating_net()
    x = np.array([[0, 0], [3, 4], [4, 4], [7, 7], [7, 0]])
    assert fuzz.saturation_events(net, x) == 2  # 8 and 14 clamp to 7
    corners = fuzz.worst_case_inputs(net)
    assert {tuple(r) for r in corners} >= {(0, 0), (7, 7)}


@pytest.mark.slow
def test_a_mismatch_is_reported_kept_and_replayable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A generator that builds the wrong hardware (here: one weight off by one) must be caught,
    named in the summary line, and kept as a folder that ``python -m sim.fuzz --replay`` reruns."""
    net = _saturating_net()
    real = hwgen.verilog.generate

    def wrong_generate(n: Network, out_dir: Path, **kw: object) -> hwgen.verilog.GeneratedDesign:
        ly = n.layers[0]
        bad = dataclasses.replace(ly, weight=np.array([[1, 0]]))
        return real(Network(name=n.name, input=n.input, in_features=2, layers=(bad,)), out_dir, **kw)

    monkeypatch.setattr(hwgen.verilog, "generate", wrong_generate)
    case = fuzz.FuzzCase(name="bad", net=net, x=np.array([[1, 0], [1, 1], [7, 7], [0, 3]]), in_lanes=2,
                         out_lanes=1)
    report = fuzz.run_cases([case], tmp_path, log=None)
    assert report.line().startswith("1 networks simulated, 2 mismatches, 1 saturation events")
    (r,) = report.results
    assert not r.ok and r.error is None and "layer fc, index 0: expected 2, got 1" in r.summary
    kept = tmp_path / "bad"
    assert r.kept == kept and (kept / fuzz.CASE_FILE).is_file() and (kept / "ir" / "manifest.json").is_file()
    assert (kept / "sim" / wave_file()).stat().st_size > 0  # the failing run's waveform (FST if lz4.h)
    assert "waveform" in r.summary
    rc = fuzz.main(["--replay", str(kept)])
    assert rc == 1
    assert "1 networks simulated, 2 mismatches, 1 saturation events" in capsys.readouterr().out


@pytest.mark.parametrize("kind", list(ActKind))
def test_networks_draw_every_activation_kind(kind: ActKind) -> None:
    """The sweep reaches each activation the IR holds (clamps and LeakyReLU included)."""
    def has(n: Network) -> bool:
        return any(isinstance(ly, Layer) and ly.activation.kind is kind for ly in n.layers)

    net = find(networks(), has, settings=settings(max_examples=500, database=None, deadline=None))
    assert has(net)
