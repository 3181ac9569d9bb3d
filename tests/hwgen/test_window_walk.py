"""The sliding window's walk, replayed in Python: every window it emits equals the window of the
zero-padded map, though it never visits the top padding rows and left padding columns (their
taps alias onto walked right/bottom padding). Fast: no simulator, every small geometry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwgen.window import Geometry


def replay(g: Geometry, maps: np.ndarray) -> list[np.ndarray]:
    """The windows :class:`~hwgen.window.SlidingWindow` emits for ``maps`` (``n x H x W``, one
    channel), by its rule: one walked position per step, a shift register of ``history + 1``
    positions (zero at reset), a tap read ``tap_delay`` steps back."""
    shift = [0] * (g.history + 1)  # shift[d] = the position d steps ago
    order, out = g.walk, []
    rows, cols = set(g.emit_rows), set(g.emit_cols)
    ph, pw = g.padding
    k = g.start
    for m in maps:
        for _ in range(len(order)):
            r, c = order[k]
            cur = 0 if g.is_padding(r, c) else int(m[r - ph, c - pw])
            shift = [cur, *shift[:-1]]
            if r in rows and c in cols:
                out.append(np.array([[shift[g.tap_delay(a, b)] for b in range(g.kernel[1])]
                                     for a in range(g.kernel[0])]))
            k = (k + 1) % len(order)
    return out


def reference(g: Geometry, maps: np.ndarray) -> list[np.ndarray]:
    (ph, pw), (kh, kw), (sh, sw) = g.padding, g.kernel, g.stride
    out = []
    for m in maps:
        p = np.pad(m, ((ph, ph), (pw, pw)))
        oh, ow = g.out_hw
        out += [p[i * sh:i * sh + kh, j * sw:j * sw + kw] for i in range(oh) for j in range(ow)]
    return out


def geometries(kh: int, kw: int) -> list[Geometry]:
    """Every small map, stride and padding (up to past the kernel's reach) for one kernel."""
    return [Geometry(1, h, w, (kh, kw), (sh, sw), (ph, pw))
            for h, w, sh, sw, ph, pw in itertools.product((1, 2, 3, 5), (1, 3, 4), (1, 2), (1, 2),
                                                          (0, 1, 2), (0, 1, 2, 3))
            if kh <= h + 2 * ph and kw <= w + 2 * pw]


@pytest.mark.parametrize("kernel", list(itertools.product((1, 2, 3), (1, 2, 3, 5))), ids=str)
def test_walk_emits_the_padded_maps_windows(kernel: tuple[int, int]) -> None:
    for g in geometries(*kernel):
        check_walk(g)


def check_walk(g: Geometry) -> None:
    maps = np.random.default_rng(g.positions).integers(1, 100, (3, g.height, g.width))
    got, want = replay(g, maps), reference(g, maps)
    # a walk parked on the first real position emits the windows that end before it (only with
    # padding > kernel - 1) at the end of the map instead: they are all zeros, the same every map
    rows, cols = set(g.emit_rows), set(g.emit_cols)
    early = sum(r in rows and c in cols for r, c in g.walk[:g.start])
    assert all(not w.any() for w in want[:early])
    want = want[early:] + want[:early]
    assert len(got) == len(want) == 3 * g.out_positions
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a, b), f"{g}: window {k}"


def test_walk_skips_top_and_left_padding() -> None:
    """8x8, 3x3, padding 1 (the digits CNN): 81 steps a map instead of 100; 1-D length 32,
    kernel 5, padding 2: 34 instead of 36; padding wider than the kernel reaches: full walk."""
    assert len(Geometry(8, 8, 8, (3, 3), (1, 1), (1, 1)).walk) == 81
    assert len(Geometry(8, 1, 32, (1, 5), (1, 1), (0, 2)).walk) == 34
    wide = Geometry(1, 4, 4, (2, 2), (1, 1), (2, 2))
    assert wide.origin == (0, 0) and len(wide.walk) == 64
