"""Export: IR invariants, save/load round trip, and a clear error for an impossible format."""

from pathlib import Path

import numpy as np
import pytest

from compress.export import export_net
from zerogate import golden, ir
from zerogate.errors import UnsupportedError
from zerogate.fixedpoint import Activation, FixedFormat, signed_bits_for


def test_exported_ir_invariants(small_result) -> None:
    net = small_result.net
    assert net.input == FixedFormat(5, 4, False) and net.in_features == 64 and net.out_features == 10
    *hidden, last = net.layers
    for ly in hidden:
        assert ly.activation == Activation.RELU and not ly.output.signed and ly.output.bits == 8
    assert last.activation == Activation.NONE and last.output == FixedFormat(16, last.output.frac, True)
    for ly in net.layers:
        assert np.all(ly.shift >= 0) and np.all(ly.weight_bits == 6)
        assert ly.bias_bits == max(2, signed_bits_for(int(ly.bias.min()), int(ly.bias.max())))
    for key in ("method", "seed", "float_accuracy", "sparsity_target", "weight_bits"):
        assert key in net.metadata


def test_save_load_round_trip(small_result, tmp_path: Path) -> None:
    net = small_result.net
    ir.save(net, tmp_path / "ir")
    back = ir.load(tmp_path / "ir")
    for a, b in zip(net.layers, back.layers, strict=True):
        for f in ("weight", "bias", "weight_bits", "weight_frac", "shift"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("input", "output", "bias_bits", "activation", "rounding"):
            assert getattr(a, f) == getattr(b, f)
    assert back.metadata == dict(net.metadata)
    x = small_result.test_x
    assert np.array_equal(golden.run(back, x), golden.run(net, x))


def test_output_finer_than_accumulator_is_a_clear_error(small_result) -> None:
    import copy

    m = copy.deepcopy(small_result.model)
    m.weight_stages()[-1].act.frac += 30  # would need a left shift
    with pytest.raises(UnsupportedError, match="left shift"):
        export_net(m, "bad")
