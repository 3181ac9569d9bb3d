"""IR schema version 2's activation objects: round trip, the version-1 upgrade path, refusals."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from zerogate import golden, ir
from zerogate.errors import IRError
from zerogate.fixedpoint import Activation, FixedFormat


def _with_activations(net: ir.Network) -> ir.Network:
    """``small_net`` with a clamp on the hidden layer (unsigned 8-bit) and LeakyReLU on the output."""
    fc0, fc1 = net.layers
    return dataclasses.replace(net, layers=(dataclasses.replace(fc0, activation=Activation.clamp(3, 200)),
                                            dataclasses.replace(fc1, activation=Activation.leaky(2))))


def _edit(path: Path, fn) -> None:
    m = json.loads((path / ir.MANIFEST).read_text())
    fn(m)
    (path / ir.MANIFEST).write_text(json.dumps(m))


def test_version_2_round_trip_with_clamp_and_leaky(small_net: ir.Network, tmp_path: Path) -> None:
    net = _with_activations(small_net)
    ir.save(net, tmp_path / "m")
    m = json.loads((tmp_path / "m" / ir.MANIFEST).read_text())
    assert m["schema_version"] == ir.SCHEMA_VERSION == 2
    assert [ly["activation"] for ly in m["layers"]] == [{"kind": "clamp", "lo": 3, "hi": 200},
                                                        {"kind": "leaky", "shift": 2}]
    back = ir.load(tmp_path / "m")
    assert [ly.activation for ly in back.layers] == [Activation.clamp(3, 200), Activation.leaky(2)]
    x = np.random.default_rng(0).integers(0, 32, (200, 12))
    assert np.array_equal(golden.run(net, x), golden.run(back, x))


def test_version_1_loads_exactly_and_is_written_as_version_2(small_net: ir.Network, tmp_path: Path) -> None:
    """A version-1 IR (activation "relu"/"none" strings) loads to the same network; saving writes v2."""
    ir.save(small_net, tmp_path / "v1")
    _edit(tmp_path / "v1", lambda m: (m.update(schema_version=1),
                                      [ly.update(activation=ly["activation"]["kind"]) for ly in m["layers"]]))
    assert json.loads((tmp_path / "v1" / ir.MANIFEST).read_text())["layers"][0]["activation"] == "relu"
    back = ir.load(tmp_path / "v1")
    assert [ly.activation for ly in back.layers] == [Activation.RELU, Activation.NONE]
    x = np.random.default_rng(1).integers(0, 32, (100, 12))
    assert np.array_equal(golden.run(small_net, x), golden.run(back, x))
    ir.save(back, tmp_path / "v2")
    ir.save(small_net, tmp_path / "direct")
    assert (tmp_path / "v2" / ir.MANIFEST).read_bytes() == (tmp_path / "direct" / ir.MANIFEST).read_bytes()


def _act(k: int, value: object):
    return lambda m: m["layers"][k].update(activation=value)


BAD = {
    "v1 with a v2 kind": (lambda m: (m.update(schema_version=1), _act(0, "clamp")(m)),
                          "is not one of none, relu (schema version 1)"),
    "v1 with an object": (lambda m: (m.update(schema_version=1), _act(1, {"kind": "none"})(m)),
                          "is not one of"),
    "v2 with a string": (_act(0, "relu"), "activation must be an object"),
    "unknown kind": (_act(0, {"kind": "gelu"}), "'gelu' is not one of none, relu, clamp, leaky"),
    "unknown parameter": (_act(0, {"kind": "relu", "slope": 1}), "activation must be an object"),
    "clamp without hi": (_act(0, {"kind": "clamp", "lo": 0}), "needs both"),
    "clamp lo > hi": (_act(0, {"kind": "clamp", "lo": 9, "hi": 2}), "lo < hi"),
    "clamp outside format": (_act(0, {"kind": "clamp", "lo": 0, "hi": 300}), "leave the output format u8.4"),
    "clamp float bound": (_act(0, {"kind": "clamp", "lo": 0.5, "hi": 9}), "lo = 0.5 is not an integer"),
    "leaky shift 0": (_act(1, {"kind": "leaky", "shift": 0}), "must be 1..16"),
    "leaky on unsigned": (_act(0, {"kind": "leaky", "shift": 1}),
                          "LeakyReLU output must use a signed format"),
    "version 3": (lambda m: m.update(schema_version=3),
                  "schema version 3 is not supported (this zerogate reads versions 1, 2); re-export with "
                  "zerogate compress"),
    "version 2.0": (lambda m: m.update(schema_version=2.0), "schema version 2.0 is not supported"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_activation_entries_are_refused(case: str, small_net: ir.Network, tmp_path: Path) -> None:
    edit, match = BAD[case]
    ir.save(small_net, tmp_path / "m")
    _edit(tmp_path / "m", edit)
    with pytest.raises(IRError) as e:
        ir.load(tmp_path / "m")
    msg = str(e.value)
    assert match in msg and "\n" not in msg and ";" in msg  # a fix after the ';'


def test_network_refuses_inconsistent_activation(small_net: ir.Network) -> None:
    fc0, fc1 = small_net.layers
    assert fc0.output == FixedFormat(8, 4, False)
    with pytest.raises(IRError, match="clamp bounds"):
        dataclasses.replace(small_net, layers=(dataclasses.replace(fc0, activation=Activation.clamp(-1, 5)),
                                               fc1))
