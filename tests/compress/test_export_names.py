"""Export gives the IR identifiers whatever the model is called (the IR refuses anything else)."""

from pathlib import Path

import pytest

from compress.export import export_net
from tests.compress.test_export_net import random_qnet
from zerogate import ir


@pytest.mark.parametrize("name, want", [("digits-mlp", "digits_mlp"), ("features.0", "features_0"),
                                        ("2d net\n", "n_2d_net_"), ("x" * 100, "x" * 64)])
def test_export_makes_the_network_name_an_identifier(name: str, want: str, tmp_path: Path) -> None:
    net = export_net(random_qnet(1, "max", 0), name)
    assert net.name == want
    assert all(ir.check_identifier(n.name, "layer name") for n in net.layers)
    assert ir.load(ir.save(net, tmp_path / "ir")).name == want
