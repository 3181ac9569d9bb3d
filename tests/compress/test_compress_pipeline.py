"""The pipeline: determinism, progress reporting, and the default config's targets."""

import dataclasses
import time

import numpy as np
import torch

from compress.config import DigitsMLPConfig, ProgressEvent
from compress.pipeline import compress_digits_mlp


def _same_ir(a, b) -> bool:
    return all(
        np.array_equal(getattr(x, f), getattr(y, f))
        for x, y in zip(a.layers, b.layers, strict=True)
        for f in ("weight", "bias", "weight_frac", "shift")
    ) and [ly.output for ly in a.layers] == [ly.output for ly in b.layers]


def test_same_seed_same_ir_other_seed_other_ir(small_result, small_cfg, capsys) -> None:
    threads = torch.get_num_threads()
    events: list[ProgressEvent] = []
    again = compress_digits_mlp(small_cfg, progress=events.append)
    assert _same_ir(small_result.net, again.net)
    assert again.quant_accuracy == small_result.quant_accuracy
    other = compress_digits_mlp(dataclasses.replace(small_cfg, seed=1))
    assert not _same_ir(small_result.net, other.net)
    assert capsys.readouterr().out == ""  # quiet by default
    assert torch.get_num_threads() == threads  # global torch settings restored
    phases = [e.phase for e in events if e.completed == e.total]
    assert phases == ["float", "prune 1/2", "prune 2/2", "qat"]


def test_default_config_meets_the_targets() -> None:
    t0 = time.perf_counter()
    r = compress_digits_mlp(DigitsMLPConfig())
    wall = time.perf_counter() - t0
    assert r.torch_matches_golden
    assert r.quant_accuracy >= r.float_accuracy - 0.02
    assert r.float_accuracy >= 0.94
    assert r.sparsity >= 0.80
    assert max(int(ly.weight_bits.max()) for ly in r.net.layers) <= 8
    (i0, h0), (h1, o1) = [(ly.in_features, ly.out_features) for ly in r.net.layers]
    assert (i0, o1) == (64, 10) and h0 == h1 <= 32  # hidden units with no kept weight are removed
    assert len(r.test_x) == len(r.test_y) >= 440
    assert wall < 60
    print(f"default: float={r.float_accuracy:.4f} quant={r.quant_accuracy:.4f} "
          f"sparsity={r.sparsity:.4f} time={wall:.1f}s")
