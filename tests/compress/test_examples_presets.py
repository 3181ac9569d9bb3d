"""The shipped run configs and presets stay loadable, and each example equals its preset."""

from dataclasses import asdict
from pathlib import Path

import pytest

from compress.methods.presets import MEASURED, PRESETS
from compress.runconfig import load_run_config, params_classes

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.toml"))
#: example file -> the preset it reproduces
SAME_AS = {"cnn_taylor.toml": "taylor-digits-cnn", "cnn_wide_taylor.toml": "taylor-digits-cnn-wide"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_load(path: Path) -> None:
    cfg = load_run_config(path)
    assert cfg.method in params_classes()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_measured(name: str) -> None:
    method, model, table = PRESETS[name]
    params = params_classes()[method].from_dict(table)
    assert name in MEASURED and 0 < MEASURED[name]["accuracy"] <= 1
    assert all(getattr(params, k) == v for k, v in table.items())


@pytest.mark.parametrize("example, preset", sorted(SAME_AS.items()))
def test_examples_match_their_presets(example: str, preset: str) -> None:
    cfg = load_run_config(Path(__file__).parents[2] / "examples" / example)
    method, model, table = PRESETS[preset]
    assert (cfg.method, cfg.model) == (method, model)
    want = asdict(params_classes()[method].from_dict(table))
    assert asdict(cfg.params) == want
