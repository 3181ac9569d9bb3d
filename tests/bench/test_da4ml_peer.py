"""bench.da4ml_peer on a tiny matrix: both sides built, simulated bit-exact against numpy, synthesised;
the report's findings from fabricated rows (the renderer is what is under test there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import da4ml_peer as peer

IN_BITS = 8


@pytest.fixture
def w() -> np.ndarray:
    return peer.random_weights(8, 6, 4, 0.5, seed=3)


@pytest.mark.parametrize(("shape", "bits", "sparsity"),
                         [((8, 6), 4, 0.5), ((64, 64), 8, 0.97), ((32, 64), 2, 0.9)])
def test_random_weights_have_the_asked_nonzeros_and_width(shape: tuple[int, int], bits: int,
                                                          sparsity: float) -> None:
    w = peer.random_weights(*shape, bits, sparsity, seed=1)
    assert w.shape == shape and np.count_nonzero(w) == round((1 - sparsity) * w.size)
    assert w.min() >= -(1 << (bits - 1)) and w.max() <= (1 << (bits - 1)) - 1


@pytest.mark.parametrize("signed", [True, False])
def test_vectors_reach_every_accumulator_bound(w: np.ndarray, signed: bool) -> None:
    x = peer.test_vectors(w, IN_BITS, signed, 8, seed=0)
    lo, hi = peer.acc_bounds(w, IN_BITS, signed)
    acc = x @ w.T
    assert np.array_equal(acc.min(axis=0), lo) and np.array_equal(acc.max(axis=0), hi)


def test_output_width_is_exact_until_zerogates_widest_format() -> None:
    small = peer.random_weights(8, 6, 4, 0.5, seed=3)
    bits, exact = peer.out_bits_for(small, IN_BITS, True)
    lo, hi = peer.acc_bounds(small, IN_BITS, True)
    assert exact and -(1 << (bits - 1)) <= lo.min() and hi.max() < 1 << (bits - 1)
    assert -(1 << (bits - 2)) > lo.min() or hi.max() >= 1 << (bits - 2)  # and no wider than needed
    wide = np.full((2, 64), 127)
    assert peer.out_bits_for(wide, IN_BITS, True) == (peer.MAX_OUT_BITS, False)
    x = np.full((1, 64), 127)
    assert peer.reference(wide, x, 16).tolist() == [[32767, 32767]]  # saturated, as both sides are


@pytest.mark.parametrize("kifs", [[(1, 7, 0), (0, 0, 0), (1, 11, -2), (0, 5, 0)], [(1, 3, 0)]])
def test_da4ml_packing_round_trips(kifs: list[tuple[int, int, int]]) -> None:
    rng = np.random.default_rng(0)
    vals = []
    for k, i, f in kifs:
        width = k + i + f
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if k else (0, (1 << width) - 1)
        vals.append(0 if width <= 0 else int(rng.integers(lo, hi + 1)) << max(-f, 0))
    word = peer._encode(np.array(vals), kifs)
    assert peer._decode(word, kifs) == vals


# -- the real designs: da4ml traced and written, both sides on Verilator and Yosys -------------------
@pytest.fixture
def da4ml() -> None:
    """Skips a test that needs the peer (the renderer's tests above and below run without it)."""
    pytest.importorskip("da4ml", reason="da4ml is not installed (pip install -e '.[bench]')")


@pytest.mark.slow
@pytest.mark.parametrize("cutoff", [-1, 1])
def test_da4ml_design_is_bit_exact_on_verilator(tmp_path: Path, w: np.ndarray, cutoff: int,
                                                da4ml: None) -> None:
    d = peer.da4ml_layer(w, IN_BITS, True, tmp_path / "rtl", latency_cutoff=cutoff)
    assert (d.latency > 1) == (cutoff > 0)
    x = peer.test_vectors(w, IN_BITS, True, 16, seed=0)
    want = peer.reference(w, x, 64)
    assert peer.simulate_da4ml(d, x, want, tmp_path / "sim") == len(x)
    # the check can fail: one wrong expected value is caught and named
    bad = want.copy()
    bad[3, 2] += 1
    with pytest.raises(peer.PeerMismatch, match="vector 3, output 2"):
        peer.simulate_da4ml(d, x, bad, tmp_path / "sim")


@pytest.mark.slow
def test_da4ml_saturates_like_zerogate(tmp_path: Path, da4ml: None) -> None:
    w = np.full((2, 6), 7)
    w[1] = -8
    d = peer.da4ml_layer(w, IN_BITS, True, tmp_path / "rtl", out_bits=12)
    x = peer.test_vectors(w, IN_BITS, True, 8, seed=0)
    want = peer.reference(w, x, 12)
    assert want.max() == 2047 and want.min() == -2048  # the test reaches both clamps
    assert peer.simulate_da4ml(d, x, want, tmp_path / "sim") == len(x)


@pytest.mark.slow
def test_zerogate_design_is_bit_exact_on_verilator(tmp_path: Path, w: np.ndarray) -> None:
    bits, exact = peer.out_bits_for(w, IN_BITS, True)
    d, net, g = peer.zerogate_layer(w, IN_BITS, True, tmp_path / "rtl", out_bits=bits)
    assert exact and d.latency > 0
    x = peer.test_vectors(w, IN_BITS, True, 16, seed=0)
    want = peer.reference(w, x, bits)
    assert peer.simulate_zerogate(g, net, x, want, tmp_path / "sim") == len(x)
    with pytest.raises(peer.PeerMismatch, match="golden model != numpy"):
        peer.simulate_zerogate(g, net, x, want + 1, tmp_path / "sim2")


@pytest.mark.slow
@pytest.mark.parametrize("design", peer.DESIGNS)
def test_every_design_synthesises_to_positive_counts(tmp_path: Path, w: np.ndarray, design: str,
                                                       da4ml: None) -> None:
    bits, _ = peer.out_bits_for(w, IN_BITS, True)
    if design.startswith("da4ml"):
        cutoff = peer.DA4ML_CUTOFF if design.endswith("pipe") else -1
        d = peer.da4ml_layer(w, IN_BITS, True, tmp_path / "rtl", latency_cutoff=cutoff)
    elif design == "zerogate":
        d = peer.zerogate_layer(w, IN_BITS, True, tmp_path / "rtl", out_bits=bits)[0]
    else:
        d = peer.zerogate_core(w, IN_BITS, True, tmp_path / "rtl", out_bits=bits)
    assert d.name == design
    m = peer.measure(d, tmp_path / "ecp5", flows=peer.flows_for(design))
    assert set(m["flows"]) | set(m["failed"]) == set(peer.flows_for(design))
    area = {k: m[k] for k in ("lut4", "carry", "lutram", "dsp")}
    assert m["flow"] in m["flows"] and peer.lut_eq(**area) > 0
    best = min(peer.lut_eq(**{k: c[k] for k in area}) for c in m["flows"].values())
    assert peer.lut_eq(**area) == best  # the better flow is the one kept
    assert (m["ff"] > 0) == (design != "da4ml-comb")  # only the combinational netlist has no registers


# -- the report -----------------------------------------------------------------------------------
def _row(point: str, design: str, lut4: int, ff: int, nnz: int = 100) -> peer.Row:
    return peer.Row(key=f"{point}|{design}", point=point, design=design, n_out=64, n_in=64, bits=4,
                    sparsity=0.9, nnz=nnz, out_bits=15, exact=True, flow="flat", lut4=lut4, carry=0,
                    lutram=0, dsp=0, ff=ff, latency=3, vectors=10)


@pytest.mark.parametrize(("zg", "ff", "ratio_met", "ff_met"),
                         [((900, 800), (300, 400), True, True), ((900, 1200), (300, 401), False, False)])
def test_findings_compare_zerogate_with_the_best_da4ml_design(zg: tuple[int, int], ff: tuple[int, int],
                                                              ratio_met: bool, ff_met: bool) -> None:
    rows = []
    for k, (z, f) in enumerate(zip(zg, ff, strict=True)):
        rows += [_row(f"p{k}", "da4ml-comb", 1000, 0), _row(f"p{k}", "da4ml-pipe", 1100, 500),
                 _row(f"p{k}", "zerogate", z, f), _row(f"p{k}", "zerogate-layer", z // 2, f // 2)]
    got = peer.findings(rows)
    assert got is not None and got.ratios == [z / 1000 for z in zg]
    assert got.ratio_met is ratio_met and got.ff_met is ff_met
    text = peer.render(rows, "python -m bench.da4ml_peer --quick")
    assert f"worst {max(zg) / 1000:.2f}×" in text and f"median {np.median(zg) / 1000:.2f}×" in text
    assert ("≤ 1.0× met" if ratio_met else "≤ 1.0× NOT met") in text
    assert ("FF ≤ 4 per nonzero met" if ff_met else "FF ≤ 4 per nonzero NOT met") in text
    assert got.engine_ratios == [z // 2 / 1000 for z in zg]
    assert f"engine alone: median {np.median(got.engine_ratios):.2f}×" in text
    assert f"| {zg[1] / 1000:.2f}× |" in text and "python -m bench.da4ml_peer --quick" in text


def test_a_point_without_both_sides_has_no_findings() -> None:
    rows = [_row("p0", "zerogate", 900, 300), _row("p1", "da4ml-comb", 1000, 0)]
    assert peer.findings(rows) is None
    assert "no point has both sides measured" in peer.render(rows, "cmd")


@pytest.mark.parametrize(("quick", "shapes", "n"), [(False, None, 12), (True, None, 1), (False, ["32x64"], 6),
                                                    (False, ["64x64", "32x64"], 12), (False, ["8x8"], 0)])
def test_the_grid_is_the_issues_and_a_shape_filter_splits_it(quick: bool, shapes: list[str] | None,
                                                             n: int) -> None:
    pts = peer.grid(quick, shapes)
    assert len(pts) == n and len(set(pts)) == n
    if not quick and shapes is None:
        assert {(o, i) for o, i, _, _ in pts} == {(64, 64), (32, 64)}
        assert {b for _, _, b, _ in pts} == {2, 4, 8} and {s for *_, s in pts} == {0.9, 0.97}
