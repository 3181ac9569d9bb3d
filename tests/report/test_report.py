"""Reports of a real (tiny) build: report.json keys, report.md, report.html with every figure present.

The build steps run for real on a small network (Amaranth, Verilator, Yosys, nextpnr-ice40); only the
training step is skipped, as when a build starts from an IR.
"""

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from zerogate.build import (
    BuildOptions,
    BuildState,
    step_bundle,
    step_generate,
    step_golden,
    step_ice40,
    step_simulate,
)
from zerogate.flow import ice40
from zerogate.ir import Network
from zerogate.plots import CAPTIONS
from zerogate.report import write_reports

KEYS = {"zerogate_version", "network", "command", "compress", "golden", "rtl", "sim", "synth", "memory",
        "layers", "timings", "bundle", "ice40", "figures"}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.src.append(dict(attrs)["src"] or "")


def _state(net: Network, work: Path, n: int = 24) -> BuildState:
    rng = np.random.default_rng(0)
    hi = 2 ** net.input.bits
    x = rng.integers(0, hi, (n, net.in_features))
    state = BuildState(work=work, net=net, test_x=x, test_y=rng.integers(0, net.layers[-1].out_features, n))
    state.facts["compress"] = {"source": "test network"}
    return state


def _images_ok(page: Path) -> list[Path]:
    parser = _Images()
    parser.feed(page.read_text())
    assert parser.tags[:2] == ["html", "head"] and "table" in parser.tags
    pngs = [page.parent / src for src in parser.src]
    assert len(pngs) == len(CAPTIONS)
    for png in pngs:
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    return pngs


@pytest.mark.slow
def test_report_of_a_tiny_build_with_an_ice40_bitstream(small_net: Network, tmp_path: Path) -> None:
    opts = BuildOptions(out=tmp_path / "b", in_lanes=5, out_lanes=2, targets=("ice40",), command="pytest")
    state = _state(small_net, tmp_path)
    step_golden(state)
    design = step_generate(opts, state)
    step_simulate(state, design)
    built = step_bundle(opts, state, design, print)
    step_ice40(state, built, print)
    d = write_reports(small_net, state.facts, {"golden": 0.1}, opts, tmp_path)

    saved = json.loads((tmp_path / "report.json").read_text())
    assert set(saved) >= KEYS and saved["synth"] is None  # no ECP5 target in this build
    assert saved["sim"]["matches"] == saved["sim"]["vectors"] == 24
    ice = saved["ice40"]
    assert ice["status"] == "built" and ice["family"] == "ice40"
    assert ice["utilisation"]["ICESTORM_LC"]["used"] > 0 and ice["fmax_mhz"] > 12 and ice["timing_met"]
    assert (tmp_path / "bundle" / "bitstreams" / "zerogate_icebreaker.bin").stat().st_size > 100_000
    assert not (tmp_path / "bundle" / "ice40" / "DOES_NOT_FIT.txt").exists()
    assert "| iCE40UP5K | built |" in (tmp_path / "bundle" / "bitstreams" / "README.md").read_text()
    assert set(saved["figures"]) == set(CAPTIONS) == set(d["figures"])
    md = (tmp_path / "report.md").read_text()
    assert "## FPGA (iCE40 UP5K sg48" in md and "## Throughput at the achieved Fmax" in md
    assert md.count("](report/") == len(CAPTIONS)
    _images_ok(tmp_path / "report.html")


@pytest.mark.slow
def test_does_not_fit_is_recorded_not_fatal(small_net: Network, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ice40, "UP5K", ice40.Ice40Device(lut4=20))  # a deliberately tiny part
    opts = BuildOptions(out=tmp_path / "b", in_lanes=5, out_lanes=2, targets=("ice40",), command="pytest")
    state = _state(small_net, tmp_path)
    step_golden(state)
    design = step_generate(opts, state)
    step_ice40(state, step_bundle(opts, state, design, print), print)
    state.facts["sim"] = {}
    write_reports(small_net, state.facts, {}, opts, tmp_path)

    note = (tmp_path / "bundle" / "ice40" / "DOES_NOT_FIT.txt").read_text().splitlines()[0]
    assert note.startswith("design does not fit iCE40 UP5K: needs ") and " of 20 LUTs" in note
    assert note.endswith("; try --style folded --single-buffer, a higher sparsity or the ECP5 target")
    assert not (tmp_path / "bundle" / "bitstreams" / "zerogate_icebreaker.bin").exists()
    ice = json.loads((tmp_path / "report.json").read_text())["ice40"]
    assert ice["status"] == "does-not-fit" and ice["reason"] == note and ice["yosys_cells"]["SB_LUT4"] > 20
    assert f"**Not built:** {note}." in (tmp_path / "report.md").read_text()
    assert "does-not-fit" in (tmp_path / "bundle" / "bitstreams" / "README.md").read_text()
    assert "SB_LUT4" in (tmp_path / "bundle" / "reports" / "ice40" / "yosys_stat.txt").read_text()
    _images_ok(tmp_path / "report.html")


@pytest.mark.parametrize(("placer", "said"), [("heap", False), ("static", True)])
def test_fmax_says_when_the_fallback_placer_placed_the_design(placer: str, said: bool) -> None:
    """The static placer's Fmax is weaker than HeAP's; the report must not pass one for the other."""
    from zerogate.report import _fmax_cell

    cell = _fmax_cell({"fmax_mhz": 51.9, "constraint_mhz": 100.0, "timing_met": False, "placer": placer})
    assert cell.startswith("51.90 MHz (constraint 100.0 MHz, NOT met")
    assert ("placed by nextpnr's static placer: its default, HeAP, found no legal placement" in cell) == said



@pytest.mark.parametrize(("compress", "golden", "method", "accuracy"), [
    ({"method": "taylor", "model": "digits-mlp", "params": {"sparsity": 0.85, "weight_bits": 6}},
     {"accuracy": 0.9578}, "taylor on digits-mlp (sparsity 0.85, weight_bits 6)", "95.78 %"),
    ({"source": "ir", "vectors": "207 seeded random and worst-case vectors (seed 0); no labels"},
     {"accuracy": None}, "not recorded (IR ir)",
     "not measured: the vectors are 207 seeded random and worst-case vectors (seed 0); no labels"),
])
def test_report_names_the_method_and_never_an_accuracy_without_labels(
        compress: dict, golden: dict, method: str, accuracy: str) -> None:
    from zerogate.report import _accuracy, _method

    assert _method(compress) == method
    assert _accuracy(golden, compress) == accuracy
