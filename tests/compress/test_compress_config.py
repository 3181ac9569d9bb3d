"""Config validation: every bad value is a one-line ConfigError; the config is torch-free."""

import subprocess
import sys

import pytest

from compress.config import DigitsMLPConfig
from zerogate.errors import ConfigError


def test_defaults_are_valid_and_meet_the_target_shape() -> None:
    cfg = DigitsMLPConfig()
    assert cfg.hidden == (32,)
    assert cfg.weight_bits <= 8
    assert cfg.target_sparsity >= 0.8


@pytest.mark.parametrize(
    "kw",
    [
        {"weight_bits": 1},
        {"weight_bits": 9},
        {"weight_bits": 6.0},
        {"act_bits": 1},
        {"act_bits": 17},
        {"output_bits": 0},
        {"target_sparsity": 1.0},
        {"target_sparsity": -0.1},
        {"target_sparsity": float("nan")},
        {"target_sparsity": "0.5"},
        {"float_epochs": 0},
        {"prune_epochs": -1},
        {"qat_epochs": 0},
        {"prune_steps": 0},
        {"batch_size": 0},
        {"hidden": ()},
        {"hidden": [32]},
        {"hidden": (32, 0)},
        {"lr": 0.0},
        {"qat_lr": -1e-3},
        {"distill": 1.5},
        {"temperature": 0},
        {"test_fraction": 0.0},
        {"prune_scope": "row"},
        {"seed": -1},
        {"seed": True},
    ],
)
def test_bad_values_raise_config_error(kw: dict) -> None:
    with pytest.raises(ConfigError) as e:
        DigitsMLPConfig(**kw)
    msg = str(e.value)
    assert "\n" not in msg and next(iter(kw)).split("[")[0] in msg


def test_config_and_data_import_without_torch() -> None:
    code = "import sys, compress, compress.config, compress.data; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
